/**
 * WebTorrent (WebSocket) load loop for one worker thread, and that worker's
 * entry point (the runner starts this file as the worker for `ws` runs).
 *
 * The model (BENCHMARKS.md, "WebTorrent: many sockets, each announcing with
 * offers and answering the offers it receives"):
 * - `connections` WebSockets, each one WebTorrent client: one peer_id (the
 *   pool peer of its source address, see model.ts) hosting
 *   `torrentsPerConnection` distinct torrents drawn from the seeded
 *   popularity distribution (Zipf by default), each a seeder with
 *   probability `seederShare`. Connection c leaves from source address
 *   c mod sources (model.ts sourceAddress): with the default pool every
 *   connection has an address of its own, as browsers do.
 * - Each connection keeps `window` announces in flight (closed loop: a reply,
 *   a failure or a timeout frees the slot), walking its torrents round-robin;
 *   `intervalMs` > 0 pauses each slot that long after every reply (paced
 *   load). The first announce of a torrent on a connection says "started".
 *   Every announce carries `offers` WebRTC offers (fake SDPs of realistic
 *   size, `sdpMinBytes`..`sdpMaxBytes`, random 20-byte offer ids) and
 *   numwant = offers, like the reference client. Scrapes follow the model's
 *   announce:scrape ratio (one in flight per connection at most).
 * - Every offer the tracker relays to one of our peers is answered at once
 *   (to_peer_id = the offerer, same offer_id) unless `answer` is off; an
 *   answer relayed back to the peer that made the offer is matched by
 *   offer_id and its signalling round trip (announce sent -> answer
 *   received) is timed.
 *
 * Matching: an announce reply carries its info_hash and a connection has at
 * most one announce in flight per torrent, so replies find their request by
 * info_hash; a scrape reply matches the connection's one scrape in flight. A
 * failure reply naming "answer" / "offering peer" is counted against the
 * answers (trackers reply to an answer only when it fails), other failures
 * against the announce (by info_hash) or scrape in flight. A reply that
 * matches nothing (e.g. after its request timed out) counts as invalid.
 *
 * Costs kept low on purpose: client frames are sent with an all-zero mask
 * (ws then skips the masking pass; a server cannot tell), no
 * permessage-deflate, no UTF-8 validation of server frames.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { encodeScrapeRequest, parseWtServerMessage } from '../../lib/protocol/webtorrent/client.js';
import { LEECHER_LEFT, LoadModel, newPlannedRequest, sourceAddress, type LoadModelOptions, type PlannedRequest } from './model.js';
import { Sfc32, mix3 } from './rng.js';
import {
  LIVE_ANSWERS_IN,
  LIVE_OFFERS_IN,
  LatencyHistogram,
  WindowRecorder,
  zeroWsCounters,
  type WsCounters,
} from './stats.js';
import { LiveCounters, type FromWorker, type RunClock, type ToWorker, type WorkerResult } from './worker-types.js';

export interface WsLoopOptions {
  readonly host: string;
  readonly port: number;
  /** Request path of the WebSocket URL ("/" or e.g. "/announce"). */
  readonly path: string;
  /** Connections run by this worker. */
  readonly connections: number;
  readonly firstConnection: number;
  /** Announces in flight per connection. */
  readonly window: number;
  readonly torrentsPerConnection: number;
  /** Offers per announce (0 = none). */
  readonly offers: number;
  readonly sdpMinBytes: number;
  readonly sdpMaxBytes: number;
  /** Pause of a slot after each reply before its next announce (0 = at once). */
  readonly intervalMs: number;
  /** Answer the offers received. */
  readonly answer: boolean;
  /** An announce or scrape without a reply after this long is lost. */
  readonly timeoutMs: number;
}

export interface WsWorkerJob {
  readonly protocol: 'ws';
  readonly worker: number;
  readonly live: SharedArrayBuffer;
  readonly model: LoadModelOptions;
  readonly ws: WsLoopOptions;
}

