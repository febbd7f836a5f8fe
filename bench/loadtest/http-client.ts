/**
 * HTTP load loop for one worker thread: `connections` connection slots, each
 * with exactly one request in flight (closed loop), each with its share of
 * the model's client addresses (model.ts flowSources).
 *
 * A TCP connection has one source address, so a connection stands for one
 * client: it announces that address's peers only, and every new connection
 * of the slot comes from the slot's next address (net.connect localAddress).
 * Keep-alive mode sends `requestsPerConnection` HTTP/1.1 requests on a
 * connection, the last one with `Connection: close`, then reconnects;
 * connection-per-request mode sends `Connection: close` every time. Both
 * follow a server that closes earlier (trackers that close after every
 * reply, like opentracker; every reopen counts in `reconnects`). The next
 * request goes out as soon as a reply is complete; a connection the server
 * is about to close is left to close on the server's FIN (so TIME_WAIT stays
 * on the server side and the client's ephemeral ports are not exhausted).
 * udpgen.c's HTTP mode is the same loop.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { buildAnnounceQuery, buildScrapeQuery, parseAnnounceReply, parseScrapeReply } from '../../lib/protocol/http/client.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import { parseHttpResponse } from './http-response.js';
import { LEECHER_LEFT, LoadModel, flowSources, newPlannedRequest, sourceAddress, type FlowSources, type PlannedRequest } from './model.js';
import { Sfc32 } from './rng.js';
import { WindowRecorder } from './stats.js';
import type { HttpLoopOptions, LiveCounters, RunClock } from './worker-types.js';

const now = (): number => performance.timeOrigin + performance.now();

const K_NONE = 0;
const K_ANNOUNCE = 1;
const K_SCRAPE = 2;

/** How long a connection the server said it would close may linger before we close it ourselves. */
const LINGER_MS = 2000;
/** Pause before reopening after a connection failed without a reply (avoids a hot loop on a dead target). */
const RETRY_DELAY_MS = 50;

class HttpFlow {
  sock: net.Socket | null = null;
  connected = false;
  opened = 0;
  /** Requests answered on the current connection. */
  served = 0;
  pending: Buffer | null = null;
  untilCloseStart = -1;
  untilCloseStatus = 0;
  kind = K_NONE;
  sentAt = 0;
  request = '';
  /** The model source (client address) of the current connection and its requests. */
  source: number;
  /** Which of the slot's addresses the next connection comes from. */
  private turn = 0;
  /** Requests sent on the current connection, and whether the one in flight is its last. */
  private onConnection = 0;
  private last = false;
  retryTimer: NodeJS.Timeout | undefined;
  readonly rng: Sfc32;
  readonly plan: PlannedRequest = newPlannedRequest();
  readonly scrapeHashes: string[] = [];

  constructor(
    readonly loop: HttpLoop,
    readonly index: number,
    readonly sources: FlowSources,
  ) {
    this.rng = new Sfc32(loop.model.options.seed, 0x2000 + index);
    this.source = sources.first;
  }

  /** Plan and send the next request (on the open connection, or on a new one from the slot's next address). */
  next(): void {
    const loop = this.loop;
    if (!loop.running) return;
    const o = loop.cfg;
    const reuse = this.sock !== null && this.connected && this.onConnection < o.requestsPerConnection;
    if (!reuse) {
      const own = this.sources;
      this.source = own.first + this.turn * own.step;
      this.turn = this.turn + 1 === own.count ? 0 : this.turn + 1;
      this.onConnection = 0;
    }
    this.onConnection++;
    this.last = this.onConnection >= o.requestsPerConnection;
    const m = loop.model;
    const p = m.plan(this.rng, this.plan);
    let path: string;
    if (p.kind === 'announce') {
      this.kind = K_ANNOUNCE;
      path =
        o.announcePath +
        '?' +
        buildAnnounceQuery({
          infoHash: m.hash(p.torrent),
          peerId: m.peerId(this.source, p.portIndex),
          port: m.port(p.portIndex),
          uploaded: 0,
          downloaded: 0,
          left: p.seeder ? 0 : LEECHER_LEFT,
          event: AnnounceEvent.None,
          numwant: m.options.numwant,
          compact: true,
          key: (m.peerKey(this.source, p.portIndex) >>> 0).toString(16).padStart(8, '0'),
        });
    } else {
      this.kind = K_SCRAPE;
      const hashes = this.scrapeHashes;
      hashes.length = p.scrapeCount;
      for (let i = 0; i < p.scrapeCount; i++) hashes[i] = m.hash(p.scrapeTorrents[i]);
      path = o.scrapePath + '?' + buildScrapeQuery(hashes);
    }
    this.request =
      'GET ' + path + ' HTTP/1.1\r\nHost: ' + loop.hostHeader + (this.last ? '\r\nConnection: close\r\n\r\n' : '\r\n\r\n');
    this.sentAt = now();
    loop.sent(this.sentAt);
    if (reuse) {
      this.sock!.write(this.request, 'latin1');
    } else {
      this.open();
    }
  }

  open(): void {
    const loop = this.loop;
    if (this.opened++ > 0) loop.count('reconnects', now());
    const s = net.connect({
      host: loop.cfg.host,
      port: loop.cfg.port,
      localAddress: sourceAddress(loop.model.options, this.source),
      noDelay: true,
    });
    this.sock = s;
    this.connected = false;
    this.served = 0;
    this.onConnection = 1; // the request in hand (a resend after a stale keep-alive close, too)
    this.pending = null;
    this.untilCloseStart = -1;
    s.on('connect', () => {
      if (this.sock !== s) return;
      this.connected = true;
      s.write(this.request, 'latin1');
    });
    s.on('data', (chunk: Buffer) => {
      if (this.sock === s) this.onData(s, chunk);
    });
    s.on('end', () => {
      if (this.sock === s) this.onClosed(s, false);
      else s.destroy();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (this.sock === s) {
        if (!(this.served > 0 && (this.pending === null || this.pending.length === 0))) {
          loop.count('socketErrors', now());
          loop.noteError(`socket: ${e.code ?? e.message}`);
        }
        this.onClosed(s, true);
      }
      s.destroy();
    });
  }

