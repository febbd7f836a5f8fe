/**
 * WebTorrent tracker codec: JSON text frames over WebSocket, as spoken by the
 * `bittorrent-tracker` client (lib/client/websocket-tracker.js) and by
 * aquatic_ws. No sockets, no module state observable by callers.
 *
 * This is the tracker's half:
 * - `parseWtMessage` takes one text frame (already UTF-8 decoded; a frame that
 *   is not valid UTF-8 decodes to U+FFFD, which no id accepts) and returns a
 *   discriminated union. It never throws.
 * - `encodeAnnounceReply`, `encodeOffer`, `encodeAnswer`, `encodeScrapeReply`,
 *   `encodeWtFailure` return the JSON text to send.
 *
 * The client's half (tests, load generator) is client.ts; what both halves
 * read and write the same way is json.ts.
 *
 * Wire representation: info_hash, peer_id, offer_id and to_peer_id are
 * 20-character "binary strings" (each char code 0..255 is one byte, i.e.
 * latin1), exactly the representation the swarm uses as Map keys. JSON.parse
 * gives them to us as such and JSON.stringify escapes the control chars,
 * quote and backslash; chars 0x7F..0xFF travel raw (UTF-8 encoded by the
 * WebSocket layer), which is what the reference client sends and expects.
 *
 * Parsing rules (documented decisions, strict like aquatic_ws):
 * - The frame must be a JSON object. Only own properties are read (a
 *   `__proto__` key, or anything on Object.prototype, never matters); unknown
 *   keys (trackerid, compact, ...) are not validated, only offered to hooks
 *   through an announce's `params`.
 * - Ids must be strings of exactly 20 chars, each <= 0xFF.
 * - `left`, `uploaded`, `downloaded`: JSON null or missing, or an integer >= 0
 *   (values above Number.MAX_SAFE_INTEGER clamp to it). A null/missing `left`
 *   means "unknown" (a magnet link without metadata: JS serialises the client's
 *   NaN as null) and is reported as `left: null`, to be treated as a leecher.
 *   uploaded/downloaded default to 0. Negative or fractional numbers, strings
 *   and other types are invalid.
 * - `numwant`: null/missing -> 0 ("the default"); otherwise an integer,
 *   negatives mean 0.
 * - `event`: "started" | "completed" | "stopped"; missing, null, "", "update"
 *   and "paused" mean none; anything else is invalid.
 * - `offers`: null/missing -> []; otherwise an array whose first `maxOffers`
 *   items must each be {offer_id: <binary 20>, offer: {type: "offer", sdp:
 *   <string>}}. Items beyond the limit are dropped unexamined and reported as
 *   `offersTruncated`. Extra keys inside an offer are dropped (only type and
 *   sdp are ever relayed).
 * - An answer is present when `answer` is present and not null; it then needs
 *   `to_peer_id` and `offer_id` (binary 20) and `answer` = {type: "answer",
 *   sdp: <string>}. `to_peer_id` / `offer_id` without `answer` are ignored.
 * - scrape `info_hash`: one binary string or an array of them (the first
 *   `maxScrapeHashes` are validated and kept, `truncated` reports the rest);
 *   null, missing or [] -> no hashes ("full scrape", which servers refuse).
 * - Any violation gives `{type: "invalid", reason}` with a client-safe reason,
 *   plus `action` once it is known and `infoHash` once it has been validated,
 *   so a server can address its failure reply (the reference client silently
 *   drops an announce failure whose info_hash is not one of its torrents, and
 *   treats a reply without a known `action` as a socket error: it disconnects
 *   and reconnects with back-off).
 * - Results always carry their optional keys as own properties (undefined
 *   when absent): one object shape per result type, and a consumer's
 *   `r.answer` never falls through to a polluted Object.prototype.
 * - Not deduplicated: repeated offer_ids in one announce, repeated scrape
 *   hashes (the reply encoder keeps the first of each).
 *
 * Costs: JSON.parse dominates (about 9 us for a 3.6 KB announce with five
 * offers; the validation adds well under 1 us). Allocation-heavy JSON such as
 * deep nesting costs 20..100 ns per char against ~3 ns for ordinary frames,
 * so the frame size cap applied before parsing (aquatic_ws uses 64 KiB) is
 * what bounds the work per frame; parsing stays safe (no throw, no
 * recursion of ours) at any size.
 */