export interface WsWorkerResult extends WorkerResult {
  readonly ws: { counters: WsCounters; signalling: { counts: number[]; count: number; sum: number; max: number } };
}

const now = (): number => performance.timeOrigin + performance.now();

/** Pause before reopening a connection that closed or failed. */
const REOPEN_DELAY_MS = 250;
/** Our offers are remembered this long for matching answers (also bounded by OFFERS_REMEMBERED). */
const OFFER_MEMORY_MS = 30_000;
const OFFERS_REMEMBERED = 4096;
/** Distinct SDPs per worker (offers and answers each). */
const SDP_POOL = 32;

const ANSWER_FAILURE = /answer|offering peer/i;

// ---------------------------------------------------------------- fake SDPs

const HEXU = '0123456789ABCDEF';
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/';

function randomText(rng: Sfc32, n: number, alphabet: string): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[rng.below(alphabet.length)];
  return s;
}

/**
 * A WebRTC data-channel session description like the ones browsers put in
 * WebTorrent offers and answers (ICE gathering finished, so candidates are
 * inline): a fixed part of ~560 bytes, then host / srflx candidate lines
 * until the size reaches `bytes` (one line may overshoot by < 110 bytes).
 */
export function fakeSdp(rng: Sfc32, type: 'offer' | 'answer', bytes: number): string {
  const fp: string[] = [];
  for (let i = 0; i < 32; i++) fp.push(HEXU[rng.below(16)] + HEXU[rng.below(16)]);
  const head =
    'v=0\r\n' +
    `o=- ${1_000_000_000 + rng.below(2_000_000_000)}${rng.below(1_000_000_000)} 2 IN IP4 127.0.0.1\r\n` +
    's=-\r\n' +
    't=0 0\r\n' +
    'a=group:BUNDLE 0\r\n' +
    'a=extmap-allow-mixed\r\n' +
    'a=msid-semantic: WMS\r\n' +
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n' +
    'c=IN IP4 0.0.0.0\r\n';
  const tail =
    `a=ice-ufrag:${randomText(rng, 4, ALNUM)}\r\n` +
    `a=ice-pwd:${randomText(rng, 24, ALNUM)}\r\n` +
    'a=ice-options:trickle\r\n' +
    `a=fingerprint:sha-256 ${fp.join(':')}\r\n` +
    `a=setup:${type === 'offer' ? 'actpass' : 'active'}\r\n` +
    'a=mid:0\r\n' +
    'a=sctp-port:5000\r\n' +
    'a=max-message-size:262144\r\n';
  let candidates = '';
  let n = 0;
  while (head.length + candidates.length + tail.length < bytes) {
    const foundation = 1_000_000_000 + rng.below(3_000_000_000);
    const port = 49152 + rng.below(16384);
    const srflx = n % 2 === 1;
    const ip = srflx
      ? `203.0.113.${1 + rng.below(254)}`
      : `192.168.${rng.below(256)}.${1 + rng.below(254)}`;
    candidates +=
      `a=candidate:${foundation} 1 udp ${srflx ? 1686052607 : 2122260223} ${ip} ${port} typ ${srflx ? 'srflx raddr 0.0.0.0 rport 0' : 'host'}` +
      ` generation 0 network-id ${1 + (n >> 1)}\r\n`;
    n++;
  }
  return head + candidates + tail;
}

export function sdpPool(seed: number, worker: number, type: 'offer' | 'answer', minBytes: number, maxBytes: number): string[] {
  const rng = new Sfc32(seed, 0x5d90_0000 + worker * 2 + (type === 'offer' ? 0 : 1));
  const out: string[] = [];
  for (let i = 0; i < SDP_POOL; i++) out.push(fakeSdp(rng, type, minBytes + rng.below(maxBytes - minBytes + 1)));
  return out;
}

