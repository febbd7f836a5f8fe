/**
 * What both halves of the WebTorrent codec read and write the same way:
 * frames that must be JSON objects, own properties only, 20-char binary ids,
 * and relayed session descriptions (see server.ts for the rules).
 */
import { isLatin1 } from '../binary.js';

/** A WebRTC session description as relayed: only `type` and `sdp`. */
export interface WtSdp {
  /** "offer" in offers, "answer" in answers. */
  readonly type: string;
  readonly sdp: string;
}

export type JsonObject = { readonly [key: string]: unknown };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An own property only: never something inherited from (a possibly polluted) Object.prototype. */
export function own(o: JsonObject, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** A 20-char binary string (info_hash, peer_id, offer_id, to_peer_id). */
export function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length === 20 && isLatin1(v);
}

/**
 * Parse `text` as a JSON object, or return null. A first non-blank char other
 * than `{` is rejected before JSON.parse sees (and possibly builds) anything.
 */
export function parseObject(text: unknown): JsonObject | null {
  if (typeof text !== 'string') return null;
  let i = 0;
  let c = text.charCodeAt(0);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++i);
  if (c !== 0x7b) return null; // {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  return isObject(v) ? v : null;
}

/** {type: expectedType, sdp: string} as a fresh object with exactly those two keys, or null. */
export function readSdp(v: unknown, expectedType: 'offer' | 'answer'): WtSdp | null {
  if (!isObject(v)) return null;
  const sdp = own(v, 'sdp');
  if (typeof sdp !== 'string' || own(v, 'type') !== expectedType) return null;
  return { type: expectedType, sdp };
}

/** `{"type":..,"sdp":..}`. */
export function sdpJson(d: WtSdp): string {
  return '{"type":' + JSON.stringify(d.type) + ',"sdp":' + JSON.stringify(d.sdp) + '}';
}