import { AnnounceEvent } from '../../tracker/events.js';
import { NO_PARAMS, type RequestParams } from '../../tracker/params.js';
import { isId, isObject, own, parseObject, readSdp, sdpJson, type JsonObject, type WtSdp } from './json.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------- types

export interface WtOfferIn {
  /** 20-char binary string chosen by the offerer. */
  readonly offerId: string;
  readonly offer: WtSdp;
}

export interface WtAnswerIn {
  /** The offerer this answer is for (20-char binary string). */
  readonly toPeerId: string;
  /** The offer this answers (20-char binary string). */
  readonly offerId: string;
  readonly answer: WtSdp;
}

export interface WtAnnounceMessage {
  readonly type: 'announce';
  /** 20-char binary string. */
  readonly infoHash: string;
  /** 20-char binary string. */
  readonly peerId: string;
  readonly event: AnnounceEvent;
  /** Bytes left; null when the client does not know yet (treat as a leecher). */
  readonly left: number | null;
  readonly uploaded: number;
  readonly downloaded: number;
  /** >= 0; 0 means "the default". The reference client sends offers.length. */
  readonly numwant: number;
  /** At most `limits.maxOffers`, in message order; may be empty. */
  readonly offers: WtOfferIn[];
  /** True when the message carried more than `limits.maxOffers` offers. */
  readonly offersTruncated: boolean;
  /** Set when the message relays an answer to an earlier offer (an own property, undefined otherwise). */
  readonly answer?: WtAnswerIn;
  /** The message's keys not read here (WT_ANNOUNCE_KEYS), then the socket's path and query, for the edge's hooks. */
  readonly params: RequestParams;
}

export interface WtScrapeMessage {
  readonly type: 'scrape';
  /** 20-char binary strings, in message order, at most `limits.maxScrapeHashes`; empty = full scrape. */
  readonly infoHashes: string[];
  /** True when the message carried more than `limits.maxScrapeHashes` hashes. */
  readonly truncated: boolean;
}

export interface WtInvalidMessage {
  readonly type: 'invalid';
  /** Safe to send back to the client. */
  readonly reason: string;
  /** The message's action, when it was a known one (an own property, undefined otherwise). */
  readonly action?: 'announce' | 'scrape';
  /** The announce's info_hash, when it was valid (an own property, undefined otherwise). */
  readonly infoHash?: string;
}

export type WtInbound = WtAnnounceMessage | WtScrapeMessage | WtInvalidMessage;

export interface WtParseLimits {
  /** Offers kept per announce (the reference client sends at most 5, aquatic_ws allows 10). */
  readonly maxOffers: number;
  /** Info-hashes kept per scrape. */
  readonly maxScrapeHashes: number;
}

// ---------------------------------------------------------------- parse

/** The announce keys the tracker reads itself; hooks see the others. */
export const WT_ANNOUNCE_KEYS: ReadonlySet<string> = new Set([
  'action', 'info_hash', 'peer_id', 'event', 'left', 'uploaded', 'downloaded', 'numwant', 'offers', 'answer', 'to_peer_id', 'offer_id',
]);

/** A JSON value for a hook: a string as it is, anything else as JSON text. */
function paramText(v: unknown): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * An announce frame's own keys that are not WT_ANNOUNCE_KEYS, then its
 * socket's (the path and query of the upgrade request: a WebTorrent page
 * cannot add keys to the reference client's messages, but it chooses the
 * tracker URL). Read only when asked: the frame is already parsed, so this
 * view holds it and nothing more.
 */