// ---------------------------------------------------------------- client frames, pre-encoded

const q = JSON.stringify as (s: string) => string;

/**
 * `{"type":"offer","sdp":...}` / answer as JSON text, once per SDP (escaping
 * a 1 KB SDP on every message was a tenth of the generator's time).
 */
export function sdpJsonPool(type: 'offer' | 'answer', sdps: readonly string[]): string[] {
  return sdps.map((sdp) => '{"type":"' + type + '","sdp":' + q(sdp) + '}');
}

/**
 * The announce encodeAnnounceRequest (lib/protocol/webtorrent/client.ts) would send
 * for { infoHash, peerId, uploaded 0, downloaded 0, left, event, numwant =
 * offers, offers }, built from pre-encoded JSON pieces; the unit tests check
 * that both give the same text.
 */
export function announceFrame(
  infoHashJson: string,
  peerIdJson: string,
  left: number,
  started: boolean,
  offerIdsJson: readonly string[],
  offerSdpJson: readonly string[],
): string {
  let s =
    '{"action":"announce","info_hash":' + infoHashJson +
    ',"peer_id":' + peerIdJson +
    ',"uploaded":0,"downloaded":0,"left":' + left +
    (started ? ',"event":"started"' : '') +
    ',"numwant":' + offerIdsJson.length +
    ',"offers":[';
  for (let i = 0; i < offerIdsJson.length; i++) {
    s += (i === 0 ? '{"offer":' : ',{"offer":') + offerSdpJson[i] + ',"offer_id":' + offerIdsJson[i] + '}';
  }
  return s + ']}';
}

/** encodeAnswerRequest's text, from JSON pieces (ids as JSON string literals). */
export function answerFrame(infoHashJson: string, peerIdJson: string, toPeerIdJson: string, answerSdpJson: string, offerIdJson: string): string {
  return (
    '{"action":"announce","info_hash":' + infoHashJson +
    ',"peer_id":' + peerIdJson +
    ',"to_peer_id":' + toPeerIdJson +
    ',"answer":' + answerSdpJson +
    ',"offer_id":' + offerIdJson + '}'
  );
}

// ---------------------------------------------------------------- relayed frames, scanned

/** A relayed offer or answer: its ids as the JSON string literals found in the frame. */
export interface ScannedRelay {
  readonly kind: 'offer' | 'answer';
  readonly infoHashJson: string;
  readonly peerIdJson: string;
  readonly offerIdJson: string;
}

export const OFFER_KEY = Buffer.from('"offer":{');
export const ANSWER_KEY = Buffer.from('"answer":{');
export const INFO_HASH_KEY = Buffer.from('"info_hash":');
export const PEER_ID_KEY = Buffer.from('"peer_id":');
export const OFFER_ID_KEY = Buffer.from('"offer_id":');

/** End (exclusive) of the JSON string literal starting at `start` (a quote), or -1. */
export function literalEnd(b: Uint8Array, start: number): number {
  if (b[start] !== 0x22) return -1;
  for (let j = start + 1; j < b.length; j++) {
    const c = b[j];
    if (c === 0x5c) j++;
    else if (c === 0x22) return j + 1;
  }
  return -1;
}

/** End (exclusive) of the JSON object starting at `start` (a brace), strings skipped, or -1. */
export function objectEnd(b: Uint8Array, start: number): number {
  if (b[start] !== 0x7b) return -1;
  let depth = 0;
  for (let j = start; j < b.length; j++) {
    const c = b[j];
    if (c === 0x22) {
      const e = literalEnd(b, j);
      if (e < 0) return -1;
      j = e - 1;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return j + 1;
    }
  }
  return -1;
}

/** [start, end) of the JSON string literal right after `key` (e.g. `"peer_id":`) at or after `from`, or null. */
export function literalRange(b: Buffer, key: Buffer, from = 0): [number, number] | null {
  const k = b.indexOf(key, from);
  if (k < 0) return null;
  const start = k + key.length;
  const end = literalEnd(b, start);
  return end < 0 ? null : [start, end];
}

