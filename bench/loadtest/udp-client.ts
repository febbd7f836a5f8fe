/**
 * UDP (BEP 15) load loop for one worker thread: `sockets` flows, each keeping
 * `window` requests in flight, each sending from its share of the model's
 * client addresses (model.ts flowSources), one address after the other.
 *
 * node:dgram cannot choose the source address of one datagram (the C engine
 * does, with IP_PKTINFO), so a flow holds one socket per address it sends
 * from, bound to that address and connected to the target: with the default
 * model 16,384 sockets in all, opened before the run starts.
 *
 * Connection ids are per address, as the tracker binds them to the client
 * address: a request goes to the flow's next address that has an id (or
 * needs one and has no connect in flight, in which case the slot carries
 * that address's connect); addresses waiting for a connect reply are
 * skipped. An address's id is renewed after `reconnectAfterMs` (one slot
 * sends the connect while the others keep using the old id) and dropped
 * after `maxFailures` consecutive timeouts / error replies to that address.
 * A request without a reply after `timeoutMs` counts as lost and its slot is
 * reused.
 *
 * Transaction ids: (generation << 8 | slot), so a reply finds its slot
 * without a map, and a late reply to a reused slot does not match.
 * udpgen.c's UDP mode is the same loop.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { UDP_ANNOUNCE_REQUEST_LENGTH, UDP_CONNECT_LENGTH, UDP_SCRAPE_REQUEST_HEADER_LENGTH } from '../../lib/protocol/udp/server.js';
import { parseUdpReply, writeAnnounceRequest, writeConnectRequest, writeScrapeRequest } from '../../lib/protocol/udp/client.js';
import { readUint32BE } from '../../lib/protocol/binary.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import { LEECHER_LEFT, LoadModel, flowSources, newPlannedRequest, sourceAddress, type PlannedRequest } from './model.js';
import { Sfc32 } from './rng.js';
import { WindowRecorder } from './stats.js';
import type { LiveCounters, RunClock, UdpLoopOptions } from './worker-types.js';

export type UdpLoopConfig = UdpLoopOptions;

const K_FREE = 0;
const K_CONNECT = 1;
const K_ANNOUNCE = 2;
const K_SCRAPE = 3;

/** Per-address state bits. */
const S_CONNECTED = 1;
const S_CONNECTING = 2;
/** Had an id before (a connect is then counted as a reconnect). */
const S_EVER = 4;

const now = (): number => performance.timeOrigin + performance.now();

class UdpFlow {
  readonly txids: Uint32Array;
  readonly sentAt: Float64Array;
  readonly kinds: Uint8Array;
  /** Which of this flow's addresses (0..count) each slot's request left from. */
  readonly slotSource: Uint32Array;
  gen = 1;
  /** Per address of this flow: state bits, connection id, when it was issued, failures in a row. */
  readonly state: Uint8Array;
  readonly connHi: Uint32Array;
  readonly connLo: Uint32Array;
  readonly connectedAt: Float64Array;
  readonly failures: Uint8Array;
  /** The next address to send from. */
  private turn = 0;
  ready = false;
  readonly rng: Sfc32;
  readonly plan: PlannedRequest = newPlannedRequest();
  readonly scrapeHashes: string[] = [];

  constructor(
    readonly loop: UdpLoop,
    readonly index: number,
    /** Model source index of this flow's address i: firstSource + i * sourceStep. */
    readonly firstSource: number,
    readonly sourceStep: number,
    /** One per address, bound to it. */
    readonly socks: dgram.Socket[],
    window: number,
  ) {
    this.txids = new Uint32Array(window);
    this.sentAt = new Float64Array(window);
    this.kinds = new Uint8Array(window);
    this.slotSource = new Uint32Array(window);
    const n = socks.length;
    this.state = new Uint8Array(n);
    this.connHi = new Uint32Array(n);
    this.connLo = new Uint32Array(n);
    this.connectedAt = new Float64Array(n);
    this.failures = new Uint8Array(n);
    this.rng = new Sfc32(loop.model.options.seed, 0x1000 + index);
  }

  nextTxid(slot: number): number {
    const t = ((this.gen << 8) | slot) >>> 0;
    this.gen = (this.gen + 1) & 0xffffff;
    if (this.gen === 0) this.gen = 1;
    this.txids[slot] = t;
    return t;
  }

  private needsConnect(i: number, t: number): boolean {
    return (this.state[i] & S_CONNECTED) === 0 || t - this.connectedAt[i] > this.loop.cfg.reconnectAfterMs;
  }

  /** The next address (in turn) that can send now, or -1 when all wait for a connect reply. */
  private nextSource(): number {
    const n = this.state.length;
    for (let k = 0; k < n; k++) {
      const i = this.turn;
      this.turn = i + 1 === n ? 0 : i + 1;
      const st = this.state[i];
      if ((st & S_CONNECTED) !== 0 || (st & S_CONNECTING) === 0) return i;
    }
    return -1;
  }