class FrameParams implements RequestParams {
  constructor(
    private readonly frame: JsonObject,
    private readonly socket: RequestParams,
  ) {}

  get path(): string {
    return this.socket.path;
  }

  get(name: string): string | undefined {
    return (WT_ANNOUNCE_KEYS.has(name) ? undefined : paramText(own(this.frame, name))) ?? this.socket.get(name);
  }

  entries(): [string, string][] {
    const out: [string, string][] = [];
    for (const key of Object.keys(this.frame)) if (!WT_ANNOUNCE_KEYS.has(key)) out.push([key, paramText(this.frame[key])!]);
    return out.concat(this.socket.entries());
  }
}

/** Integer >= 0 (clamped to MAX_SAFE), or -1 for anything else. JSON numbers are always finite. */
function count(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return -1;
  return v > MAX_SAFE ? MAX_SAFE : v + 0; // + 0 turns -0 into 0
}


/** Always all four keys as own properties (see "Results" in the header). */
function invalid(reason: string, action?: 'announce' | 'scrape', infoHash?: string): WtInvalidMessage {
  return { type: 'invalid', reason, action, infoHash };
}

function eventOf(v: unknown): AnnounceEvent | -1 {
  if (v === undefined || v === null) return AnnounceEvent.None;
  switch (v) {
    case 'started':
      return AnnounceEvent.Started;
    case 'completed':
      return AnnounceEvent.Completed;
    case 'stopped':
      return AnnounceEvent.Stopped;
    case 'update':
    case 'paused':
    case '':
      return AnnounceEvent.None;
    default:
      return -1;
  }
}

/** Optional counter: null/missing -> `missing`; a valid count; or -1. */
function optionalCount(v: unknown, missing: number): number {
  return v === undefined || v === null ? missing : count(v);
}

function parseAnnounce(m: JsonObject, limits: WtParseLimits, socket: RequestParams): WtInbound {
  const infoHash = own(m, 'info_hash');
  if (!isId(infoHash)) return invalid('invalid info_hash', 'announce');
  const peerId = own(m, 'peer_id');
  if (!isId(peerId)) return invalid('invalid peer_id', 'announce', infoHash);

  const event = eventOf(own(m, 'event'));
  if (event === -1) return invalid('invalid event', 'announce', infoHash);

  const rawLeft = own(m, 'left');
  let left: number | null = null;
  if (rawLeft !== undefined && rawLeft !== null) {
    left = count(rawLeft);
    if (left < 0) return invalid('invalid left', 'announce', infoHash);
  }
  const uploaded = optionalCount(own(m, 'uploaded'), 0);
  if (uploaded < 0) return invalid('invalid uploaded', 'announce', infoHash);
  const downloaded = optionalCount(own(m, 'downloaded'), 0);
  if (downloaded < 0) return invalid('invalid downloaded', 'announce', infoHash);

  const rawNumwant = own(m, 'numwant');
  let numwant = 0;
  if (rawNumwant !== undefined && rawNumwant !== null) {
    if (typeof rawNumwant !== 'number' || !Number.isInteger(rawNumwant)) {
      return invalid('invalid numwant', 'announce', infoHash);
    }
    numwant = rawNumwant > 0 ? (rawNumwant > MAX_SAFE ? MAX_SAFE : rawNumwant) : 0;
  }

  const rawOffers = own(m, 'offers');
  const offers: WtOfferIn[] = [];
  let offersTruncated = false;
  if (rawOffers !== undefined && rawOffers !== null) {
    if (!Array.isArray(rawOffers)) return invalid('invalid offers', 'announce', infoHash);
    const max = limits.maxOffers;
    let n = rawOffers.length;
    if (n > max) {
      offersTruncated = true;
      n = max > 0 ? Math.floor(max) : 0;
    }
    for (let i = 0; i < n; i++) {
      const item: unknown = rawOffers[i];
      if (!isObject(item)) return invalid('invalid offer', 'announce', infoHash);
      const offerId = own(item, 'offer_id');
      if (!isId(offerId)) return invalid('invalid offer_id', 'announce', infoHash);
      const offer = readSdp(own(item, 'offer'), 'offer');
      if (offer === null) return invalid('invalid offer', 'announce', infoHash);
      offers.push({ offerId, offer });
    }
  }

  const rawAnswer = own(m, 'answer');
  if (rawAnswer === undefined || rawAnswer === null) {
    return {
      type: 'announce', infoHash, peerId, event, left, uploaded, downloaded, numwant, offers, offersTruncated, answer: undefined,
      params: new FrameParams(m, socket),
    };
  }
  const answer = readSdp(rawAnswer, 'answer');
  if (answer === null) return invalid('invalid answer', 'announce', infoHash);
  const toPeerId = own(m, 'to_peer_id');
  if (!isId(toPeerId)) return invalid('invalid to_peer_id (required with answer)', 'announce', infoHash);
  const offerId = own(m, 'offer_id');
  if (!isId(offerId)) return invalid('invalid offer_id (required with answer)', 'announce', infoHash);
  return {
    type: 'announce',
    infoHash,
    peerId,
    event,
    left,
    uploaded,
    downloaded,
    numwant,
    offers,
    offersTruncated,
    answer: { toPeerId, offerId, answer },
    params: new FrameParams(m, socket),
  };
}