function literalAfter(b: Buffer, key: Buffer): string | null {
  const r = literalRange(b, key);
  return r === null ? null : b.toString('utf8', r[0], r[1]);
}

/**
 * Offers and answers (90% of what a generator receives, ~1.2 KB each) are
 * scanned rather than decoded and parsed: a key pattern like `"offer":{`
 * cannot occur inside a JSON string (its quotes would be escaped there), so
 * finding it, and the literals after `"info_hash":`, `"peer_id":` and
 * `"offer_id":`, identifies the frame whatever the key order. Anything else
 * (replies, failures, frames with neither key, missing ids) returns null
 * and goes through the full parser (parseWtServerMessage). The SDP is not
 * looked at.
 */
export function scanRelayed(b: Buffer): ScannedRelay | null {
  // (A frame with both keys is invalid; it is taken for an offer here.)
  const offer = b.indexOf(OFFER_KEY) >= 0;
  if (!offer && b.indexOf(ANSWER_KEY) < 0) return null;
  const infoHashJson = literalAfter(b, INFO_HASH_KEY);
  const peerIdJson = literalAfter(b, PEER_ID_KEY);
  const offerIdJson = literalAfter(b, OFFER_ID_KEY);
  if (infoHashJson === null || peerIdJson === null || offerIdJson === null) return null;
  return { kind: offer ? 'offer' : 'answer', infoHashJson, peerIdJson, offerIdJson };
}

// ---------------------------------------------------------------- one connection

class WsFlow {
  ws: WebSocket | null = null;
  open = false;
  opened = 0;
  readonly source: number;
  readonly peerId: string;
  readonly rng: Sfc32;
  /** Torrent indices of this client, their hashes, and hash -> position. */
  readonly torrents: Int32Array;
  readonly hashes: string[] = [];
  readonly hashesJson: string[] = [];
  readonly peerIdJson: string;
  readonly position = new Map<string, number>();
  readonly seeder: Uint8Array;
  /** "started" already sent on the current socket. */
  readonly started: Uint8Array;
  /** Send time of the announce in flight for each torrent, 0 = none. */
  readonly sentAt: Float64Array;
  inFlight = 0;
  cursor = 0;
  scrapeSentAt = 0;
  /** Slots waiting out `intervalMs`. */
  paused = 0;
  reopenTimer: NodeJS.Timeout | undefined;
  readonly pauseTimers = new Set<NodeJS.Timeout>();
  /** Our offers awaiting an answer: offer_id -> time the announce carrying it was sent. */
  readonly offers = new Map<string, number>();
  readonly plan: PlannedRequest = newPlannedRequest();
  readonly offerIds: string[] = [];
  readonly offerSdps: string[] = [];
  /** Frames waiting for the end of this tick, sent in one corked write. */
  readonly out: string[] = [];
  flushQueued = false;
  readonly flushFn = (): void => this.flush();

  constructor(
    readonly loop: WsLoop,
    readonly index: number,
  ) {
    const m = loop.model;
    const o = m.options;
    this.source = index % o.sources;
    this.peerId = m.peerId(this.source, Math.floor(index / o.sources) % o.portsPerSource);
    this.peerIdJson = q(this.peerId);
    this.rng = new Sfc32(o.seed, 0x4000_0000 + index);
    const n = Math.min(loop.cfg.torrentsPerConnection, o.torrents);
    this.torrents = new Int32Array(n);
    this.seeder = new Uint8Array(n);
    this.started = new Uint8Array(n);
    this.sentAt = new Float64Array(n);
    const taken = new Set<number>();
    for (let i = 0; i < n; i++) {
      let t = m.sampler.sample(this.rng);
      for (let tries = 0; taken.has(t) && tries < 32; tries++) t = m.sampler.sample(this.rng);
      while (taken.has(t)) t = (t + 1) % o.torrents; // a hot head and a small torrent set: take the next free one
      taken.add(t);
      this.torrents[i] = t;
      this.hashes.push(m.hash(t));
      this.hashesJson.push(q(this.hashes[i]));
      this.position.set(this.hashes[i], i);
      this.seeder[i] = this.rng.next() < o.seederShare ? 1 : 0;
    }
  }

