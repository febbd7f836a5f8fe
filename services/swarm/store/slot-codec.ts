/**
 * The binary form of a slot's state: what snapshots store in Redis and what
 * a handoff sends to a slot's next owner. I/O-free: bytes in, bytes out.
 *
 * A chunk holds torrents and peers of one slot (all of it, or a part: a
 * big slot is several chunks, and one torrent may be spread over several);
 * every chunk can be read on its own, and chunks can be concatenated (the
 * header says how long the body is). Layout, big-endian:
 *
 *   header (16 bytes)
 *     0  4  magic "TSLC"
 *     4  1  version (1)
 *     5  1  flags: bit 0 = the body may hold private-mode torrents (tag 4);
 *           a reader refuses any flag it does not know, so a release that
 *           predates private peers refuses such a chunk whole instead of
 *           dropping its peers (public chunks keep flags 0, unchanged)
 *     6  2  slot
 *     8  4  exporter clock: Unix seconds when the chunk was written
 *     12 4  body length
 *   body: sections, each starting with a tag byte
 *     1 UDP/HTTP torrent: info-hash bytes 2..19 (bytes 0..1 are the slot),
 *       downloaded, IPv4 count, IPv6 count (varints), then per peer its
 *       endpoint (6 or 18 bytes) and a varint `age * 4 + completed * 2 + seeder`
 *       where age = exporter clock - last seen, in seconds
 *     2 WebTorrent edge: id (varint length + ASCII), boot nonce (varint
 *       length + UTF-8); edges are numbered 0, 1, ... in order of appearance
 *     3 WebTorrent torrent: info-hash bytes 2..19, downloaded, peer count,
 *       then per peer its peer_id (20 bytes), edge number, socket number and
 *       the age/flags varint
 *     4 private-mode torrent (peers keyed by user and peer_id): as tag 1,
 *       but each peer is its user id (varint), peer_id (20 bytes), endpoint
 *       and the age/flags varint
 *
 * Varints are unsigned LEB128 of at most 8 bytes (integers below 2^53).
 * Last-seen times travel as ages from the exporter's clock, so an IPv4 peer
 * costs 8 bytes (11 in memory), and a reader gets absolute times back.
 *
 * Reading never throws: `readChunk` checks a whole chunk (every count
 * against the bytes that remain, every edge number against the edges
 * defined) before anyone applies it, and says what is wrong otherwise, so a
 * chunk is applied whole or not at all. A chunk of another version is
 * refused as such: it was written by another release of the tracker.
 */

export const CHUNK_MAGIC = 0x54534c43; // "TSLC"
export const CHUNK_VERSION = 1;
export const CHUNK_HEADER_BYTES = 16;

export const TAG_PACKED_TORRENT = 1;
export const TAG_WT_EDGE = 2;
export const TAG_WT_TORRENT = 3;
export const TAG_PRIVATE_TORRENT = 4;
/** Header flag: the chunk may hold TAG_PRIVATE_TORRENT sections. */
export const CHUNK_FLAG_PRIVATE = 1;

const HASH_TAIL = 18;
const PEER_ID = 20;
/** Longest edge id a swarm accepts (lib/transport/grpc/server.ts) and longest boot nonce kept. */
export const MAX_EDGE_ID = 253;
export const MAX_NONCE = 128;
/** Ages are capped here (34 years) so age * 4 + flags stays a uint32. */
const MAX_AGE = 0x3fffffff;
const MAX_VARINT_BYTES = 8;

/** Worst-case bytes of what a writer adds, for planning how much fits in a chunk. */
export const WORST = {
  torrentHead: 1 + HASH_TAIL + 5 + 8 + 8,
  packedPeer: (endpointLength: number): number => endpointLength + 5,
  wtPeer: PEER_ID + 8 + 8 + 5,
  privatePeer: (endpointLength: number): number => 5 + PEER_ID + endpointLength + 5,
  edge: (id: string, nonce: string): number => 1 + 2 + id.length + 2 + 3 * nonce.length,
} as const;

export const FLAG_PEER_SEEDER = 1;
export const FLAG_PEER_COMPLETED = 2;

// ---------------------------------------------------------------- writing