function parseScrape(m: JsonObject, limits: WtParseLimits): WtInbound {
  const raw = own(m, 'info_hash');
  if (raw === undefined || raw === null) return { type: 'scrape', infoHashes: [], truncated: false };
  if (typeof raw === 'string') {
    if (!isId(raw)) return invalid('invalid info_hash', 'scrape');
    return limits.maxScrapeHashes >= 1
      ? { type: 'scrape', infoHashes: [raw], truncated: false }
      : { type: 'scrape', infoHashes: [], truncated: true };
  }
  if (!Array.isArray(raw)) return invalid('invalid info_hash', 'scrape');
  const max = limits.maxScrapeHashes;
  let n = raw.length;
  let truncated = false;
  if (n > max) {
    truncated = true;
    n = max > 0 ? Math.floor(max) : 0;
  }
  const infoHashes: string[] = [];
  for (let i = 0; i < n; i++) {
    const h: unknown = raw[i];
    if (!isId(h)) return invalid('invalid info_hash', 'scrape');
    infoHashes.push(h);
  }
  return { type: 'scrape', infoHashes, truncated };
}

/**
 * Parse one client frame. `socket` is what the socket's upgrade request
 * carried (its path and query), which an announce's `params` fall back to.
 * Never throws.
 */
export function parseWtMessage(text: string, limits: WtParseLimits, socket: RequestParams = NO_PARAMS): WtInbound {
  const m = parseObject(text);
  if (m === null) return invalid('invalid message: expected a JSON object');
  const action = own(m, 'action');
  if (action === 'announce') return parseAnnounce(m, limits, socket);
  if (action === 'scrape') return parseScrape(m, limits);
  return invalid(action === undefined ? 'missing action' : 'invalid action');
}

// ---------------------------------------------------------------- encode

/** A non-negative integer for a JSON count field (NaN and negatives -> 0, fractions floored, clamped to MAX_SAFE). */
function wireCount(v: number): number {
  return v > 0 ? (v >= MAX_SAFE ? MAX_SAFE : Math.floor(v)) : 0;
}

const q = JSON.stringify as (s: string) => string;

export interface WtAnnounceReplyParams {
  readonly infoHash: string;
  /** Seconds. */
  readonly interval: number;
  /** Seeders. */
  readonly complete: number;
  /** Leechers. */
  readonly incomplete: number;
  /**
   * Optional `warning message`: the reference client emits it as a 'warning'
   * event and still processes the reply. (No separate warning frame: a
   * standalone one would behave exactly like encodeWtFailure with an action
   * and info_hash, which the client also reports as a warning.)
   */
  readonly warning?: string;
}