  connect(): Promise<void> {
    const loop = this.loop;
    if (this.opened++ > 0) {
      loop.count('reconnects', now());
      loop.countWs('reopened', now());
    }
    const ws = new WebSocket(loop.url, {
      localAddress: sourceAddress(loop.model.options, this.source),
      perMessageDeflate: false,
      skipUTF8Validation: true,
      generateMask: zeroMask,
      handshakeTimeout: 10_000,
      maxPayload: 16 * 1024 * 1024,
    });
    this.ws = ws;
    this.open = false;
    this.started.fill(0);
    return new Promise<void>((resolve) => {
      let settled = false;
      const settle = (): void => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      ws.on('open', () => {
        if (this.ws !== ws) return;
        this.open = true;
        settle();
        if (loop.running) this.fill();
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (this.ws !== ws) return;
        const relayed = isBinary ? null : scanRelayed(data);
        if (relayed !== null) this.onRelayed(relayed);
        else this.onMessage(isBinary ? '' : data.toString('utf8'));
      });
      ws.on('error', (e: NodeJS.ErrnoException) => {
        if (this.ws === ws && loop.running) {
          loop.count('socketErrors', now());
          loop.noteError(`socket: ${e.code ?? e.message}`);
        }
      });
      ws.on('close', (code: number) => {
        settle();
        if (this.ws !== ws) return;
        if (loop.running && this.open) {
          loop.count('socketErrors', now());
          loop.noteError(`closed by the server (${code})`);
        }
        this.onClosed();
      });
    });
  }

