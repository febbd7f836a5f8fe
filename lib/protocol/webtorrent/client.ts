/**
 * WebTorrent tracker codec, the client's half, for tests and the load
 * generator: `encodeAnnounceRequest`, `encodeAnswerRequest`,
 * `encodeScrapeRequest`, and `parseWtServerMessage` (never throws). The
 * tracker's half, with the wire rules, is server.ts.
 */
import type { AnnounceEvent } from '../../tracker/events.js';
import { isId, isObject, own, parseObject, readSdp, sdpJson, type WtSdp } from './json.js';
import type { WtScrapeStats } from './server.js';

const q = JSON.stringify as (s: string) => string;

// ---------------------------------------------------------------- encode

/** A JSON number, or null for NaN/Infinity (what JSON.stringify does). */
function jsonNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : 'null';
}

const EVENT_NAMES: readonly (string | undefined)[] = [undefined, 'completed', 'started', 'stopped'];

export interface WtOfferOut {
  readonly offerId: string;
  readonly offer: WtSdp;
}

export interface WtAnnounceRequestParams {
  readonly infoHash: string;
  readonly peerId: string;
  /** None (the default) omits `event`, like the reference client's update(). */
  readonly event?: AnnounceEvent;
  /** Omitted when undefined; null is sent as null (metadata not known yet). */
  readonly left?: number | null;
  /** Default 0 (always sent, like the reference client). */
  readonly uploaded?: number;
  /** Default 0. */
  readonly downloaded?: number;
  /** Omitted when undefined. */
  readonly numwant?: number;
  /** Omitted when undefined. */
  readonly offers?: readonly WtOfferOut[];
  /** Sent as `trackerid` when given. */
  readonly trackerId?: string;
}

/** An announce as the reference client sends it (numbers are sent as given; NaN/Infinity become null). */
export function encodeAnnounceRequest(p: WtAnnounceRequestParams): string {
  let s =
    '{"action":"announce","info_hash":' + q(p.infoHash) +
    ',"peer_id":' + q(p.peerId) +
    ',"uploaded":' + jsonNumber(p.uploaded ?? 0) +
    ',"downloaded":' + jsonNumber(p.downloaded ?? 0);
  if (p.left !== undefined) s += ',"left":' + (p.left === null ? 'null' : jsonNumber(p.left));
  const eventName = p.event === undefined ? undefined : EVENT_NAMES[p.event];
  if (eventName !== undefined) s += ',"event":"' + eventName + '"';
  if (p.numwant !== undefined) s += ',"numwant":' + jsonNumber(p.numwant);
  if (p.offers !== undefined) {
    s += ',"offers":[';
    for (let i = 0; i < p.offers.length; i++) {
      const o = p.offers[i];
      s += (i === 0 ? '' : ',') + '{"offer":' + sdpJson(o.offer) + ',"offer_id":' + q(o.offerId) + '}';
    }
    s += ']';
  }
  if (p.trackerId !== undefined) s += ',"trackerid":' + q(p.trackerId);
  return s + '}';
}

export interface WtAnswerRequestParams {
  readonly infoHash: string;
  /** The answerer (the sender). */
  readonly peerId: string;
  /** The offerer. */
  readonly toPeerId: string;
  readonly offerId: string;
  readonly answer: WtSdp;
  readonly trackerId?: string;
}

/** The reference client's answer message: `{action, info_hash, peer_id, to_peer_id, answer, offer_id}`. */
export function encodeAnswerRequest(p: WtAnswerRequestParams): string {
  let s =
    '{"action":"announce","info_hash":' + q(p.infoHash) +
    ',"peer_id":' + q(p.peerId) +
    ',"to_peer_id":' + q(p.toPeerId) +
    ',"answer":' + sdpJson(p.answer) +
    ',"offer_id":' + q(p.offerId);
  if (p.trackerId !== undefined) s += ',"trackerid":' + q(p.trackerId);
  return s + '}';
}

/** `{"action":"scrape","info_hash":<hash or [hashes]>}`: a single string is sent as a string, an array as an array. */
export function encodeScrapeRequest(infoHashes: string | readonly string[]): string {
  if (typeof infoHashes === 'string') return '{"action":"scrape","info_hash":' + q(infoHashes) + '}';
  let s = '{"action":"scrape","info_hash":[';
  for (let i = 0; i < infoHashes.length; i++) s += (i === 0 ? '' : ',') + q(infoHashes[i]);
  return s + ']}';
}

// ---------------------------------------------------------------- parse

export interface WtAnnounceReplyDecoded {
  readonly type: 'announce';
  readonly infoHash: string;
  readonly interval: number;
  readonly complete: number;
  readonly incomplete: number;
  /** `warning message`, or undefined (always an own property). */
  readonly warning?: string;
}

