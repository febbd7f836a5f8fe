/**
 * UDP (BEP 15) load loop for one worker thread: `sockets` dgram sockets, each
 * bound to a loopback source address of the peer pool and connected to the
 * target, each keeping `window` requests in flight.
 *
 * Per socket: connect first; when a reply arrives its slot is refilled at
 * once (closed loop). The connection id is renewed after `reconnectAfterMs`
 * (one slot sends a connect while the others keep using the old id) and
 * dropped after `maxFailures` consecutive timeouts / error replies (the
 * socket then stops announcing until a fresh connect reply arrives). A request
 * without a reply after `timeoutMs` counts as lost and its slot is reused.
 *
 * Transaction ids: (generation << 8 | slot), so a reply finds its slot
 * without a map, and a late reply to a reused slot does not match.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { UDP_ANNOUNCE_REQUEST_LENGTH, UDP_CONNECT_LENGTH, UDP_SCRAPE_REQUEST_HEADER_LENGTH } from '../../lib/protocol/udp/server.js';
import { parseUdpReply, writeAnnounceRequest, writeConnectRequest, writeScrapeRequest } from '../../lib/protocol/udp/client.js';
import { readUint32BE } from '../../lib/protocol/binary.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import { LEECHER_LEFT, LoadModel, newPlannedRequest, sourceAddress, type PlannedRequest } from './model.js';
import { Sfc32 } from './rng.js';
import { WindowRecorder } from './stats.js';
import type { LiveCounters, RunClock, UdpLoopOptions } from './worker-types.js';

export type UdpLoopConfig = UdpLoopOptions;

const K_FREE = 0;
const K_CONNECT = 1;
const K_ANNOUNCE = 2;
const K_SCRAPE = 3;

const now = (): number => performance.timeOrigin + performance.now();

class UdpFlow {
  readonly txids: Uint32Array;
  readonly sentAt: Float64Array;
  readonly kinds: Uint8Array;
  gen = 1;
  connected = false;
  connHi = 0;
  connLo = 0;
  connectedAt = 0;
  connecting = false;
  everConnected = false;
  failures = 0;
  ready = false;
  readonly rng: Sfc32;
  readonly plan: PlannedRequest = newPlannedRequest();
  readonly scrapeHashes: string[] = [];

  constructor(
    readonly loop: UdpLoop,
    readonly index: number,
    readonly source: number,
    readonly sock: dgram.Socket,
    window: number,
  ) {
    this.txids = new Uint32Array(window);
    this.sentAt = new Float64Array(window);
    this.kinds = new Uint8Array(window);
    this.rng = new Sfc32(loop.model.options.seed, 0x1000 + index);
  }

  nextTxid(slot: number): number {
    const t = ((this.gen << 8) | slot) >>> 0;
    this.gen = (this.gen + 1) & 0xffffff;
    if (this.gen === 0) this.gen = 1;
    this.txids[slot] = t;
    return t;
  }

  /** Put a new request into a free slot (or leave it free while waiting for a connection id). */
  fill(slot: number, t: number): void {
    const loop = this.loop;
    if (!loop.running || !this.ready) return;
    const needConnect = !this.connected || t - this.connectedAt > loop.cfg.reconnectAfterMs;
    if (needConnect && !this.connecting) {
      this.connecting = true;
      if (this.everConnected) loop.count('reconnects', t);
      const buf = Buffer.allocUnsafe(UDP_CONNECT_LENGTH);
      writeConnectRequest(buf, this.nextTxid(slot));
      this.send(slot, K_CONNECT, buf, UDP_CONNECT_LENGTH, t);
      return;
    }
    if (!this.connected) return; // wait for the connect reply
    const m = loop.model;
    const p = m.plan(this.rng, this.plan);
    if (p.kind === 'announce') {
      const buf = Buffer.allocUnsafe(UDP_ANNOUNCE_REQUEST_LENGTH);
      const len = writeAnnounceRequest(buf, {
        connectionIdHigh: this.connHi,
        connectionIdLow: this.connLo,
        transactionId: this.nextTxid(slot),
        infoHash: m.hash(p.torrent),
        peerId: m.peerId(this.source, p.portIndex),
        downloaded: 0,
        left: p.seeder ? 0 : LEECHER_LEFT,
        uploaded: 0,
        event: AnnounceEvent.None,
        key: m.peerKey(this.source, p.portIndex),
        numwant: m.options.numwant,
        port: m.port(p.portIndex),
      });
      this.send(slot, K_ANNOUNCE, buf, len, t);
    } else {
      const hashes = this.scrapeHashes;
      hashes.length = p.scrapeCount;
      for (let i = 0; i < p.scrapeCount; i++) hashes[i] = m.hash(p.scrapeTorrents[i]);
      const buf = Buffer.allocUnsafe(UDP_SCRAPE_REQUEST_HEADER_LENGTH + 20 * hashes.length);
      const len = writeScrapeRequest(buf, this.connHi, this.connLo, this.nextTxid(slot), hashes);
      this.send(slot, K_SCRAPE, buf, len, t);
    }
  }

  send(slot: number, kind: number, buf: Buffer, len: number, t: number): void {
    this.kinds[slot] = kind;
    this.sentAt[slot] = t;
    this.loop.sent(t);
    this.sock.send(buf, 0, len);
  }

  fillAll(t: number): void {
    for (let s = 0; s < this.kinds.length; s++) if (this.kinds[s] === K_FREE) this.fill(s, t);
  }

  onMessage(msg: Buffer): void {
    const loop = this.loop;
    const t = now();
    if (msg.length < 8) {
      loop.count('invalid', t);
      return;
    }
    const txid = readUint32BE(msg, 4);
    const slot = txid & 0xff;
    if (slot >= this.kinds.length || this.kinds[slot] === K_FREE || this.txids[slot] !== txid) {
      loop.count('invalid', t); // unknown or late (after its timeout) reply
      return;
    }
    const kind = this.kinds[slot];
    const latencyUs = (t - this.sentAt[slot]) * 1000;
    this.kinds[slot] = K_FREE;
    const r = parseUdpReply(msg, 6);
    switch (r.type) {
      case 'connect':
        if (kind !== K_CONNECT) {
          loop.count('invalid', t);
          break;
        }
        this.connHi = r.connectionIdHigh;
        this.connLo = r.connectionIdLow;
        this.connected = true;
        this.everConnected = true;
        this.connecting = false;
        this.connectedAt = t;
        this.failures = 0;
        loop.count('connects', t);
        this.fillAll(t);
        return;
      case 'announce':
        if (kind !== K_ANNOUNCE) {
          loop.count('invalid', t);
          break;
        }
        this.failures = 0;
        loop.reply('announces', t, latencyUs, r.peerCount);
        break;
      case 'scrape':
        if (kind !== K_SCRAPE) {
          loop.count('invalid', t);
          break;
        }
        this.failures = 0;
        loop.reply('scrapes', t, latencyUs, 0);
        break;
      case 'error':
        loop.count('errors', t);
        loop.noteError(r.message);
        if (kind === K_CONNECT) this.connecting = false;
        this.fail();
        break;
      default:
        loop.count('invalid', t);
        if (kind === K_CONNECT) this.connecting = false;
    }
    this.fill(slot, t);
  }

  fail(): void {
    if (++this.failures >= this.loop.cfg.maxFailures) {
      this.connected = false;
      this.failures = 0;
    }
  }

  /** Expire requests older than the timeout (each counts as lost) and refill free slots. */
  sweep(t: number, timeoutMs: number): void {
    const kinds = this.kinds;
    let freed = false;
    for (let s = 0; s < kinds.length; s++) {
      if (kinds[s] !== K_FREE && t - this.sentAt[s] > timeoutMs) {
        if (kinds[s] === K_CONNECT) this.connecting = false;
        kinds[s] = K_FREE;
        this.loop.count('lost', t);
        this.fail();
        freed = true;
      }
    }
    if (freed || (this.connected && !this.connecting)) this.fillAll(t);
  }
}

