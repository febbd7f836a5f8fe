/**
 * Wire codec for proto/tracker.proto (package tracker.v1), hand-written over
 * plain Buffers.
 *
 * Why not the pbjs static classes at run time: they decode into their own
 * message objects with Uint8Array ids, which then have to be converted into
 * the domain model's shapes (lib/tracker/: latin1 strings, discriminated
 * unions). Encoding and decoding straight between Buffers and those shapes
 * was measured 2-6x faster per item (bench/grpc-transport.ts --codec-only), and 2.7x less
 * swarm CPU per request at batch 100 end to end. The .proto stays the contract:
 * tests/unit/transport/grpc-codec-proto.test.ts parses proto/tracker.proto
 * and checks this codec against it field by field (every field of every
 * message, its number, its type and its name in the domain model), and
 * grpc-codec.test.ts compares its bytes with the pbjs code generated from
 * the .proto, so a codec that drifts from the .proto fails the tests.
 *
 * Adding a field: the domain type in lib/tracker/, the .proto, then here its
 * write (writeRequest / writeReply / ...) and its read (readAnnounce / ...),
 * and pbjs-codec.ts's conversion; the proto check names whatever is missing.
 *
 * Proto3 rules followed: scalar fields equal to their default (0, '', empty
 * bytes, false) are not written; sub-messages (including empty ones such as
 * WtAnswerReply) always are; unknown fields are skipped; varints are written
 * canonically; 64-bit integers are plain numbers (exact up to 2^53).
 */
import type { AnnounceEvent } from '../../tracker/events.js';
import type { AnnounceReply, AnnounceRequest } from '../../tracker/announce.js';
import type { TorrentStats } from '../../tracker/scrape.js';
import type { SwarmReply, SwarmRequest } from '../../tracker/swarm.js';
import type { SessionDescription, SocketRef, WtRelayMessage } from '../../tracker/webtorrent.js';
import { GrowableBuffer, TWO_POW_32 } from '../../protocol/binary.js';

// ------------------------------------------------------------ field numbers

/** Request.body arms (Request.id is field 1). */
const REQ_ANNOUNCE = 2, REQ_SCRAPE = 3, REQ_WT_ANNOUNCE = 4, REQ_WT_ANSWER = 5, REQ_WT_DISCONNECT = 6, REQ_WT_SCRAPE = 7;
/** Reply.body arms (Reply.id is field 1). */
const REP_ANNOUNCE = 2, REP_SCRAPE = 3, REP_ERROR = 4, REP_WT_ANNOUNCE = 5, REP_WT_ANSWER = 6, REP_WT_DISCONNECT = 7, REP_WT_SCRAPE = 8, REP_MOVED = 9;
/** EdgeBatch fields. */
const EDGE_REQUESTS = 1, EDGE_TABLE_IDENTITY = 2;
/** WtRelay.message arms (WtRelay.socket is field 1). */
const RELAY_OFFER = 2, RELAY_ANSWER = 3;

const VARINT = 0, FIXED64 = 1, LEN = 2, FIXED32 = 5;

/** A relayed WebTorrent message as carried in SwarmBatch.relays. */
export interface Relay {
  readonly socket: number;
  readonly message: WtRelayMessage;
}

/** What one EdgeBatch carries: requests with their ids (same index). */
export interface DecodedEdgeBatch {
  readonly ids: number[];
  /** `undefined` where the request type is unknown to this build (a newer edge). */
  readonly requests: (SwarmRequest | undefined)[];
  /** Identity of the slot table the edge routed them with; 0 = not routed by one table (check each). */
  readonly tableIdentity: number;
}

export interface DecodedSwarmBatch {
  readonly ids: number[];
  readonly replies: SwarmReply[];
  readonly relays: Relay[];
}

/** One EdgeBatch to write: requests whose ids are firstId, firstId + 1, ... (mod 2^32). */
export interface OutgoingEdgeBatch {
  readonly firstId: number;
  readonly requests: readonly SwarmRequest[];
  /** SlotTable.identity the requests were routed with; 0 = not routed by one table. */
  readonly tableIdentity: number;
}

// ------------------------------------------------------------------ writing

/**
 * A growable scratch buffer. Encoding is synchronous, so one module-level
 * instance is reused; the result is copied out into an exact-size Buffer
 * (grpc-js frames it asynchronously, so the scratch must not be handed out).
 */