export interface WtOfferDecoded {
  readonly type: 'offer';
  readonly infoHash: string;
  /** The offerer. */
  readonly peerId: string;
  readonly offerId: string;
  readonly offer: WtSdp;
}

export interface WtAnswerDecoded {
  readonly type: 'answer';
  readonly infoHash: string;
  /** The answerer. */
  readonly peerId: string;
  readonly offerId: string;
  readonly answer: WtSdp;
}

export interface WtScrapeReplyDecoded {
  readonly type: 'scrape';
  /** Keyed by 20-char binary info-hash. */
  readonly files: Map<string, WtScrapeStats>;
}

export interface WtFailureDecoded {
  readonly type: 'failure';
  readonly reason: string;
  /** Own properties, undefined when the frame had no valid action / info_hash. */
  readonly action?: 'announce' | 'scrape';
  readonly infoHash?: string;
}

export type WtServerMessage =
  | WtAnnounceReplyDecoded
  | WtOfferDecoded
  | WtAnswerDecoded
  | WtScrapeReplyDecoded
  | WtFailureDecoded
  | { readonly type: 'invalid'; readonly reason: string };

function clientInvalid(reason: string): { readonly type: 'invalid'; readonly reason: string } {
  return { type: 'invalid', reason };
}

/** Optional non-negative number (any finite value; missing/null -> 0), or -1. */
function replyNumber(v: unknown): number {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' && v >= 0 ? v : -1;
}

function parseScrapeStats(v: unknown): WtScrapeStats | null {
  if (!isObject(v)) return null;
  const complete = replyNumber(own(v, 'complete'));
  const incomplete = replyNumber(own(v, 'incomplete'));
  const downloaded = replyNumber(own(v, 'downloaded'));
  if (complete < 0 || incomplete < 0 || downloaded < 0) return null;
  return { complete, incomplete, downloaded };
}

/**
 * Decode one server frame as a client. Never throws. A `failure reason`
 * wins over everything else; an announce frame is an offer if it carries
 * `offer`, an answer if it carries `answer`, otherwise an announce reply
 * (which needs `interval`).
 */
export function parseWtServerMessage(text: string): WtServerMessage {
  const m = parseObject(text);
  if (m === null) return clientInvalid('not a JSON object');
  const rawAction = own(m, 'action');
  const action = rawAction === 'announce' || rawAction === 'scrape' ? rawAction : undefined;

  const failure = own(m, 'failure reason');
  if (failure !== undefined) {
    if (typeof failure !== 'string') return clientInvalid('invalid failure reason');
    const infoHash = own(m, 'info_hash');
    return { type: 'failure', reason: failure, action, infoHash: isId(infoHash) ? infoHash : undefined };
  }

  if (action === 'scrape') {
    const files = own(m, 'files');
    if (!isObject(files)) return clientInvalid('missing files');
    const out = new Map<string, WtScrapeStats>();
    for (const hash of Object.keys(files)) {
      if (!isId(hash)) return clientInvalid('invalid info_hash in files');
      const stats = parseScrapeStats(files[hash]);
      if (stats === null) return clientInvalid('invalid file entry');
      out.set(hash, stats);
    }
    return { type: 'scrape', files: out };
  }
  if (action !== 'announce') return clientInvalid('invalid action');

  const infoHash = own(m, 'info_hash');
  if (!isId(infoHash)) return clientInvalid('invalid info_hash');
  const rawOffer = own(m, 'offer');
  const rawAnswer = own(m, 'answer');
  if (rawOffer !== undefined || rawAnswer !== undefined) {
    const peerId = own(m, 'peer_id');
    if (!isId(peerId)) return clientInvalid('invalid peer_id');
    const offerId = own(m, 'offer_id');
    if (!isId(offerId)) return clientInvalid('invalid offer_id');
    if (rawOffer !== undefined) {
      if (rawAnswer !== undefined) return clientInvalid('both offer and answer');
      const offer = readSdp(rawOffer, 'offer');
      if (offer === null) return clientInvalid('invalid offer');
      return { type: 'offer', infoHash, peerId, offerId, offer };
    }
    const answer = readSdp(rawAnswer, 'answer');
    if (answer === null) return clientInvalid('invalid answer');
    return { type: 'answer', infoHash, peerId, offerId, answer };
  }

  const interval = own(m, 'interval');
  if (typeof interval !== 'number' || interval < 0) return clientInvalid('invalid interval');
  const complete = replyNumber(own(m, 'complete'));
  const incomplete = replyNumber(own(m, 'incomplete'));
  if (complete < 0 || incomplete < 0) return clientInvalid('invalid counts');
  const warning = own(m, 'warning message');
  if (warning !== undefined && typeof warning !== 'string') return clientInvalid('invalid warning message');
  return { type: 'announce', infoHash, interval, complete, incomplete, warning };
}