export class UdpLoop extends WindowRecorder {
  readonly flows: UdpFlow[] = [];
  running = false;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly cfg: UdpLoopConfig,
    readonly model: LoadModel,
    live: LiveCounters,
  ) {
    super(live);
  }

  /** Open, bind and connect every socket. */
  async open(): Promise<void> {
    const m = this.model.options;
    const opens: Promise<void>[] = [];
    for (let i = 0; i < this.cfg.sockets; i++) {
      const index = this.cfg.firstSocket + i;
      const source = index % m.sources;
      const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 21, sendBufferSize: 1 << 21 });
      const flow = new UdpFlow(this, index, source, sock, this.cfg.window);
      this.flows.push(flow);
      sock.on('message', (msg) => flow.onMessage(msg));
      sock.on('error', () => this.count('socketErrors', now()));
      opens.push(
        new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind(0, sourceAddress(m, source), () => {
            sock.connect(this.cfg.port, this.cfg.host, () => {
              sock.off('error', reject);
              flow.ready = true;
              resolve();
            });
          });
        }),
      );
    }
    await Promise.all(opens);
  }

  start(clock: RunClock): void {
    this.setWindow(clock);
    this.running = true;
    const t = now();
    for (const f of this.flows) f.fill(0, t);
    const period = Math.max(10, Math.min(100, this.cfg.timeoutMs / 4));
    this.sweepTimer = setInterval(() => {
      const t2 = now();
      for (const f of this.flows) f.sweep(t2, this.cfg.timeoutMs);
    }, period);
  }

  stop(): void {
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const f of this.flows) {
      try {
        f.sock.close();
      } catch {
        // already closed
      }
    }
  }

}