const utf8 = new TextEncoder();

/**
 * Builds chunks in one reusable buffer of `maxBytes`. The caller plans with
 * `room` and WORST so that what it writes fits; `finish` returns a copy.
 */
export class ChunkWriter {
  readonly maxBytes: number;
  private readonly buf: Uint8Array;
  private at = CHUNK_HEADER_BYTES;
  private slot = 0;
  private clock = 0;
  private sections = 0;
  private flags = 0;

  constructor(maxBytes: number) {
    if (!(maxBytes >= 1024)) throw new RangeError(`a chunk must be allowed at least 1024 bytes, got ${maxBytes}`);
    this.maxBytes = maxBytes;
    this.buf = new Uint8Array(maxBytes);
  }

  /** Starts a chunk of `slot`, written at Unix second `clock`. */
  begin(slot: number, clock: number): void {
    this.slot = slot;
    this.clock = clock >>> 0;
    this.at = CHUNK_HEADER_BYTES;
    this.sections = 0;
    this.flags = 0;
  }

  /** Bytes still free. */
  get room(): number {
    return this.maxBytes - this.at;
  }

  /** Nothing written since `begin`. */
  get empty(): boolean {
    return this.sections === 0;
  }

  /** A UDP/HTTP torrent whose 20 key bytes are `key[keyAt..keyAt+20)`; its `n4 + n6` peers follow. */
  packedTorrent(key: Uint8Array, keyAt: number, downloaded: number, n4: number, n6: number): void {
    this.sections++;
    this.buf[this.at++] = TAG_PACKED_TORRENT;
    for (let i = 2; i < 20; i++) this.buf[this.at++] = key[keyAt + i];
    this.varint(downloaded);
    this.varint(n4);
    this.varint(n6);
  }

  /** A private-mode torrent (key as for packedTorrent); its `n4 + n6` privatePeer records follow. */
  privateTorrent(key: Uint8Array, keyAt: number, downloaded: number, n4: number, n6: number): void {
    this.sections++;
    this.flags |= CHUNK_FLAG_PRIVATE;
    this.buf[this.at++] = TAG_PRIVATE_TORRENT;
    for (let i = 2; i < 20; i++) this.buf[this.at++] = key[keyAt + i];
    this.varint(downloaded);
    this.varint(n4);
    this.varint(n6);
  }

  /** One private-mode peer: its peer_id is `page[idAt..idAt+20)`, its endpoint `page[epAt..epAt+endpointLength)`. */
  privatePeer(userId: number, page: Uint8Array, idAt: number, epAt: number, endpointLength: number, lastSeen: number, flags: number): void {
    this.varint(userId);
    const buf = this.buf;
    let at = this.at;
    for (let j = 0; j < PEER_ID; j++) buf[at++] = page[idAt + j];
    for (let j = 0; j < endpointLength; j++) buf[at++] = page[epAt + j];
    this.at = at;
    this.varint(this.ageFlags(lastSeen, flags));
  }

  /** One UDP/HTTP peer: its endpoint is `page[o..o+endpointLength)`. */
  packedPeer(page: Uint8Array, o: number, endpointLength: number, lastSeen: number, flags: number): void {
    const buf = this.buf;
    let at = this.at;
    for (let j = 0; j < endpointLength; j++) buf[at++] = page[o + j];
    this.at = at;
    this.varint(this.ageFlags(lastSeen, flags));
  }

  /** Defines WebTorrent edge number (edges defined so far in this chunk). */
  edge(id: string, nonce: string): void {
    this.sections++;
    this.buf[this.at++] = TAG_WT_EDGE;
    this.varint(id.length);
    for (let i = 0; i < id.length; i++) this.buf[this.at++] = id.charCodeAt(i) & 0xff;
    const n = utf8.encodeInto(nonce, this.buf.subarray(this.at + 2, this.at + 2 + 3 * nonce.length)).written;
    // Two bytes hold any length up to 16383 as a varint; the nonce is at most MAX_NONCE chars.
    this.buf[this.at++] = (n & 0x7f) | 0x80;
    this.buf[this.at++] = n >>> 7;
    this.at += n;
  }

