/**
 * A swarm's state by slot: export to chunks (slot-codec.ts), import with
 * the merge rules of merge.ts, drop, count. Snapshots (Redis) and handoffs
 * (swarm to swarm) both go through here.
 *
 * Export is a generator of chunks of at most `maxChunkBytes` (64 KiB:
 * about 8,000 IPv4 peers, well under a millisecond of work), made on
 * demand: a caller can yield to the event loop between two, so exporting a
 * huge slot never stalls serving. The store may change between two chunks;
 * a torrent deleted meanwhile is skipped, peers moved meanwhile may be
 * skipped or sent twice. Both are harmless: imports are idempotent, and
 * every change stamps the slot (slot-changes.ts), so whoever copies it
 * copies it again.
 *
 * Import reads a whole chunk (or a snapshot value: chunks of one slot one
 * after the other) before it applies any of it: a chunk of another version
 * or a damaged one is refused with a SlotChunkError and changes nothing.
 * Expired peers are skipped, and so are WebTorrent peers whose edge process
 * is gone (edge-incarnations.ts).
 *
 * In private mode the slot's accounting (the last report of each private
 * peer, accounting/slot-accounts.ts) is one more chunk after the store's,
 * of its own kind: snapshots and handoffs carry it with the peers, and it
 * merges in any order (the newest report wins).
 */
import { performance } from 'node:perf_hooks';
import { AccountingChunkError } from '../accounting/chunk.js';
import { isAccountsChunk, readAccountsChunk, type SlotAccounts } from '../accounting/slot-accounts.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EdgeIncarnations } from './edge-incarnations.js';
import { Merge } from './merge.js';
import { CHUNK_HEADER_BYTES, ChunkWriter, FLAG_PEER_COMPLETED, FLAG_PEER_SEEDER, MAX_NONCE, WORST, readChunk, type ChunkVisitor } from './slot-codec.js';
import type { SwarmStore } from './swarm-store.js';
import type { WebTorrentSwarms, WtTorrent } from './webtorrent-swarms.js';

/** 64 KiB: a few hundred microseconds of export or import work, and far below any message size limit. */
export const DEFAULT_MAX_CHUNK_BYTES = 64 * 1024;
/** Torrents one drop step deletes before it looks at the clock. */
const DROP_CHECK_EVERY = 64;

export interface ImportResult {
  /** Torrents that received at least one peer. */
  torrents: number;
  /** Peers added or merged into ones held. */
  peers: number;
  /** Peers not imported because they had expired. */
  skippedExpired: number;
  /** WebTorrent peers not imported because their edge process is gone. */
  skippedStale: number;
  /** Peers not imported because a store cap was reached (each counted in the cap's limit counter). */
  refusedByCaps: number;
}

/** A chunk that cannot be imported; nothing of it was. */
export class SlotChunkError extends Error {
  constructor(
    readonly reason: 'version' | 'corrupt',
    message: string,
  ) {
    super(message);
    this.name = 'SlotChunkError';
  }
}

/** What export and import did since start; read by metrics when scraped. */
export class SlotTransferStats {
  exportChunks = 0;
  exportBytes = 0;
  exportPeers = 0;
  /** Event-loop time spent exporting. */
  exportSeconds = 0;
  importChunks = 0;
  importBytes = 0;
  importSeconds = 0;
  importPeers = 0;
  importExpired = 0;
  importStale = 0;
  importRefused = 0;
  refusedVersion = 0;
  refusedCorrupt = 0;
}

export interface SlotStateOptions {
  /** Which edge process each WebTorrent peer belongs to. */
  edges: EdgeIncarnations;
  /** Seconds (fractional), wall clock: peers' last-seen times are on it. Default Date.now() / 1000. */
  now?: () => number;
  /** Milliseconds, monotonic, for budgets and durations. */
  monotonicMs?: () => number;
  maxChunkBytes?: number;
  /** Private mode: the accounting state that travels with each slot. */
  accounts?: SlotAccounts;
}

const PACKED_KINDS = ['public', 'private'] as const;

export class SlotState {
  readonly stats = new SlotTransferStats();
  readonly maxChunkBytes: number;
  private readonly now: () => number;
  private readonly monotonicMs: () => number;
  private readonly edges: EdgeIncarnations;
  private readonly accounts: SlotAccounts | undefined;