  /** The socket is gone: requests in flight are lost; reopen shortly. */
  onClosed(): void {
    const loop = this.loop;
    const t = now();
    this.ws = null;
    this.open = false;
    this.out.length = 0;
    for (let i = 0; i < this.sentAt.length; i++) {
      if (this.sentAt[i] > 0) {
        this.sentAt[i] = 0;
        loop.count('lost', t);
      }
    }
    if (this.scrapeSentAt > 0) {
      this.scrapeSentAt = 0;
      loop.count('lost', t);
    }
    this.inFlight = 0;
    this.offers.clear();
    for (const tm of this.pauseTimers) clearTimeout(tm);
    this.pauseTimers.clear();
    this.paused = 0;
    if (loop.running && !this.reopenTimer) {
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = undefined;
        if (loop.running) void this.connect();
      }, REOPEN_DELAY_MS);
    }
  }

  /**
   * Queue a frame; everything queued while handling one read goes out in a
   * single corked write at the end of the tick (one syscall instead of one
   * per frame: the reply, the next announce and the answers to a batch of
   * offers usually travel together).
   */
  send(text: string): void {
    this.out.push(text);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flushFn);
    }
  }

  flush(): void {
    this.flushQueued = false;
    const ws = this.ws;
    const out = this.out;
    if (ws === null || !this.open || out.length === 0) {
      out.length = 0;
      return;
    }
    const sock = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    sock?.cork();
    for (let i = 0; i < out.length; i++) ws.send(out[i]);
    sock?.uncork();
    out.length = 0;
  }

  /** Bring the requests in flight up to the window. */
  fill(): void {
    const w = this.loop.cfg.window;
    while (this.open && this.loop.running && this.inFlight + this.paused < w) {
      if (!this.sendNext()) break;
    }
  }

  /** Send one announce (or scrape); false when nothing could be sent. */
  sendNext(): boolean {
    const loop = this.loop;
    const m = loop.model;
    const p = m.plan(this.rng, this.plan);
    if (p.kind === 'scrape' && this.scrapeSentAt === 0) {
      const hashes: string[] = [];
      for (let i = 0; i < p.scrapeCount; i++) hashes.push(m.hash(p.scrapeTorrents[i]));
      const t = now();
      this.scrapeSentAt = t;
      this.inFlight++;
      this.send(encodeScrapeRequest(hashes));
      loop.sent(t);
      return true;
    }
    const count = this.sentAt.length;
    let i = -1;
    for (let k = 0; k < count; k++) {
      const c = (this.cursor + k) % count;
      if (this.sentAt[c] === 0) {
        i = c;
        break;
      }
    }
    if (i < 0) return false;
    this.cursor = (i + 1) % count;
    const n = loop.cfg.offers;
    const ids = this.offerIds;
    const sdps = this.offerSdps;
    ids.length = n;
    sdps.length = n;
    const t = now();
    for (let k = 0; k < n; k++) {
      const offerId = this.randomId();
      ids[k] = q(offerId);
      sdps[k] = loop.offerSdpJson[this.rng.below(loop.offerSdpJson.length)];
      this.rememberOffer(offerId, t);
    }
    const first = this.started[i] === 0;
    this.started[i] = 1;
    this.sentAt[i] = t;
    this.inFlight++;
    this.send(announceFrame(this.hashesJson[i], this.peerIdJson, this.seeder[i] ? 0 : LEECHER_LEFT, first, ids, sdps));
    loop.sent(t);
    loop.countWs('offersSent', t, n);
    return true;
  }

  /** 20 random bytes as a binary string, like the reference client's offer ids. */
  randomId(): string {
    const r = this.rng;
    const a = r.nextU32();
    const b = r.nextU32();
    const c = r.nextU32();
    const d = r.nextU32();
    const e = r.nextU32();
    return String.fromCharCode(
      a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255,
      b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255,
      c >>> 24, (c >>> 16) & 255, (c >>> 8) & 255, c & 255,
      d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255,
      e >>> 24, (e >>> 16) & 255, (e >>> 8) & 255, e & 255,
    );
  }

  rememberOffer(offerId: string, t: number): void {
    const offers = this.offers;
    offers.set(offerId, t);
    if (offers.size > OFFERS_REMEMBERED) offers.delete(offers.keys().next().value as string);
  }

  /** A slot is free again: refill now, or after the pause. */
  freed(): void {
    const interval = this.loop.cfg.intervalMs;
    if (interval <= 0) {
      this.fill();
      return;
    }
    this.paused++;
    const tm = setTimeout(() => {
      this.pauseTimers.delete(tm);
      this.paused--;
      this.fill();
    }, interval);
    this.pauseTimers.add(tm);
  }

  /** A scanned offer (answer it) or answer (match it to our offer). */
  onRelayed(r: ScannedRelay): void {
    const loop = this.loop;
    const t = now();
    if (r.kind === 'offer') {
      loop.countWs('offersReceived', t);
      if (!loop.cfg.answer || !this.open) return;
      this.send(answerFrame(r.infoHashJson, this.peerIdJson, r.peerIdJson, loop.answerSdpJson[this.rng.below(loop.answerSdpJson.length)], r.offerIdJson));
      loop.countWs('answersSent', t);
      return;
    }
    loop.countWs('answersReceived', t);
    let offerId: unknown;
    try {
      offerId = JSON.parse(r.offerIdJson);
    } catch {
      offerId = undefined;
    }
    const sentAt = typeof offerId === 'string' ? this.offers.get(offerId) : undefined;
    if (sentAt !== undefined) {
      this.offers.delete(offerId as string);
      loop.matched(t, (t - sentAt) * 1000);
    }
  }

  onMessage(text: string): void {
    const loop = this.loop;
    const t = now();
    const msg = parseWtServerMessage(text);
    switch (msg.type) {
      case 'announce': {
        const i = this.position.get(msg.infoHash) ?? -1;
        if (i < 0 || this.sentAt[i] === 0) {
          loop.count('invalid', t);
          loop.noteError('announce reply matching no announce in flight');
          return;
        }
        const latencyUs = (t - this.sentAt[i]) * 1000;
        this.sentAt[i] = 0;
        this.inFlight--;
        loop.reply('announces', t, latencyUs);
        this.freed();
        return;
      }
      case 'scrape': {
        if (this.scrapeSentAt === 0) {
          loop.count('invalid', t);
          loop.noteError('scrape reply matching no scrape in flight');
          return;
        }
        const latencyUs = (t - this.scrapeSentAt) * 1000;
        this.scrapeSentAt = 0;
        this.inFlight--;
        loop.reply('scrapes', t, latencyUs);
        this.freed();
        return;
      }
      case 'offer': {
        loop.countWs('offersReceived', t);
        if (!loop.cfg.answer || !this.open) return;
        const i = this.position.get(msg.infoHash) ?? -1;
        this.send(
          answerFrame(
            i >= 0 ? this.hashesJson[i] : q(msg.infoHash),
            this.peerIdJson,
            q(msg.peerId),
            loop.answerSdpJson[this.rng.below(loop.answerSdpJson.length)],
            q(msg.offerId),
          ),
        );
        loop.countWs('answersSent', t);
        return;
      }
      case 'answer': {
        loop.countWs('answersReceived', t);
        const sentAt = this.offers.get(msg.offerId);
        if (sentAt !== undefined) {
          this.offers.delete(msg.offerId);
          loop.matched(t, (t - sentAt) * 1000);
        }
        return;
      }
      case 'failure': {
        loop.noteError(msg.reason);
        if (ANSWER_FAILURE.test(msg.reason)) {
          loop.countWs('answerErrors', t);
          return;
        }
        loop.count('errors', t);
        if (msg.action === 'scrape' && this.scrapeSentAt > 0) {
          this.scrapeSentAt = 0;
          this.inFlight--;
          this.freed();
          return;
        }
        const i = msg.infoHash === undefined ? -1 : (this.position.get(msg.infoHash) ?? -1);
        if (i >= 0 && this.sentAt[i] > 0) {
          this.sentAt[i] = 0;
          this.inFlight--;
          this.freed();
        }
        return;
      }
      case 'invalid':
        loop.count('invalid', t);
        loop.noteError(`invalid: ${msg.reason}`);
        return;
    }
  }

  /** Time out requests; forget old offers. */
  sweep(t: number): void {
    const timeout = this.loop.cfg.timeoutMs;
    let freed = 0;
    for (let i = 0; i < this.sentAt.length; i++) {
      if (this.sentAt[i] > 0 && t - this.sentAt[i] > timeout) {
        this.sentAt[i] = 0;
        this.inFlight--;
        freed++;
        this.loop.count('lost', t);
      }
    }
    if (this.scrapeSentAt > 0 && t - this.scrapeSentAt > timeout) {
      this.scrapeSentAt = 0;
      this.inFlight--;
      freed++;
      this.loop.count('lost', t);
    }
    for (const [id, sentAt] of this.offers) {
      if (t - sentAt <= OFFER_MEMORY_MS) break;
      this.offers.delete(id);
    }
    if (freed > 0) this.fill();
  }

  close(): void {
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    for (const tm of this.pauseTimers) clearTimeout(tm);
    this.pauseTimers.clear();
    const ws = this.ws;
    this.ws = null;
    this.open = false;
    if (ws) ws.terminate();
  }
}