  /** A WebTorrent torrent (20-char latin1 info-hash); its `n` peers follow. */
  wtTorrent(infoHash: string, downloaded: number, n: number): void {
    this.sections++;
    this.buf[this.at++] = TAG_WT_TORRENT;
    for (let i = 2; i < 20; i++) this.buf[this.at++] = infoHash.charCodeAt(i) & 0xff;
    this.varint(downloaded);
    this.varint(n);
  }

  wtPeer(peerId: string, edge: number, socket: number, lastSeen: number, flags: number): void {
    for (let i = 0; i < PEER_ID; i++) this.buf[this.at++] = peerId.charCodeAt(i) & 0xff;
    this.varint(edge);
    this.varint(socket);
    this.varint(this.ageFlags(lastSeen, flags));
  }

  /** The chunk so far, as a new array; the writer is then free for `begin`. */
  finish(): Uint8Array {
    const buf = this.buf;
    const body = this.at - CHUNK_HEADER_BYTES;
    writeU32(buf, 0, CHUNK_MAGIC);
    buf[4] = CHUNK_VERSION;
    buf[5] = this.flags;
    buf[6] = this.slot >>> 8;
    buf[7] = this.slot & 0xff;
    writeU32(buf, 8, this.clock);
    writeU32(buf, 12, body);
    const out = buf.slice(0, this.at);
    this.at = CHUNK_HEADER_BYTES;
    this.sections = 0;
    this.flags = 0;
    return out;
  }

  private ageFlags(lastSeen: number, flags: number): number {
    let age = this.clock - Math.floor(lastSeen);
    if (!(age > 0)) age = 0;
    else if (age > MAX_AGE) age = MAX_AGE;
    return age * 4 + (flags & 3);
  }