  constructor(
    private readonly store: SwarmStore,
    private readonly webtorrent: WebTorrentSwarms,
    options: SlotStateOptions,
  ) {
    this.edges = options.edges;
    this.now = options.now ?? (() => Date.now() / 1000);
    this.monotonicMs = options.monotonicMs ?? performance.now.bind(performance);
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
    this.accounts = options.accounts;
  }

  /** A writer for `exportSlot`: one per caller, reused across slots. */
  newWriter(): ChunkWriter {
    return new ChunkWriter(this.maxChunkBytes);
  }

  /** Peers (UDP/HTTP and WebTorrent) held in `slot`. */
  slotPeerCount(slot: number): number {
    return this.store.slotPeerCount(slot) + this.webtorrent.slotPeerCount(slot);
  }

  /**
   * The chunks of `slot`, made one at a time as they are asked for; none
   * when the slot holds nothing. `writer` is the caller's (see newWriter);
   * take every chunk of one slot (or stop with `return`, as for-of does)
   * before starting another with the same writer.
   */
  *exportSlot(slot: number, writer: ChunkWriter): Generator<Uint8Array, void, undefined> {
    const stats = this.stats;
    let started = this.monotonicMs();
    writer.begin(slot, Math.floor(this.now()));
    const finish = (): Uint8Array => {
      const chunk = writer.finish();
      stats.exportChunks++;
      stats.exportBytes += chunk.byteLength;
      stats.exportSeconds += (this.monotonicMs() - started) / 1000;
      return chunk;
    };
    const resume = (): void => {
      started = this.monotonicMs();
      writer.begin(slot, Math.floor(this.now()));
    };

    // UDP/HTTP torrents: public peers (keyed by endpoint), then private-mode ones (keyed by user and peer_id).
    const store = this.store;
    for (const kind of PACKED_KINDS) {
      const v4 = kind === 'public' ? store.v4 : store.pv4;
      const v6 = kind === 'public' ? store.v6 : store.pv6;
      const cost4 = kind === 'public' ? WORST.packedPeer(6) : WORST.privatePeer(6);
      const cost6 = kind === 'public' ? WORST.packedPeer(18) : WORST.privatePeer(18);
      const cursor = store.openSlot(slot);
      try {
        let partOf = -1;
        let from4 = 0;
        let from6 = 0;
        while (cursor.tid >= 0) {
          const tid = cursor.tid;
          if (tid !== partOf) {
            from4 = 0;
            from6 = 0;
          }
          const left4 = Math.max(0, v4.count(tid) - from4);
          const left6 = Math.max(0, v6.count(tid) - from6);
          let space = writer.room - WORST.torrentHead;
          const take4 = Math.min(left4, Math.max(0, Math.floor(space / cost4)));
          space -= take4 * cost4;
          const take6 = Math.min(left6, Math.max(0, Math.floor(space / cost6)));
          if (left4 + left6 > 0 && take4 + take6 === 0) {
            // This chunk is full: the torrent goes on in the next one.
            partOf = tid;
            yield finish();
            resume();
            continue;
          }
          if (take4 + take6 > 0) {
            if (kind === 'public') store.exportTorrent(tid, writer, from4, take4, from6, take6);
            else store.exportPrivateTorrent(tid, writer, from4, take4, from6, take6);
            stats.exportPeers += take4 + take6;
          }
          if (take4 === left4 && take6 === left6) {
            cursor.tid = store.nextInSlot(tid);
            partOf = -1;
          } else {
            partOf = tid;
            from4 += take4;
            from6 += take6;
            yield finish();
            resume();
          }
        }
      } finally {
        store.closeSlot(cursor);
      }
    }

    // WebTorrent torrents, with their edges defined in each chunk before the first peer that names them.
    const edgeNumbers = new Map<string, number>();
    const newEdges: string[] = [];
    let torrent: WtTorrent | null = this.webtorrent.firstInSlot(slot);
    let from = 0;
    while (torrent !== null) {
      const peers = torrent.peers;
      if (torrent.deleted || from >= peers.length) {
        torrent = torrent.slotNext;
        from = 0;
        continue;
      }
      let space = writer.room - WORST.torrentHead;
      let take = 0;
      newEdges.length = 0;
      for (let i = from; i < peers.length; i++) {
        const edge = peers[i].edge;
        let cost = WORST.wtPeer;
        const fresh = !edgeNumbers.has(edge) && !newEdges.includes(edge);
        if (fresh) cost += WORST.edge(edge, this.nonceOf(edge));
        if (cost > space) break;
        space -= cost;
        take++;
        if (fresh) newEdges.push(edge);
      }
      if (take === 0) {
        yield finish();
        resume();
        edgeNumbers.clear();
        continue;
      }
      for (const edge of newEdges) {
        writer.edge(edge, this.nonceOf(edge));
        edgeNumbers.set(edge, edgeNumbers.size);
      }
      writer.wtTorrent(torrent.infoHash, torrent.downloaded, take);
      for (let i = from; i < from + take; i++) {
        const p = peers[i];
        writer.wtPeer(p.peerId, edgeNumbers.get(p.edge)!, p.socket, p.lastSeen, (p.seeder ? FLAG_PEER_SEEDER : 0) | (p.completed ? FLAG_PEER_COMPLETED : 0));
      }
      stats.exportPeers += take;
      from += take;
      if (from < peers.length) {
        yield finish();
        resume();
        edgeNumbers.clear();
      }
    }
    if (!writer.empty) yield finish();
    else stats.exportSeconds += (this.monotonicMs() - started) / 1000;

    // Private mode: the slot's accounting, after its peers (one chunk: 71 bytes a peer).
    const accounts = this.accounts?.exportSlot(slot);
    if (accounts) {
      stats.exportChunks++;
      stats.exportBytes += accounts.byteLength;
      yield accounts;
    }
  }