  /** Put a new request into a free slot (or leave it free while every address waits for a connection id). */
  fill(slot: number, t: number): void {
    const loop = this.loop;
    if (!loop.running || !this.ready) return;
    const i = this.nextSource();
    if (i < 0) return;
    this.slotSource[slot] = i;
    if (this.needsConnect(i, t) && (this.state[i] & S_CONNECTING) === 0) {
      if ((this.state[i] & S_EVER) !== 0) loop.count('reconnects', t);
      this.state[i] |= S_CONNECTING;
      const buf = Buffer.allocUnsafe(UDP_CONNECT_LENGTH);
      writeConnectRequest(buf, this.nextTxid(slot));
      this.send(slot, K_CONNECT, buf, UDP_CONNECT_LENGTH, t);
      return;
    }
    const m = loop.model;
    const source = this.firstSource + i * this.sourceStep;
    const p = m.plan(this.rng, this.plan);
    if (p.kind === 'announce') {
      const buf = Buffer.allocUnsafe(UDP_ANNOUNCE_REQUEST_LENGTH);
      const len = writeAnnounceRequest(buf, {
        connectionIdHigh: this.connHi[i],
        connectionIdLow: this.connLo[i],
        transactionId: this.nextTxid(slot),
        infoHash: m.hash(p.torrent),
        peerId: m.peerId(source, p.portIndex),
        downloaded: 0,
        left: p.seeder ? 0 : LEECHER_LEFT,
        uploaded: 0,
        event: AnnounceEvent.None,
        key: m.peerKey(source, p.portIndex),
        numwant: m.options.numwant,
        port: m.port(p.portIndex),
      });
      this.send(slot, K_ANNOUNCE, buf, len, t);
    } else {
      const hashes = this.scrapeHashes;
      hashes.length = p.scrapeCount;
      for (let j = 0; j < p.scrapeCount; j++) hashes[j] = m.hash(p.scrapeTorrents[j]);
      const buf = Buffer.allocUnsafe(UDP_SCRAPE_REQUEST_HEADER_LENGTH + 20 * hashes.length);
      const len = writeScrapeRequest(buf, this.connHi[i], this.connLo[i], this.nextTxid(slot), hashes);
      this.send(slot, K_SCRAPE, buf, len, t);
    }
  }

  send(slot: number, kind: number, buf: Buffer, len: number, t: number): void {
    this.kinds[slot] = kind;
    this.sentAt[slot] = t;
    this.loop.sent(t);
    this.socks[this.slotSource[slot]].send(buf, 0, len);
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
    const i = this.slotSource[slot];
    const latencyUs = (t - this.sentAt[slot]) * 1000;
    this.kinds[slot] = K_FREE;
    const r = parseUdpReply(msg, 6);
    switch (r.type) {
      case 'connect':
        if (kind !== K_CONNECT) {
          loop.count('invalid', t);
          break;
        }
        this.connHi[i] = r.connectionIdHigh;
        this.connLo[i] = r.connectionIdLow;
        this.state[i] = S_CONNECTED | S_EVER;
        this.connectedAt[i] = t;
        this.failures[i] = 0;
        loop.count('connects', t);
        this.fillAll(t);
        return;
      case 'announce':
        if (kind !== K_ANNOUNCE) {
          loop.count('invalid', t);
          break;
        }
        this.failures[i] = 0;
        loop.reply('announces', t, latencyUs, r.peerCount);
        break;
      case 'scrape':
        if (kind !== K_SCRAPE) {
          loop.count('invalid', t);
          break;
        }
        this.failures[i] = 0;
        loop.reply('scrapes', t, latencyUs, 0);
        break;
      case 'error':
        loop.count('errors', t);
        loop.noteError(r.message);
        if (kind === K_CONNECT) this.state[i] &= ~S_CONNECTING;
        this.fail(i);
        break;
      default:
        loop.count('invalid', t);
        if (kind === K_CONNECT) this.state[i] &= ~S_CONNECTING;
    }
    this.fill(slot, t);
  }

  /** One more timeout or error reply for address i: after maxFailures in a row its id is dropped. */
  fail(i: number): void {
    if (++this.failures[i] >= this.loop.cfg.maxFailures) {
      this.state[i] &= ~S_CONNECTED;
      this.failures[i] = 0;
    }
  }

  /** Expire requests older than the timeout (each counts as lost) and refill free slots. */
  sweep(t: number, timeoutMs: number): void {
    const kinds = this.kinds;
    for (let s = 0; s < kinds.length; s++) {
      if (kinds[s] !== K_FREE && t - this.sentAt[s] > timeoutMs) {
        const i = this.slotSource[s];
        if (kinds[s] === K_CONNECT) this.state[i] &= ~S_CONNECTING;
        kinds[s] = K_FREE;
        this.loop.count('lost', t);
        this.fail(i);
      }
    }
    this.fillAll(t);
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

  /** Open every flow's sockets, each bound to one of its addresses and connected to the target. */
  async open(): Promise<void> {
    const m = this.model.options;
    const opens: Promise<void>[] = [];
    for (let f = 0; f < this.cfg.sockets; f++) {
      const index = this.cfg.firstSocket + f;
      const own = flowSources(m.sources, this.cfg.totalSockets, index);
      // Many sockets share the work of one: smaller buffers each.
      const bufferSize = own.count > 1 ? 1 << 18 : 1 << 21;
      const socks: dgram.Socket[] = [];
      for (let i = 0; i < own.count; i++) {
        socks.push(dgram.createSocket({ type: 'udp4', recvBufferSize: bufferSize, sendBufferSize: bufferSize }));
      }
      const flow = new UdpFlow(this, index, own.first, own.step, socks, this.cfg.window);
      this.flows.push(flow);
      socks.forEach((sock, i) => {
        sock.on('message', (msg) => flow.onMessage(msg));
        sock.on('error', () => this.count('socketErrors', now()));
        opens.push(
          new Promise<void>((resolve, reject) => {
            sock.once('error', reject);
            sock.bind(0, sourceAddress(m, own.first + i * own.step), () => {
              sock.connect(this.cfg.port, this.cfg.host, () => {
                sock.off('error', reject);
                resolve();
              });
            });
          }),
        );
      });
    }
    await Promise.all(opens);
    for (const f of this.flows) f.ready = true;
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
      for (const sock of f.socks) {
        try {
          sock.close();
        } catch {
          // already closed
        }
      }
    }
  }

}