class Writer extends GrowableBuffer {
  constructor() {
    super(64 * 1024);
  }

  reset(): void {
    this.pos = 0;
  }

  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    if (this.buf.length > 4 * 1024 * 1024) this.buf = Buffer.allocUnsafe(64 * 1024); // don't pin a huge scratch
    return out;
  }

  /** An unsigned varint, 0 <= v < 2^64 (exact below 2^53). */
  varint(v: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    if (v < 0x80000000) {
      while (v > 127) {
        buf[pos++] = (v & 127) | 128;
        v >>>= 7;
      }
      buf[pos++] = v;
    } else {
      while (v > 127) {
        buf[pos++] = (v % 128) | 128;
        v = Math.floor(v / 128);
      }
      buf[pos++] = v;
    }
    this.pos = pos;
  }

  /** int32 field: negative values take 10 bytes (sign-extended to 64 bits). */
  int32(v: number): void {
    if (v >= 0) {
      this.varint(v);
      return;
    }
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    let lo = v >>> 0; // low 32 bits, two's complement; the high 32 bits are all ones
    for (let i = 0; i < 4; i++) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = (lo & 15) | 0x70 | 128; // bits 28..31 + ones from the high word
    for (let i = 0; i < 4; i++) buf[pos++] = 0xff;
    buf[pos++] = 0x01;
    this.pos = pos;
  }

  /** Field numbers here are all < 16: the key is one byte. */
  key(field: number, wire: number): void {
    this.ensure(1);
    this.buf[this.pos++] = (field << 3) | wire;
  }

  uintField(field: number, v: number): void {
    if (v === 0) return;
    this.key(field, VARINT);
    this.varint(v);
  }

  boolField(field: number, v: boolean): void {
    if (!v) return;
    this.key(field, VARINT);
    this.varint(1);
  }

  /** A protobuf `float` (fixed32, little-endian IEEE 754 single). */
  floatField(field: number, v: number): void {
    if (v === 0) return;
    this.key(field, FIXED32);
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  /** A latin1 string as `bytes` (one byte per char). */
  latin1Field(field: number, s: string): void {
    const n = s.length;
    if (n === 0) return;
    this.key(field, LEN);
    this.varint(n);
    this.ensure(n);
    if (n <= 32) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i);
      this.pos = pos;
    } else {
      this.pos += this.buf.write(s, this.pos, n, 'latin1');
    }
  }

  /** Like latin1Field but written even when empty (repeated bytes elements). */
  latin1Element(field: number, s: string): void {
    if (s.length === 0) {
      this.key(field, LEN);
      this.varint(0);
    } else {
      this.latin1Field(field, s);
    }
  }

  bytesField(field: number, b: Uint8Array): void {
    const n = b.length;
    if (n === 0) return;
    this.key(field, LEN);
    this.varint(n);
    this.ensure(n);
    this.buf.set(b, this.pos);
    this.pos += n;
  }

  stringField(field: number, s: string): void {
    if (s.length === 0) return;
    this.key(field, LEN);
    const start = this.begin();
    this.ensure(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    this.end(start);
  }

  /** Starts a length-delimited field: writes the key, reserves one byte for the length. */
  open(field: number): number {
    this.key(field, LEN);
    return this.begin();
  }

  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Writes the length of what followed `begin`, moving it when the length needs more than one byte. */
  end(start: number): void {
    const len = this.pos - start - 1;
    if (len < 128) {
      this.buf[start] = len;
      return;
    }
    let extra = 1;
    while (len >= 2 ** (7 * (extra + 1))) extra++;
    this.ensure(extra);
    const buf = this.buf;
    buf.copyWithin(start + 1 + extra, start + 1, this.pos);
    let v = len;
    let pos = start;
    while (v > 127) {
      buf[pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[pos] = v;
    this.pos += extra;
  }
}

const w = new Writer();

function writeSocketRef(field: number, ref: SocketRef): void {
  const at = w.open(field);
  w.stringField(1, ref.edge);
  w.uintField(2, ref.socket);
  w.end(at);
}

function writeSdp(field: number, d: SessionDescription): void {
  const at = w.open(field);
  w.stringField(1, d.type);
  w.stringField(2, d.sdp);
  w.end(at);
}

function writeStats(field: number, files: readonly TorrentStats[]): void {
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    const at = w.open(field);
    w.uintField(1, f.complete);
    w.uintField(2, f.incomplete);
    w.uintField(3, f.downloaded);
    w.end(at);
  }
}

/** Private mode's fields of an announce (AnnounceRequest 9-15); only for a user's announce. */
function writePrivateAnnounce(r: AnnounceRequest): void {
  w.uintField(9, r.userId ?? 0);
  w.uintField(10, r.uploaded ?? 0);
  w.uintField(11, r.downloaded ?? 0);
  w.floatField(12, r.userUpMultiplier ?? 0);
  w.floatField(13, r.userDownMultiplier ?? 0);
  w.uintField(14, r.clientId ?? 0);
  w.boolField(15, r.hideAddress === true);
}

function writeRequest(id: number, r: SwarmRequest): void {
  const at = w.open(EDGE_REQUESTS);
  w.uintField(1, id);
  let body: number;
  switch (r.type) {
    case 'announce':
      body = w.open(REQ_ANNOUNCE);
      w.latin1Field(1, r.infoHash);
      w.latin1Field(2, r.peerId);
      w.bytesField(3, r.endpoint);
      w.uintField(4, r.event);
      w.uintField(5, r.left);
      if (r.numwant !== 0) {
        w.key(6, VARINT);
        w.int32(r.numwant | 0);
      }
      w.uintField(7, r.sameSubnetBits ?? 0);
      w.uintField(8, r.minAnnounceSeconds ?? 0);
      if (r.userId !== undefined && r.userId !== 0) writePrivateAnnounce(r);
      break;
    case 'scrape':
    case 'wt-scrape':
      body = w.open(r.type === 'scrape' ? REQ_SCRAPE : REQ_WT_SCRAPE);
      for (let i = 0; i < r.infoHashes.length; i++) w.latin1Element(1, r.infoHashes[i]);
      break;
    case 'wt-announce':
      body = w.open(REQ_WT_ANNOUNCE);
      w.latin1Field(1, r.infoHash);
      w.latin1Field(2, r.peerId);
      writeSocketRef(3, r.from);
      w.uintField(4, r.event);
      w.boolField(5, r.seeder);
      for (let i = 0; i < r.offers.length; i++) {
        const o = r.offers[i];
        const oa = w.open(6);
        w.latin1Field(1, o.offerId);
        writeSdp(2, o.offer);
        w.end(oa);
      }
      break;
    case 'wt-answer':
      body = w.open(REQ_WT_ANSWER);
      w.latin1Field(1, r.infoHash);
      w.latin1Field(2, r.peerId);
      writeSocketRef(3, r.from);
      w.latin1Field(4, r.toPeerId);
      w.latin1Field(5, r.offerId);
      writeSdp(6, r.answer);
      break;
    case 'wt-disconnect':
      body = w.open(REQ_WT_DISCONNECT);
      writeSocketRef(1, r.from);
      for (let i = 0; i < r.peers.length; i++) {
        const p = r.peers[i];
        const pa = w.open(2);
        w.latin1Field(1, p.infoHash);
        w.latin1Field(2, p.peerId);
        w.end(pa);
      }
      break;
    default:
      throw new TypeError(`cannot encode request type ${(r as { type: string }).type}`);
  }
  w.end(body);
  w.end(at);
}

function varintSize(v: number): number {
  if (v < 128) return 1;
  if (v < 16384) return 2;
  if (v < 2097152) return 3;
  if (v < 268435456) return 4;
  let n = 5;
  for (let x = v / 34359738368; x >= 1; x /= 128) n++;
  return n;
}

const uintSize = (v: number): number => (v === 0 ? 0 : 1 + varintSize(v));

/**
 * The hot path of a swarm: an announce reply with a peer list longer than
 * 127 bytes would need its length prefixes moved after writing, so its
 * sizes are computed first and written exactly.
 */
function writeAnnounceReply(id: number, r: AnnounceReply): void {
  const peers = r.peers.length;
  const body =
    uintSize(r.interval) + uintSize(r.minInterval) + uintSize(r.complete) + uintSize(r.incomplete) + uintSize(r.downloaded) +
    (peers === 0 ? 0 : 1 + varintSize(peers) + peers);
  const item = uintSize(id) + 1 + varintSize(body) + body;
  w.key(1, LEN); // SwarmBatch.replies
  w.varint(item);
  w.uintField(1, id);
  w.key(REP_ANNOUNCE, LEN);
  w.varint(body);
  w.uintField(1, r.interval);
  w.uintField(2, r.minInterval);
  w.uintField(3, r.complete);
  w.uintField(4, r.incomplete);
  w.uintField(5, r.downloaded);
  w.bytesField(6, r.peers);
}

function writeReply(id: number, r: SwarmReply): void {
  if (r.type === 'announce') {
    writeAnnounceReply(id, r);
    return;
  }
  const at = w.open(1); // SwarmBatch.replies
  w.uintField(1, id);
  let body: number;
  switch (r.type) {
    case 'scrape':
    case 'wt-scrape':
      body = w.open(r.type === 'scrape' ? REP_SCRAPE : REP_WT_SCRAPE);
      writeStats(1, r.files);
      break;
    case 'error':
      body = w.open(REP_ERROR);
      w.stringField(1, r.message);
      break;
    case 'wt-announce':
      body = w.open(REP_WT_ANNOUNCE);
      w.uintField(1, r.interval);
      w.uintField(2, r.complete);
      w.uintField(3, r.incomplete);
      w.uintField(4, r.offersRelayed);
      break;
    case 'wt-answer':
      body = w.open(REP_WT_ANSWER);
      break;
    case 'wt-disconnect':
      body = w.open(REP_WT_DISCONNECT);
      w.uintField(1, r.removed);
      break;
    case 'moved':
      body = w.open(REP_MOVED);
      if (r.owner !== undefined) w.stringField(1, r.owner);
      break;
    default:
      body = w.open(REP_ERROR);
      w.stringField(1, 'unknown reply type');
  }
  w.end(body);
  w.end(at);
}

function writeRelay(relay: Relay): void {
  const at = w.open(2); // SwarmBatch.relays
  w.uintField(1, relay.socket);
  const m = relay.message;
  const body = w.open(m.kind === 'offer' ? RELAY_OFFER : RELAY_ANSWER);
  w.latin1Field(1, m.infoHash);
  w.latin1Field(2, m.fromPeerId);
  w.latin1Field(3, m.offerId);
  writeSdp(4, m.kind === 'offer' ? m.offer : m.answer);
  w.end(body);
  w.end(at);
}

/**
 * Roughly how many bytes `r` takes in an EdgeBatch (cheap; SDP and edge ids
 * counted one byte per char). The edge router uses it to keep messages of
 * WebTorrent requests well below the maximum message size.
 */
export function estimateRequestBytes(r: SwarmRequest): number {
  switch (r.type) {
    case 'announce':
      return 80;
    case 'scrape':
    case 'wt-scrape':
      return 12 + 22 * r.infoHashes.length;
    case 'wt-announce': {
      let bytes = 80 + r.from.edge.length;
      for (let k = 0; k < r.offers.length; k++) bytes += 40 + r.offers[k].offer.type.length + r.offers[k].offer.sdp.length;
      return bytes;
    }
    case 'wt-answer':
      return 130 + r.from.edge.length + r.answer.type.length + r.answer.sdp.length;
    case 'wt-disconnect':
      return 24 + r.from.edge.length + 46 * r.peers.length;
    default:
      return 80;
  }
}

/** EdgeBatch: requests with consecutive ids, then the table identity. */
export function encodeEdgeBatch(batch: OutgoingEdgeBatch): Buffer {
  w.reset();
  const { firstId, requests } = batch;
  for (let i = 0; i < requests.length; i++) writeRequest((firstId + i) >>> 0, requests[i]);
  w.uintField(EDGE_TABLE_IDENTITY, batch.tableIdentity);
  return w.finish();
}

/** SwarmBatch: replies[i] answers ids[i]; relays for this edge follow. */
export function encodeSwarmBatch(ids: ArrayLike<number>, replies: readonly SwarmReply[], relays: readonly Relay[] = []): Buffer {
  w.reset();
  for (let i = 0; i < replies.length; i++) writeReply(ids[i], replies[i]);
  for (let i = 0; i < relays.length; i++) writeRelay(relays[i]);
  return w.finish();
}

// ------------------------------------------------------------------ reading

/** Reading state; `end` is the end of the message being read. */
class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;

  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let b = buf[pos++];
    if (b < 128) {
      this.pos = pos;
      return b;
    }
    let v = b & 127;
    let shift = 7;
    // Bits 0..27 with bit operations, the rest with floating point.
    while (shift < 28) {
      b = buf[pos++];
      if (b === undefined) throw new RangeError('truncated varint');
      v |= (b & 127) << shift;
      if (b < 128) {
        this.pos = pos;
        return v >>> 0;
      }
      shift += 7;
    }
    let mul = 2 ** 28;
    for (let i = 0; i < 6; i++) {
      b = buf[pos++];
      if (b === undefined) throw new RangeError('truncated varint');
      v += (b & 127) * mul;
      if (b < 128) {
        this.pos = pos;
        return v;
      }
      mul *= 128;
    }
    throw new RangeError('varint too long');
  }

  /** int32 (possibly 10 bytes when negative): the low 32 bits, signed. */
  int32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let v = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      const b = buf[pos++];
      if (b === undefined) throw new RangeError('truncated varint');
      if (shift < 32) v |= (b & 127) << shift;
      shift += 7;
      if (b < 128) {
        this.pos = pos;
        return v | 0;
      }
    }
    throw new RangeError('varint too long');
  }

  /** A fixed32 float (the key already read). */
  float(limit: number): number {
    if (this.pos + 4 > limit) throw new RangeError('field out of range');
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Length of a LEN field; returns its end offset (pos is at its start). */
  len(limit: number): number {
    const n = this.varint();
    const end = this.pos + n;
    if (end > limit) throw new RangeError('length out of range');
    return end;
  }

  latin1(limit: number): string {
    const end = this.len(limit);
    const start = this.pos;
    this.pos = end;
    const n = end - start;
    if (n <= 24) {
      const buf = this.buf;
      switch (n) {
        case 0:
          return '';
        case 20: // the common case: an info-hash or peer id
          return String.fromCharCode(
            buf[start], buf[start + 1], buf[start + 2], buf[start + 3], buf[start + 4],
            buf[start + 5], buf[start + 6], buf[start + 7], buf[start + 8], buf[start + 9],
            buf[start + 10], buf[start + 11], buf[start + 12], buf[start + 13], buf[start + 14],
            buf[start + 15], buf[start + 16], buf[start + 17], buf[start + 18], buf[start + 19],
          );
      }
    }
    return this.buf.toString('latin1', start, end);
  }

  utf8(limit: number): string {
    const end = this.len(limit);
    const start = this.pos;
    this.pos = end;
    return end === start ? '' : this.buf.toString('utf8', start, end);
  }

  /** Small values (endpoints) are copied; larger ones (peer lists) are views into the message. */
  bytes(limit: number): Uint8Array {
    const end = this.len(limit);
    const start = this.pos;
    this.pos = end;
    const n = end - start;
    if (n <= 32) {
      const out = new Uint8Array(n);
      const buf = this.buf;
      for (let i = 0; i < n; i++) out[i] = buf[start + i];
      return out;
    }
    return this.buf.subarray(start, end);
  }

  skip(wire: number, limit: number): void {
    switch (wire) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.pos += 8;
        break;
      case LEN:
        this.pos = this.len(limit);
        return;
      case FIXED32:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wire}`);
    }
    if (this.pos > limit) throw new RangeError('field out of range');
  }
}

const r = new Reader();
const EMPTY: Uint8Array = new Uint8Array(0);
const MOVED: SwarmReply = Object.freeze({ type: 'moved' });
const NO_SDP: SessionDescription = Object.freeze({ type: '', sdp: '' });

function readSocketRef(end: number): SocketRef {
  let edge = '';
  let socket = 0;
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | LEN: edge = r.utf8(end); break;
      case (2 << 3) | VARINT: socket = r.varint(); break;
      default: r.skip(key & 7, end);
    }
  }
  return { edge, socket };
}

function readSdp(end: number): SessionDescription {
  let type = '';
  let sdp = '';
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | LEN: type = r.utf8(end); break;
      case (2 << 3) | LEN: sdp = r.utf8(end); break;
      default: r.skip(key & 7, end);
    }
  }
  return { type, sdp };
}

function readStats(end: number): TorrentStats {
  let complete = 0, incomplete = 0, downloaded = 0;
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | VARINT: complete = r.varint(); break;
      case (2 << 3) | VARINT: incomplete = r.varint(); break;
      case (3 << 3) | VARINT: downloaded = r.varint(); break;
      default: r.skip(key & 7, end);
    }
  }
  return { complete, incomplete, downloaded };
}

function readHashes(end: number): string[] {
  const hashes: string[] = [];
  while (r.pos < end) {
    const key = r.varint();
    if (key === ((1 << 3) | LEN)) hashes.push(r.latin1(end));
    else r.skip(key & 7, end);
  }
  return hashes;
}

function readAnnounce(end: number): SwarmRequest {
  let infoHash = '', peerId = '', endpoint = EMPTY, event = 0, left = 0, numwant = 0, sameSubnetBits = 0, minAnnounceSeconds = 0;
  let userId = 0, uploaded = 0, downloaded = 0, userUpMultiplier = 0, userDownMultiplier = 0, clientId = 0, hideAddress = false;
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | LEN: infoHash = r.latin1(end); break;
      case (2 << 3) | LEN: peerId = r.latin1(end); break;
      case (3 << 3) | LEN: endpoint = r.bytes(end); break;
      case (4 << 3) | VARINT: event = r.varint(); break;
      case (5 << 3) | VARINT: left = r.varint(); break;
      case (6 << 3) | VARINT: numwant = r.int32(); break;
      case (7 << 3) | VARINT: sameSubnetBits = r.varint(); break;
      case (8 << 3) | VARINT: minAnnounceSeconds = r.varint(); break;
      case (9 << 3) | VARINT: userId = r.varint(); break;
      case (10 << 3) | VARINT: uploaded = r.varint(); break;
      case (11 << 3) | VARINT: downloaded = r.varint(); break;
      case (12 << 3) | FIXED32: userUpMultiplier = r.float(end); break;
      case (13 << 3) | FIXED32: userDownMultiplier = r.float(end); break;
      case (14 << 3) | VARINT: clientId = r.varint(); break;
      case (15 << 3) | VARINT: hideAddress = r.varint() !== 0; break;
      default: r.skip(key & 7, end);
    }
  }
  // A public announce keeps the shape it always had; a user's carries the private fields (absent ones are 0, as in proto3).
  if (userId === 0) return { type: 'announce', infoHash, peerId, endpoint, event: event as AnnounceEvent, left, numwant, sameSubnetBits, minAnnounceSeconds };
  return {
    type: 'announce', infoHash, peerId, endpoint, event: event as AnnounceEvent, left, numwant, sameSubnetBits, minAnnounceSeconds,
    userId, uploaded, downloaded, userUpMultiplier, userDownMultiplier, clientId, hideAddress,
  };
}

function readWtAnnounce(end: number): SwarmRequest {
  let infoHash = '', peerId = '', event = 0, seeder = false;
  let from: SocketRef = { edge: '', socket: 0 };
  const offers: { offerId: string; offer: SessionDescription }[] = [];
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | LEN: infoHash = r.latin1(end); break;
      case (2 << 3) | LEN: peerId = r.latin1(end); break;
      case (3 << 3) | LEN: from = readSocketRef(r.len(end)); break;
      case (4 << 3) | VARINT: event = r.varint(); break;
      case (5 << 3) | VARINT: seeder = r.varint() !== 0; break;
      case (6 << 3) | LEN: {
        const oend = r.len(end);
        let offerId = '';
        let offer = NO_SDP;
        while (r.pos < oend) {
          const k = r.varint();
          switch (k) {
            case (1 << 3) | LEN: offerId = r.latin1(oend); break;
            case (2 << 3) | LEN: offer = readSdp(r.len(oend)); break;
            default: r.skip(k & 7, oend);
          }
        }
        offers.push({ offerId, offer });
        break;
      }
      default: r.skip(key & 7, end);
    }
  }
  return { type: 'wt-announce', infoHash, peerId, from, event: event as AnnounceEvent, seeder, offers };
}

function readWtAnswer(end: number): SwarmRequest {
  let infoHash = '', peerId = '', toPeerId = '', offerId = '';
  let from: SocketRef = { edge: '', socket: 0 };
  let answer = NO_SDP;
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | LEN: infoHash = r.latin1(end); break;
      case (2 << 3) | LEN: peerId = r.latin1(end); break;
      case (3 << 3) | LEN: from = readSocketRef(r.len(end)); break;
      case (4 << 3) | LEN: toPeerId = r.latin1(end); break;
      case (5 << 3) | LEN: offerId = r.latin1(end); break;
      case (6 << 3) | LEN: answer = readSdp(r.len(end)); break;
      default: r.skip(key & 7, end);
    }
  }
  return { type: 'wt-answer', infoHash, peerId, from, toPeerId, offerId, answer };
}

function readWtDisconnect(end: number): SwarmRequest {
  let from: SocketRef = { edge: '', socket: 0 };
  const peers: { infoHash: string; peerId: string }[] = [];
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | LEN: from = readSocketRef(r.len(end)); break;
      case (2 << 3) | LEN: {
        const pend = r.len(end);
        let infoHash = '', peerId = '';
        while (r.pos < pend) {
          const k = r.varint();
          switch (k) {
            case (1 << 3) | LEN: infoHash = r.latin1(pend); break;
            case (2 << 3) | LEN: peerId = r.latin1(pend); break;
            default: r.skip(k & 7, pend);
          }
        }
        peers.push({ infoHash, peerId });
        break;
      }
      default: r.skip(key & 7, end);
    }
  }
  return { type: 'wt-disconnect', from, peers };
}

function readRequest(end: number, ids: number[], requests: (SwarmRequest | undefined)[]): void {
  let id = 0;
  let request: SwarmRequest | undefined;
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | VARINT: id = r.varint(); break;
      case (REQ_ANNOUNCE << 3) | LEN: request = readAnnounce(r.len(end)); break;
      case (REQ_SCRAPE << 3) | LEN: request = { type: 'scrape', infoHashes: readHashes(r.len(end)) }; break;
      case (REQ_WT_ANNOUNCE << 3) | LEN: request = readWtAnnounce(r.len(end)); break;
      case (REQ_WT_ANSWER << 3) | LEN: request = readWtAnswer(r.len(end)); break;
      case (REQ_WT_DISCONNECT << 3) | LEN: request = readWtDisconnect(r.len(end)); break;
      case (REQ_WT_SCRAPE << 3) | LEN: request = { type: 'wt-scrape', infoHashes: readHashes(r.len(end)) }; break;
      default: r.skip(key & 7, end);
    }
  }
  if (r.pos !== end) throw new RangeError('request overruns its length');
  ids.push(id);
  requests.push(request);
}

function readReply(end: number, ids: number[], replies: SwarmReply[]): void {
  let id = 0;
  let reply: SwarmReply | undefined;
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | VARINT: id = r.varint(); break;
      case (REP_ANNOUNCE << 3) | LEN: {
        const bend = r.len(end);
        let interval = 0, minInterval = 0, complete = 0, incomplete = 0, downloaded = 0, peers = EMPTY;
        while (r.pos < bend) {
          const k = r.varint();
          switch (k) {
            case (1 << 3) | VARINT: interval = r.varint(); break;
            case (2 << 3) | VARINT: minInterval = r.varint(); break;
            case (3 << 3) | VARINT: complete = r.varint(); break;
            case (4 << 3) | VARINT: incomplete = r.varint(); break;
            case (5 << 3) | VARINT: downloaded = r.varint(); break;
            case (6 << 3) | LEN: peers = r.bytes(bend); break;
            default: r.skip(k & 7, bend);
          }
        }
        reply = { type: 'announce', interval, minInterval, complete, incomplete, downloaded, peers };
        break;
      }
      case (REP_SCRAPE << 3) | LEN:
      case (REP_WT_SCRAPE << 3) | LEN: {
        const type = key >>> 3 === REP_SCRAPE ? 'scrape' : 'wt-scrape';
        const bend = r.len(end);
        const files: TorrentStats[] = [];
        while (r.pos < bend) {
          const k = r.varint();
          if (k === ((1 << 3) | LEN)) files.push(readStats(r.len(bend)));
          else r.skip(k & 7, bend);
        }
        reply = { type, files };
        break;
      }
      case (REP_ERROR << 3) | LEN: {
        const bend = r.len(end);
        let message = '';
        while (r.pos < bend) {
          const k = r.varint();
          if (k === ((1 << 3) | LEN)) message = r.utf8(bend);
          else r.skip(k & 7, bend);
        }
        reply = { type: 'error', message };
        break;
      }
      case (REP_WT_ANNOUNCE << 3) | LEN: {
        const bend = r.len(end);
        let interval = 0, complete = 0, incomplete = 0, offersRelayed = 0;
        while (r.pos < bend) {
          const k = r.varint();
          switch (k) {
            case (1 << 3) | VARINT: interval = r.varint(); break;
            case (2 << 3) | VARINT: complete = r.varint(); break;
            case (3 << 3) | VARINT: incomplete = r.varint(); break;
            case (4 << 3) | VARINT: offersRelayed = r.varint(); break;
            default: r.skip(k & 7, bend);
          }
        }
        reply = { type: 'wt-announce', interval, complete, incomplete, offersRelayed };
        break;
      }
      case (REP_WT_ANSWER << 3) | LEN:
        r.pos = r.len(end); // no fields yet
        reply = { type: 'wt-answer' };
        break;
      case (REP_WT_DISCONNECT << 3) | LEN: {
        const bend = r.len(end);
        let removed = 0;
        while (r.pos < bend) {
          const k = r.varint();
          if (k === ((1 << 3) | VARINT)) removed = r.varint();
          else r.skip(k & 7, bend);
        }
        reply = { type: 'wt-disconnect', removed };
        break;
      }
      case (REP_MOVED << 3) | LEN: {
        const bend = r.len(end);
        let owner = '';
        while (r.pos < bend) {
          const k = r.varint();
          if (k === ((1 << 3) | LEN)) owner = r.utf8(bend);
          else r.skip(k & 7, bend);
        }
        reply = owner === '' ? MOVED : { type: 'moved', owner };
        break;
      }
      default:
        r.skip(key & 7, end);
    }
  }
  if (r.pos !== end) throw new RangeError('reply overruns its length');
  ids.push(id);
  replies.push(reply ?? { type: 'error', message: 'unsupported reply type' });
}

function readRelay(end: number, relays: Relay[]): void {
  let socket = 0;
  let message: WtRelayMessage | undefined;
  while (r.pos < end) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | VARINT: socket = r.varint(); break;
      case (RELAY_OFFER << 3) | LEN:
      case (RELAY_ANSWER << 3) | LEN: {
        const kind = key >>> 3 === RELAY_OFFER ? 'offer' : 'answer';
        const bend = r.len(end);
        let infoHash = '', fromPeerId = '', offerId = '', sdp = NO_SDP;
        while (r.pos < bend) {
          const k = r.varint();
          switch (k) {
            case (1 << 3) | LEN: infoHash = r.latin1(bend); break;
            case (2 << 3) | LEN: fromPeerId = r.latin1(bend); break;
            case (3 << 3) | LEN: offerId = r.latin1(bend); break;
            case (4 << 3) | LEN: sdp = readSdp(r.len(bend)); break;
            default: r.skip(k & 7, bend);
          }
        }
        message = kind === 'offer' ? { kind, infoHash, fromPeerId, offerId, offer: sdp } : { kind, infoHash, fromPeerId, offerId, answer: sdp };
        break;
      }
      default: r.skip(key & 7, end);
    }
  }
  if (r.pos !== end) throw new RangeError('relay overruns its length');
  if (message) relays.push({ socket, message }); // an unknown kind from a newer swarm is dropped
}

export function decodeEdgeBatch(buf: Buffer): DecodedEdgeBatch {
  const ids: number[] = [];
  const requests: (SwarmRequest | undefined)[] = [];
  let tableIdentity = 0;
  r.buf = buf;
  r.pos = 0;
  const end = buf.length;
  try {
    while (r.pos < end) {
      const key = r.varint();
      if (key === ((EDGE_REQUESTS << 3) | LEN)) readRequest(r.len(end), ids, requests);
      else if (key === ((EDGE_TABLE_IDENTITY << 3) | VARINT)) tableIdentity = r.varint();
      else r.skip(key & 7, end);
    }
    if (r.pos !== end) throw new RangeError('message truncated');
  } finally {
    r.buf = EMPTY_BUFFER;
  }
  return { ids, requests, tableIdentity };
}

export function decodeSwarmBatch(buf: Buffer): DecodedSwarmBatch {
  const ids: number[] = [];
  const replies: SwarmReply[] = [];
  const relays: Relay[] = [];
  r.buf = buf;
  r.pos = 0;
  const end = buf.length;
  try {
    while (r.pos < end) {
      const key = r.varint();
      if (key === ((1 << 3) | LEN)) readReply(r.len(end), ids, replies);
      else if (key === ((2 << 3) | LEN)) readRelay(r.len(end), relays);
      else r.skip(key & 7, end);
    }
    if (r.pos !== end) throw new RangeError('message truncated');
  } finally {
    r.buf = EMPTY_BUFFER;
  }
  return { ids, replies, relays };
}

const EMPTY_BUFFER = Buffer.alloc(0);

/** For tests and the benchmark: 2^32, the request id space. */
export const REQUEST_ID_SPACE = TWO_POW_32;