  /**
   * The chunks of every slot of `slots`, in order, giving the event loop a
   * turn whenever `budgetMs` of work has passed (like the expiry sweep).
   */
  async *exportSlots(slots: Iterable<number>, budgetMs: number): AsyncGenerator<Uint8Array, void, undefined> {
    const writer = this.newWriter();
    let turnStart = this.monotonicMs();
    for (const slot of slots) {
      for (const chunk of this.exportSlot(slot, writer)) {
        yield chunk;
        if (this.monotonicMs() - turnStart >= budgetMs) {
          await nextTurn();
          turnStart = this.monotonicMs();
        }
      }
    }
  }

  /** Imports one chunk (its bytes exactly). Throws SlotChunkError, having changed nothing, when it cannot. */
  importChunk(bytes: Uint8Array, now: number = this.now()): ImportResult {
    if (isAccountsChunk(bytes)) {
      const read = this.checkAccounts(bytes, 0);
      if (read.end !== bytes.length) throw this.refuse('corrupt', `${bytes.length - read.end} bytes after the accounting chunk`);
      this.applyAccounts(bytes, [0], [read.end], read.slot);
      return { torrents: 0, peers: 0, skippedExpired: 0, skippedStale: 0, refusedByCaps: 0 };
    }
    const read = readChunk(bytes, 0);
    if (!read.ok) throw this.refuse(read.reason, read.message);
    if (read.end !== bytes.length) throw this.refuse('corrupt', `${bytes.length - read.end} bytes after the slot chunk`);
    return this.apply(bytes, [0], now);
  }

  /**
   * Imports a snapshot value: chunks of `slot`, one after the other (what
   * `exportSlot` made, concatenated). Every chunk is checked first: one
   * that cannot be read, or one of another slot, refuses the whole value.
   */
  importSlotValue(slot: number, bytes: Uint8Array, now: number = this.now()): ImportResult {
    if (bytes.length < CHUNK_HEADER_BYTES) throw this.refuse('corrupt', `a snapshot of ${bytes.length} bytes cannot hold a slot chunk`);
    const starts: number[] = [];
    const accountStarts: number[] = [];
    const accountEnds: number[] = [];
    for (let at = 0; at < bytes.length; ) {
      if (isAccountsChunk(bytes, at)) {
        const read = this.checkAccounts(bytes, at);
        if (read.slot !== slot) throw this.refuse('corrupt', `the snapshot of slot ${slot} holds an accounting chunk of slot ${read.slot}`);
        accountStarts.push(at);
        accountEnds.push(read.end);
        at = read.end;
        continue;
      }
      const read = readChunk(bytes, at);
      if (!read.ok) throw this.refuse(read.reason, read.message);
      if (read.header.slot !== slot) throw this.refuse('corrupt', `the snapshot of slot ${slot} holds a chunk of slot ${read.header.slot}`);
      starts.push(at);
      at = read.end;
    }
    if (accountStarts.length > 0) this.applyAccounts(bytes, accountStarts, accountEnds, slot);
    return starts.length > 0 ? this.apply(bytes, starts, now) : { torrents: 0, peers: 0, skippedExpired: 0, skippedStale: 0, refusedByCaps: 0 };
  }