  /** Forget the current connection; a connection the server is closing is left to finish closing. */
  detach(s: net.Socket, serverCloses: boolean): void {
    if (this.sock === s) this.sock = null;
    this.connected = false;
    this.pending = null;
    this.untilCloseStart = -1;
    if (serverCloses) {
      const t = setTimeout(() => s.destroy(), LINGER_MS);
      t.unref();
      s.once('close', () => clearTimeout(t));
    } else {
      s.destroy();
    }
  }

  onData(s: net.Socket, chunk: Buffer): void {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.kind === K_NONE) {
      this.loop.count('invalid', now()); // bytes nobody asked for
      this.detach(s, false);
      return;
    }
    if (this.untilCloseStart >= 0) {
      this.pending = buf;
      return;
    }
    const r = parseHttpResponse(buf);
    switch (r.state) {
      case 'incomplete':
        this.pending = buf;
        return;
      case 'until-close':
        this.pending = buf;
        this.untilCloseStart = r.bodyStart;
        this.untilCloseStatus = r.status;
        return;
      case 'error':
        this.loop.count('invalid', now());
        this.kind = K_NONE;
        this.detach(s, false);
        this.next();
        return;
      case 'complete': {
        const extra = buf.length > r.consumed;
        const reuse = !r.close && !extra && !this.last;
        this.served++;
        this.finish(r.status, r.body);
        if (reuse) this.pending = null;
        else this.detach(s, r.close || this.last);
        this.next();
        return;
      }
    }
  }

  /** The server closed the connection (or it failed). */
  onClosed(s: net.Socket, failed: boolean): void {
    if (this.untilCloseStart >= 0 && this.pending !== null && !failed) {
      const body = this.pending.subarray(this.untilCloseStart);
      const status = this.untilCloseStatus;
      this.detach(s, false);
      this.finish(status, body);
      this.next();
      return;
    }
    const hadRequest = this.kind !== K_NONE;
    // A kept-alive connection the server closed (FIN, or RST after our write) before any byte of the reply.
    const stale = this.served > 0 && (this.pending === null || this.pending.length === 0);
    this.detach(s, false);
    if (!hadRequest) return;
    if (stale) {
      // A kept-alive connection closed by the server between replies: resend on a new one.
      this.open();
      return;
    }
    // Failed mid-request: give up on this request, try again shortly.
    this.kind = K_NONE;
    if (!failed) {
      this.loop.count('socketErrors', now());
      this.loop.noteError('socket: closed before a complete reply');
    }
    this.retryLater();
  }

  retryLater(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.next();
    }, RETRY_DELAY_MS);
  }

  finish(status: number, body: Buffer): void {
    const loop = this.loop;
    const t = now();
    const latencyUs = (t - this.sentAt) * 1000;
    const kind = this.kind;
    this.kind = K_NONE;
    if (status !== 200) {
      loop.count('errors', t);
      loop.noteError(`HTTP ${status}`);
      return;
    }
    if (kind === K_ANNOUNCE) {
      const r = parseAnnounceReply(body);
      if (r.type === 'announce') {
        const peers = r.peers.length / 6 + r.peers6.length / 18 + (r.peerList ? r.peerList.length : 0);
        loop.reply('announces', t, latencyUs, peers);
      } else if (r.type === 'failure') {
        loop.count('errors', t);
        loop.noteError(r.reason);
      } else {
        loop.count('invalid', t);
        loop.noteError(`invalid: ${r.error}`);
      }
    } else {
      const r = parseScrapeReply(body);
      if (r.type === 'scrape') {
        loop.reply('scrapes', t, latencyUs, 0);
      } else if (r.type === 'failure') {
        loop.count('errors', t);
        loop.noteError(r.reason);
      } else {
        loop.count('invalid', t);
        loop.noteError(`invalid: ${r.error}`);
      }
    }
  }

  sweep(t: number, timeoutMs: number): void {
    if (this.kind !== K_NONE && t - this.sentAt > timeoutMs) {
      this.kind = K_NONE;
      this.loop.count('lost', t);
      if (this.sock) this.detach(this.sock, false);
      this.next();
    }
  }

  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.sock) this.sock.destroy();
    this.sock = null;
  }
}

export class HttpLoop extends WindowRecorder {
  readonly flows: HttpFlow[] = [];
  running = false;
  readonly hostHeader: string;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly cfg: HttpLoopOptions,
    readonly model: LoadModel,
    live: LiveCounters,
  ) {
    super(live);
    this.hostHeader = (cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host) + ':' + cfg.port;
    const m = model.options;
    for (let i = 0; i < cfg.connections; i++) {
      const index = cfg.firstConnection + i;
      this.flows.push(new HttpFlow(this, index, flowSources(m.sources, cfg.totalConnections, index)));
    }
  }

  start(clock: RunClock): void {
    this.setWindow(clock);
    this.running = true;
    for (const f of this.flows) f.next();
    const period = Math.max(10, Math.min(100, this.cfg.timeoutMs / 4));
    this.sweepTimer = setInterval(() => {
      const t = now();
      for (const f of this.flows) f.sweep(t, this.cfg.timeoutMs);
    }, period);
  }

  stop(): void {
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const f of this.flows) f.close();
  }

}