function zeroMask(mask: Buffer): void {
  mask[0] = 0;
  mask[1] = 0;
  mask[2] = 0;
  mask[3] = 0;
}

// ---------------------------------------------------------------- the loop

export class WsLoop extends WindowRecorder {
  readonly flows: WsFlow[] = [];
  running = false;
  readonly ws: WsCounters = zeroWsCounters();
  readonly signalling = new LatencyHistogram();
  readonly url: string;
  readonly offerSdpJson: string[];
  readonly answerSdpJson: string[];
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly cfg: WsLoopOptions,
    readonly model: LoadModel,
    live: LiveCounters,
    worker = 0,
  ) {
    super(live);
    const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
    this.url = `ws://${host}:${cfg.port}${cfg.path.startsWith('/') ? cfg.path : '/' + cfg.path}`;
    const seed = mix3(model.options.seed, worker, 0x5d9);
    this.offerSdpJson = sdpJsonPool('offer', sdpPool(seed, worker, 'offer', cfg.sdpMinBytes, cfg.sdpMaxBytes));
    this.answerSdpJson = sdpJsonPool('answer', sdpPool(seed, worker, 'answer', cfg.sdpMinBytes, cfg.sdpMaxBytes));
    for (let i = 0; i < cfg.connections; i++) this.flows.push(new WsFlow(this, cfg.firstConnection + i));
  }

  /** Open every connection (failures are retried once the run starts). */
  async open(): Promise<void> {
    // A few at a time, so a slow accept queue does not time handshakes out.
    const batch = 50;
    for (let i = 0; i < this.flows.length; i += batch) {
      await Promise.all(this.flows.slice(i, i + batch).map((f) => f.connect()));
    }
  }

  start(clock: RunClock): void {
    this.setWindow(clock);
    this.running = true;
    for (const f of this.flows) {
      if (f.open) f.fill();
      else if (f.ws === null) f.onClosed(); // schedules a reopen
    }
    const period = Math.max(10, Math.min(100, this.cfg.timeoutMs / 4));
    this.sweepTimer = setInterval(() => {
      const t = now();
      for (const f of this.flows) f.sweep(t);
    }, period);
  }

  stop(): void {
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const f of this.flows) f.close();
  }

  matched(t: number, us: number): void {
    if (this.inWindow(t)) {
      this.ws.answersMatched++;
      this.signalling.record(us);
    }
  }

  countWs(k: keyof WsCounters, t: number, n = 1): void {
    if (k === 'offersReceived') this.live.add(LIVE_OFFERS_IN, n);
    else if (k === 'answersReceived') this.live.add(LIVE_ANSWERS_IN, n);
    if (this.inWindow(t)) this.ws[k] += n;
  }
}