  /** Deletes everything held in `slots` (it belongs elsewhere now), giving the event loop a turn every `budgetMs`. Stamps nothing. */
  async dropSlots(slots: Iterable<number>, budgetMs: number): Promise<{ torrents: number; peers: number }> {
    const total = { torrents: 0, peers: 0 };
    let turnStart = this.monotonicMs();
    for (const slot of slots) {
      this.accounts?.dropSlot(slot);
      for (const from of [this.store, this.webtorrent]) {
        for (;;) {
          const step = from.dropFromSlot(slot, DROP_CHECK_EVERY);
          total.torrents += step.torrents;
          total.peers += step.peers;
          if (this.monotonicMs() - turnStart >= budgetMs) {
            await nextTurn();
            turnStart = this.monotonicMs();
          }
          if (step.torrents < DROP_CHECK_EVERY) break;
        }
      }
    }
    return total;
  }

  private nonceOf(edge: string): string {
    const nonce = this.edges.nonceOf(edge) ?? '';
    return nonce.length <= MAX_NONCE ? nonce : '';
  }

  /** The accounting chunk at `at`, checked; refused (SlotChunkError) when it cannot be read or this swarm keeps no accounting. */
  private checkAccounts(bytes: Uint8Array, at: number): { slot: number; end: number } {
    if (!this.accounts) throw this.refuse('corrupt', 'an accounting chunk reached a swarm that is not in private mode (private.enabled differs across the cluster?)');
    const read = readAccountsChunk(bytes, at);
    if (!read.ok) throw this.refuse(read.reason, read.message);
    return read;
  }

  /** Merges accounting chunks already checked; a damaged payload is refused whole (each chunk decodes before it merges). */
  private applyAccounts(bytes: Uint8Array, starts: readonly number[], ends: readonly number[], slot: number): void {
    const accounts = this.accounts!;
    for (let i = 0; i < starts.length; i++) {
      try {
        accounts.importChunk(bytes, starts[i], ends[i], slot);
      } catch (error) {
        if (error instanceof AccountingChunkError) throw this.refuse('corrupt', error.message);
        throw error;
      }
      this.stats.importChunks++;
      this.stats.importBytes += ends[i] - starts[i];
    }
  }

  private refuse(reason: 'version' | 'corrupt', message: string): SlotChunkError {
    if (reason === 'version') this.stats.refusedVersion++;
    else this.stats.refusedCorrupt++;
    return new SlotChunkError(reason, message);
  }

  /** Applies chunks already checked, starting at `starts`. */
  private apply(bytes: Uint8Array, starts: readonly number[], now: number): ImportResult {
    const started = this.monotonicMs();
    const importer = new ChunkImporter(this.store, this.webtorrent, this.edges, now);
    for (const at of starts) {
      const read = readChunk(bytes, at, importer);
      // Checked before: a failure here is a bug, and what was applied stays applied.
      if (!read.ok) throw new Error(`slot chunk changed between check and import: ${read.message}`);
      importer.endTorrent();
    }
    const r = importer.result;
    const s = this.stats;
    s.importChunks += starts.length;
    s.importBytes += bytes.byteLength;
    s.importPeers += r.peers;
    s.importExpired += r.skippedExpired;
    s.importStale += r.skippedStale;
    s.importRefused += r.refusedByCaps;
    s.importSeconds += (this.monotonicMs() - started) / 1000;
    return r;
  }
}

/** Applies what a chunk holds, peer by peer, torrent by torrent. */
class ChunkImporter implements ChunkVisitor {
  readonly result: ImportResult = { torrents: 0, peers: 0, skippedExpired: 0, skippedStale: 0, refusedByCaps: 0 };
  private readonly nowSeconds: number;
  /** UDP/HTTP peers last seen at or before this have expired (the sweep's rule). */
  private readonly packedCutoff: number;
  /** WebTorrent peers last seen before this have expired (their sweep's rule). */
  private readonly wtCutoff: number;
  private readonly ep4 = new Uint8Array(6);
  private readonly ep6 = new Uint8Array(18);

  // The torrent being read: its info-hash and completed count, and where it goes (resolved at its first live peer).
  private hash = '';
  private downloaded = 0;
  private packed = false;
  private resolved = false;
  private tid = -1;
  private wt: WtTorrent | null = null;
  private kept = 0;