/** `{"action":"announce","interval":..,"info_hash":..,"complete":..,"incomplete":..}` (no peer list in WebTorrent). */
export function encodeAnnounceReply(p: WtAnnounceReplyParams): string {
  let s =
    '{"action":"announce","interval":' + wireCount(p.interval) +
    ',"info_hash":' + q(p.infoHash) +
    ',"complete":' + wireCount(p.complete) +
    ',"incomplete":' + wireCount(p.incomplete);
  if (p.warning !== undefined) s += ',"warning message":' + q(p.warning);
  return s + '}';
}

export interface WtOfferOutParams {
  readonly infoHash: string;
  /** The offerer. */
  readonly fromPeerId: string;
  readonly offerId: string;
  readonly offer: WtSdp;
}

/** An offer relayed to another peer of the swarm: `{"action":"announce","info_hash","peer_id":<offerer>,"offer_id","offer":{type,sdp}}`. */
export function encodeOffer(p: WtOfferOutParams): string {
  return (
    '{"action":"announce","info_hash":' + q(p.infoHash) +
    ',"peer_id":' + q(p.fromPeerId) +
    ',"offer_id":' + q(p.offerId) +
    ',"offer":' + sdpJson(p.offer) + '}'
  );
}

export interface WtAnswerOutParams {
  readonly infoHash: string;
  /** The answerer. */
  readonly fromPeerId: string;
  readonly offerId: string;
  readonly answer: WtSdp;
}

/** An answer relayed to the offerer: `{"action":"announce","info_hash","peer_id":<answerer>,"offer_id","answer":{type,sdp}}`. */
export function encodeAnswer(p: WtAnswerOutParams): string {
  return (
    '{"action":"announce","info_hash":' + q(p.infoHash) +
    ',"peer_id":' + q(p.fromPeerId) +
    ',"offer_id":' + q(p.offerId) +
    ',"answer":' + sdpJson(p.answer) + '}'
  );
}

export interface WtScrapeStats {
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded: number;
}

/**
 * `{"action":"scrape","files":{<hash>:{"complete","incomplete","downloaded"},..}}`,
 * in the given order; a repeated hash keeps its first entry (JSON keys must be unique).
 */
export function encodeScrapeReply(entries: readonly (readonly [infoHash: string, stats: WtScrapeStats])[]): string {
  let s = '{"action":"scrape","files":{';
  const seen = entries.length > 1 ? new Set<string>() : null;
  let first = true;
  for (let i = 0; i < entries.length; i++) {
    const [hash, st] = entries[i];
    if (seen !== null) {
      if (seen.has(hash)) continue;
      seen.add(hash);
    }
    s +=
      (first ? '' : ',') + q(hash) +
      ':{"complete":' + wireCount(st.complete) +
      ',"incomplete":' + wireCount(st.incomplete) +
      ',"downloaded":' + wireCount(st.downloaded) + '}';
    first = false;
  }
  return s + '}}';
}

export interface WtFailureContext {
  /**
   * Echo the request's action whenever it is known: the reference client
   * treats a frame without "announce"/"scrape" as a broken socket (it
   * disconnects and reconnects with back-off).
   */
  readonly action?: 'announce' | 'scrape';
  /** For announces: without the client's info_hash the reference client ignores the failure. */
  readonly infoHash?: string;
}

/** `{"failure reason":..,"action"?:..,"info_hash"?:..}`. */
export function encodeWtFailure(reason: string, ctx: WtFailureContext = {}): string {
  let s = '{"failure reason":' + q(reason);
  if (ctx.action !== undefined) s += ',"action":' + q(ctx.action);
  if (ctx.infoHash !== undefined) s += ',"info_hash":' + q(ctx.infoHash);
  return s + '}';
}