  private varint(v: number): void {
    const buf = this.buf;
    let at = this.at;
    while (v >= 0x80) {
      buf[at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[at++] = v;
    this.at = at;
  }
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

// ---------------------------------------------------------------- reading

export interface ChunkHeader {
  version: number;
  slot: number;
  /** Unix seconds when it was written. */
  clock: number;
  bodyLength: number;
}

/** What reading a chunk finds, in order; `readChunk` with no visitor only checks. */
export interface ChunkVisitor {
  packedTorrent(infoHash: string, downloaded: number, n4: number, n6: number): void;
  /** `bytes[at..at+endpointLength)` is the endpoint (6: IPv4, 18: IPv6). */
  packedPeer(bytes: Uint8Array, at: number, endpointLength: 6 | 18, lastSeen: number, flags: number): void;
  wtTorrent(infoHash: string, downloaded: number, n: number): void;
  wtPeer(peerId: string, edge: string, nonce: string, socket: number, lastSeen: number, flags: number): void;
  /** Optional: a reader that does not hold private peers may leave these out (it then only checks them). */
  privateTorrent?(infoHash: string, downloaded: number, n4: number, n6: number): void;
  /** `bytes[idAt..idAt+20)` is the peer_id, `bytes[epAt..epAt+endpointLength)` the endpoint. */
  privatePeer?(userId: number, bytes: Uint8Array, idAt: number, epAt: number, endpointLength: 6 | 18, lastSeen: number, flags: number): void;
}

/** Why a chunk cannot be read: `version` = another release wrote it; `corrupt` = not a chunk, cut short or inconsistent. */
export type ChunkProblem = { reason: 'version' | 'corrupt'; message: string };

export type ChunkRead = { ok: true; header: ChunkHeader; end: number } | ({ ok: false } & ChunkProblem);

const utf8Decoder = new TextDecoder();

/** Bytes as a string of one char per byte (what the tracker calls latin1; TextDecoder's "latin1" is windows-1252). */
function binary(b: Uint8Array, from: number, length: number): string {
  return String.fromCharCode.apply(null, b.subarray(from, from + length) as unknown as number[]);
}

/**
 * Reads the chunk that starts at `bytes[at]`: checks the header and the
 * whole body, and when `visitor` is given, calls it for what the body
 * holds. Call without a visitor first when nothing may be applied from a
 * bad chunk: a visit stops at the first problem. `end` = where the next
 * chunk would start.
 */
export function readChunk(bytes: Uint8Array, at = 0, visitor?: ChunkVisitor): ChunkRead {
  if (bytes.length - at < CHUNK_HEADER_BYTES) return corrupt(`${bytes.length - at} bytes cannot hold a slot chunk header (${CHUNK_HEADER_BYTES})`);
  if (readU32(bytes, at) !== CHUNK_MAGIC) return corrupt('not a slot chunk (bad magic)');
  const version = bytes[at + 4];
  if (version !== CHUNK_VERSION) {
    return {
      ok: false,
      reason: 'version',
      message: `slot chunk version ${version} is not readable by this tracker (it reads version ${CHUNK_VERSION}): it was written by ${version > CHUNK_VERSION ? 'a newer' : 'an older'} release; run one release across the cluster, or let clients re-announce`,
    };
  }
  if ((bytes[at + 5] & ~CHUNK_FLAG_PRIVATE) !== 0) return corrupt(`unknown slot chunk flags ${bytes[at + 5]}`);
  const header: ChunkHeader = { version, slot: (bytes[at + 6] << 8) | bytes[at + 7], clock: readU32(bytes, at + 8), bodyLength: readU32(bytes, at + 12) };
  const start = at + CHUNK_HEADER_BYTES;
  const end = start + header.bodyLength;
  if (end > bytes.length) return corrupt(`slot chunk body of ${header.bodyLength} bytes is cut short at ${bytes.length - start}`);
  const problem = new BodyReader(bytes, start, end, header, visitor, (bytes[at + 5] & CHUNK_FLAG_PRIVATE) !== 0).read();
  return problem === null ? { ok: true, header, end } : corrupt(`slot ${header.slot} chunk: ${problem}`);
}

function corrupt(message: string): { ok: false; reason: 'corrupt'; message: string } {
  return { ok: false, reason: 'corrupt', message };
}

class BodyReader {
  private at: number;
  private readonly slotPrefix: string;
  private readonly edges: Array<{ id: string; nonce: string }> = [];

  constructor(
    private readonly b: Uint8Array,
    start: number,
    private readonly end: number,
    private readonly header: ChunkHeader,
    private readonly visitor: ChunkVisitor | undefined,
    private readonly mayHoldPrivate: boolean,
  ) {
    this.at = start;
    this.slotPrefix = String.fromCharCode(header.slot >>> 8, header.slot & 0xff);
  }

  /** Null when the body is sound (and was visited), else what is wrong. */
  read(): string | null {
    while (this.at < this.end) {
      const tag = this.b[this.at++];
      let problem: string | null;
      if (tag === TAG_PACKED_TORRENT) problem = this.packedTorrent();
      else if (tag === TAG_WT_EDGE) problem = this.edge();
      else if (tag === TAG_WT_TORRENT) problem = this.wtTorrent();
      else if (tag === TAG_PRIVATE_TORRENT && this.mayHoldPrivate) problem = this.privateTorrent();
      else problem = `unknown section tag ${tag}`;
      if (problem !== null) return `${problem} (at byte ${this.at})`;
    }
    return null;
  }

  private packedTorrent(): string | null {
    const hash = this.hash();
    if (hash === null) return 'torrent cut short';
    const downloaded = this.varint();
    const n4 = this.varint();
    const n6 = this.varint();
    if (downloaded < 0 || n4 < 0 || n6 < 0) return 'torrent counts cut short or too large';
    if (downloaded > 0xffffffff) return `downloaded ${downloaded} is out of range`;
    // Each peer takes at least its endpoint and one byte.
    if (n4 * 7 + n6 * 19 > this.end - this.at) return `${n4} + ${n6} peers do not fit in what is left`;
    this.visitor?.packedTorrent(hash, downloaded, n4, n6);
    for (let i = 0; i < n4 + n6; i++) {
      const len = i < n4 ? 6 : 18;
      const o = this.at;
      this.at += len;
      const af = this.varint();
      if (af < 0 || af > 0xffffffff) return 'peer cut short or age out of range';
      this.visitor?.packedPeer(this.b, o, len, this.lastSeen(af), af & 3);
    }
    return null;
  }

  private privateTorrent(): string | null {
    const hash = this.hash();
    if (hash === null) return 'private torrent cut short';
    const downloaded = this.varint();
    const n4 = this.varint();
    const n6 = this.varint();
    if (downloaded < 0 || n4 < 0 || n6 < 0) return 'private torrent counts cut short or too large';
    if (downloaded > 0xffffffff) return `downloaded ${downloaded} is out of range`;
    // Each peer takes at least a user byte, its peer_id, its endpoint and one byte.
    if (n4 * (PEER_ID + 8) + n6 * (PEER_ID + 20) > this.end - this.at) return `${n4} + ${n6} private peers do not fit in what is left`;
    this.visitor?.privateTorrent?.(hash, downloaded, n4, n6);
    for (let i = 0; i < n4 + n6; i++) {
      const len = i < n4 ? 6 : 18;
      const user = this.varint();
      if (user < 1 || user > 0xffffffff) return 'private peer user id cut short or out of range';
      if (this.end - this.at < PEER_ID + len) return 'private peer cut short';
      const idAt = this.at;
      this.at += PEER_ID + len;
      const af = this.varint();
      if (af < 0 || af > 0xffffffff) return 'private peer cut short or age out of range';
      this.visitor?.privatePeer?.(user, this.b, idAt, idAt + PEER_ID, len, this.lastSeen(af), af & 3);
    }
    return null;
  }

  private edge(): string | null {
    const idLength = this.varint();
    if (idLength < 1 || idLength > MAX_EDGE_ID || idLength > this.end - this.at) return `edge id length ${idLength} out of range`;
    for (let i = 0; i < idLength; i++) {
      const c = this.b[this.at + i];
      if (c < 0x21 || c > 0x7e) return 'edge id is not printable ASCII';
    }
    const id = binary(this.b, this.at, idLength);
    this.at += idLength;
    const nonceLength = this.varint();
    if (nonceLength < 0 || nonceLength > 3 * MAX_NONCE || nonceLength > this.end - this.at) return `edge nonce length ${nonceLength} out of range`;
    const nonce = utf8Decoder.decode(this.b.subarray(this.at, this.at + nonceLength));
    this.at += nonceLength;
    this.edges.push({ id, nonce });
    return null;
  }

  private wtTorrent(): string | null {
    const hash = this.hash();
    if (hash === null) return 'WebTorrent torrent cut short';
    const downloaded = this.varint();
    const n = this.varint();
    if (downloaded < 0 || n < 0) return 'WebTorrent torrent counts cut short or too large';
    if (downloaded > 0xffffffff) return `downloaded ${downloaded} is out of range`;
    if (n * (PEER_ID + 3) > this.end - this.at) return `${n} WebTorrent peers do not fit in what is left`;
    this.visitor?.wtTorrent(hash, downloaded, n);
    for (let i = 0; i < n; i++) {
      if (this.end - this.at < PEER_ID) return 'WebTorrent peer cut short';
      const o = this.at;
      this.at += PEER_ID;
      const edge = this.varint();
      const socket = this.varint();
      const af = this.varint();
      if (edge < 0 || socket < 0 || af < 0 || af > 0xffffffff) return 'WebTorrent peer cut short or out of range';
      if (edge >= this.edges.length) return `WebTorrent peer names edge ${edge}, but ${this.edges.length} are defined`;
      if (this.visitor) {
        const e = this.edges[edge];
        this.visitor.wtPeer(binary(this.b, o, PEER_ID), e.id, e.nonce, socket, this.lastSeen(af), af & 3);
      }
    }
    return null;
  }

  /** The 20-char info-hash: the slot's two bytes and the next 18. */
  private hash(): string | null {
    if (this.end - this.at < HASH_TAIL) return null;
    const tail = binary(this.b, this.at, HASH_TAIL);
    this.at += HASH_TAIL;
    return this.slotPrefix + tail;
  }

  private lastSeen(ageFlags: number): number {
    return this.header.clock - Math.floor(ageFlags / 4);
  }

  /** An unsigned varint, or -1 when it runs past the end or is longer than MAX_VARINT_BYTES. */
  private varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.at >= this.end) return -1;
      const byte = this.b[this.at++];
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) return v;
      scale *= 0x80;
    }
    return -1;
  }
}