  constructor(
    private readonly store: SwarmStore,
    private readonly webtorrent: WebTorrentSwarms,
    private readonly edges: EdgeIncarnations,
    now: number,
  ) {
    this.nowSeconds = now;
    this.packedCutoff = Math.floor(now) - store.config.peerTimeoutSeconds;
    this.wtCutoff = now - webtorrent.config.peerTimeoutSeconds;
  }

  packedTorrent(infoHash: string, downloaded: number): void {
    this.begin(infoHash, downloaded, true);
  }

  wtTorrent(infoHash: string, downloaded: number): void {
    this.begin(infoHash, downloaded, false);
  }

  packedPeer(bytes: Uint8Array, at: number, endpointLength: 6 | 18, lastSeen: number, flags: number): void {
    if (lastSeen <= this.packedCutoff) {
      this.result.skippedExpired++;
      return;
    }
    if (!this.resolve()) return;
    const ep = endpointLength === 6 ? this.ep4 : this.ep6;
    for (let j = 0; j < endpointLength; j++) ep[j] = bytes[at + j];
    const seen = Math.min(lastSeen, Math.floor(this.nowSeconds));
    this.count(this.store.mergePeer(this.tid, ep, seen, (flags & FLAG_PEER_SEEDER) !== 0, (flags & FLAG_PEER_COMPLETED) !== 0));
  }

  privateTorrent(infoHash: string, downloaded: number): void {
    this.begin(infoHash, downloaded, true);
  }

  privatePeer(userId: number, bytes: Uint8Array, idAt: number, epAt: number, endpointLength: 6 | 18, lastSeen: number, flags: number): void {
    if (lastSeen <= this.packedCutoff) {
      this.result.skippedExpired++;
      return;
    }
    if (!this.resolve()) return;
    const ep = endpointLength === 6 ? this.ep4 : this.ep6;
    for (let j = 0; j < endpointLength; j++) ep[j] = bytes[epAt + j];
    const peerId = String.fromCharCode.apply(null, bytes.subarray(idAt, idAt + 20) as unknown as number[]);
    const seen = Math.min(lastSeen, Math.floor(this.nowSeconds));
    this.count(this.store.mergePrivatePeer(this.tid, userId, peerId, ep, seen, (flags & FLAG_PEER_SEEDER) !== 0, (flags & FLAG_PEER_COMPLETED) !== 0));
  }

  wtPeer(peerId: string, edge: string, nonce: string, socket: number, lastSeen: number, flags: number): void {
    if (lastSeen < this.wtCutoff) {
      this.result.skippedExpired++;
      return;
    }
    if (!this.edges.admit(edge, nonce)) {
      this.result.skippedStale++;
      return;
    }
    if (!this.resolve()) return;
    const seen = Math.min(lastSeen, this.nowSeconds);
    this.count(this.webtorrent.mergePeer(this.wt!, peerId, edge, socket, seen, (flags & FLAG_PEER_SEEDER) !== 0, (flags & FLAG_PEER_COMPLETED) !== 0));
  }

  /** Ends the torrent being read: one that received nothing and was made for it goes again. */
  endTorrent(): void {
    if (this.resolved && this.kept === 0) {
      if (this.packed && this.tid >= 0) this.store.dropIfEmpty(this.tid);
      else if (!this.packed && this.wt !== null) this.webtorrent.dropIfEmpty(this.wt);
    }
    if (this.kept > 0) this.result.torrents++;
    this.resolved = false;
    this.tid = -1;
    this.wt = null;
    this.kept = 0;
  }

  private begin(infoHash: string, downloaded: number, packed: boolean): void {
    this.endTorrent();
    this.hash = infoHash;
    this.downloaded = downloaded;
    this.packed = packed;
  }

  /** Finds or makes the torrent at its first live peer; false (the peer counted as refused) when a cap refuses it. */
  private resolve(): boolean {
    if (!this.resolved) {
      this.resolved = true;
      if (this.packed) {
        this.tid = this.store.importTarget(this.hash);
        if (this.tid >= 0) this.store.mergeDownloaded(this.tid, this.downloaded);
      } else {
        this.wt = this.webtorrent.importTarget(this.hash);
        if (this.wt !== null) this.webtorrent.mergeDownloaded(this.wt, this.downloaded);
      }
    }
    if (this.packed ? this.tid >= 0 : this.wt !== null) return true;
    this.result.refusedByCaps++;
    return false;
  }

  private count(merge: Merge): void {
    if (merge === Merge.Refused) {
      this.result.refusedByCaps++;
    } else {
      this.result.peers++;
      this.kept++;
    }
  }
}
