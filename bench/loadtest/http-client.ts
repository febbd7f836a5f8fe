/**
 * HTTP load loop for one worker thread: `connections` TCP connections, each
 * from a loopback source address of the peer pool (localAddress), each with
 * exactly one request in flight (closed loop).
 *
 * Keep-alive mode sends HTTP/1.1 requests on a persistent connection and
 * reopens it only when the server closes it (trackers that close after every
 * reply, like opentracker, are followed transparently; every reopen counts in
 * `reconnects`). Connection-per-request mode sends `Connection: close` and
 * opens a new connection for every request. In both cases the next request
 * goes out as soon as a reply is complete; a connection the server is about
 * to close is left to close on the server's FIN (so TIME_WAIT stays on the
 * server side and the client's ephemeral ports are not exhausted).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { buildAnnounceQuery, buildScrapeQuery, parseAnnounceReply, parseScrapeReply } from '../../lib/protocol/http/client.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import { parseHttpResponse } from './http-response.js';
import { LEECHER_LEFT, LoadModel, newPlannedRequest, sourceAddress, type PlannedRequest } from './model.js';
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
  retryTimer: NodeJS.Timeout | undefined;
  readonly rng: Sfc32;
  readonly plan: PlannedRequest = newPlannedRequest();
  readonly scrapeHashes: string[] = [];

  constructor(
    readonly loop: HttpLoop,
    readonly index: number,
    readonly source: number,
  ) {
    this.rng = new Sfc32(loop.model.options.seed, 0x2000 + index);
  }

  /** Plan and send the next request (opening a connection if needed). */
  next(): void {
    const loop = this.loop;
    if (!loop.running) return;
    const m = loop.model;
    const p = m.plan(this.rng, this.plan);
    const o = loop.cfg;
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
      'GET ' + path + ' HTTP/1.1\r\nHost: ' + loop.hostHeader + (o.connectionPerRequest ? '\r\nConnection: close\r\n\r\n' : '\r\n\r\n');
    this.sentAt = now();
    loop.sent(this.sentAt);
    if (this.sock !== null && this.connected && !o.connectionPerRequest) {
      this.sock.write(this.request, 'latin1');
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
        const reuse = !r.close && !extra && !this.loop.cfg.connectionPerRequest;
        this.served++;
        this.finish(r.status, r.body);
        if (reuse) this.pending = null;
        else this.detach(s, r.close || this.loop.cfg.connectionPerRequest);
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
      this.flows.push(new HttpFlow(this, index, index % m.sources));
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