// ---------------------------------------------------------------- worker entry

async function workerMain(): Promise<void> {
  const port = parentPort!;
  const job = workerData as WsWorkerJob;
  const post = (m: FromWorker): void => port.postMessage(m);
  try {
    const model = new LoadModel(job.model);
    const live = new LiveCounters(job.live, job.worker);
    const loop = new WsLoop(job.ws, model, live, job.worker);
    await loop.open();
    let stopped = false;
    const finish = (): void => {
      if (stopped) return;
      stopped = true;
      loop.stop();
      const result: WsWorkerResult = {
        counters: loop.counters,
        histogram: loop.histogram.toJSON(),
        errorMessages: loop.errorMessages(),
        ws: { counters: loop.ws, signalling: loop.signalling.toJSON() },
      };
      post({ type: 'done', result });
      port.close();
    };
    port.on('message', (m: ToWorker) => {
      if (m.type === 'start') {
        loop.start(m.clock);
        setTimeout(finish, Math.max(0, m.clock.measureEnd - now()));
      } else if (m.type === 'stop') {
        finish();
      }
    });
    post({ type: 'ready' });
  } catch (e) {
    post({ type: 'failed', error: e instanceof Error ? e.message : String(e) });
    port.close();
  }
}

if (!isMainThread && parentPort !== null && (workerData as { protocol?: unknown } | null)?.protocol === 'ws') {
  void workerMain();
}
