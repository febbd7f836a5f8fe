import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import {
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  parseAnnounceQuery,
  parseScrapeQuery,
} from '../../../lib/protocol/http/server.js';
import { compactEndpoint } from '../../../lib/net/ip.js';
import type { ClientAnnounce } from '../../../lib/tracker/announce.js';
import { NO_PARAMS, PathOnly, type RequestParams } from '../../../lib/tracker/params.js';
import { ANNOUNCE_PATH } from '../../../lib/protocol/query.js';
import type { ScrapeRequest } from '../../../lib/tracker/scrape.js';
import type { SwarmReply } from '../../../lib/tracker/swarm.js';
import { describeFailure } from '../../../lib/transport/replies.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import { RequestCounters, type RequestResult, type TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { HistogramChild } from '../../../lib/runtime/fast-metrics.js';
import type { RequestPipeline, Respond } from '../pipeline/pipeline.js';
import type { ClientAddressResolver } from './client-address.js';

export interface HttpFrontendOptions {
  maxQueryBytes: number;
  maxScrapeHashes: number;
  clientAddress: ClientAddressResolver;
  /** Hooks, then the swarm: every announce and scrape goes through it. */
  pipeline: RequestPipeline;
  /**
   * Private mode: also answer /<passkey>/announce and /<passkey>/scrape (the
   * passkey hook reads the path). Metrics label them announce and scrape:
   * a passkey never becomes a label.
   */
  passkeyRoutes?: boolean;
  metrics: TrackerMetrics;
  logger: Logger;
}

type Action = 'announce' | 'scrape';

const NON_ASCII = /[^\x00-\x7f]/;
const RAW_BYTES_FAILURE = 'query contains raw bytes that are not valid UTF-8: percent-encode info_hash and peer_id';

/**
 * The query as the client sent it, one char per byte, as the codec expects.
 * uWebSockets.js hands the query over decoded as UTF-8. Clients percent-encode
 * binary values, so the query is almost always ASCII and passes untouched; raw
 * bytes that formed valid UTF-8 are recovered exactly, and raw bytes that did
 * not were replaced by U+FFFD inside uWebSockets.js and cannot be recovered,
 * so such a request is refused rather than stored under a wrong info-hash.
 */
function rawQuery(query: string): string | null {
  if (!NON_ASCII.test(query)) return query;
  if (query.includes('\ufffd')) return null;
  return Buffer.from(query, 'utf8').toString('latin1');
}

/**
 * BEP 3/23/7/48 over uWebSockets.js: GET /announce and GET /scrape.
 * Every tracker-level problem is a bencoded failure with status 200, as
 * clients expect; only unknown paths get a plain 404. A response is written
 * exactly once, and never after the client went away.
 */
export class HttpFrontend {
  private pending = 0;
  private readonly counters: RequestCounters;
  private readonly latency: Record<Action, HistogramChild>;

  constructor(private readonly options: HttpFrontendOptions) {
    const m = options.metrics;
    this.counters = new RequestCounters(m, 'http', [
      ['announce', 'ok'],
      ['announce', 'error'],
      ['announce', 'unavailable'],
      ['announce', 'denied'],
      ['scrape', 'ok'],
      ['scrape', 'error'],
      ['scrape', 'unavailable'],
    ]);
    this.latency = { announce: m.latencyHistogram('http', 'announce'), scrape: m.latencyHistogram('http', 'scrape') };
  }

  get inFlight(): number {
    return this.pending;
  }

  register(app: TemplatedApp): void {
    app.get('/announce', (res, req) => this.onAnnounce(res, req, ANNOUNCE_PATH));
    app.get('/scrape', (res, req) => this.onScrape(res, req, NO_PARAMS));
    if (this.options.passkeyRoutes === true) {
      app.get('/:passkey/announce', (res, req) => this.onAnnounce(res, req, req.getUrl()));
      app.get('/:passkey/scrape', (res, req) => this.onScrape(res, req, new PathOnly(req.getUrl())));
    }
  }

  private count(action: Action, result: RequestResult): void {
    this.counters.inc(action, result);
  }

  /**
   * What /announce and /scrape do before parsing: recover the raw query and
   * bound its size. (WebSocket upgrades never get here: the WebSocket route
   * sees every request first and passes on those that are not upgrades.) Returns the query, or null when
   * the request is not this handler's to answer or has been answered already.
   */
  private acceptQuery(res: HttpResponse, req: HttpRequest, action: Action): string | null {
    const query = rawQuery(req.getQuery() ?? '');
    if (query === null) {
      this.fail(res, action, RAW_BYTES_FAILURE);
      return null;
    }
    if (query.length > this.options.maxQueryBytes) {
      this.fail(res, action, `query string longer than ${this.options.maxQueryBytes} bytes`);
      return null;
    }
    return query;
  }

  private onAnnounce(res: HttpResponse, req: HttpRequest, path: string): void {
    const started = performance.now();
    const query = this.acceptQuery(res, req, 'announce');
    if (query === null) return;
    const parsed = parseAnnounceQuery(query, path);
    if (!parsed.ok) {
      this.fail(res, 'announce', parsed.error);
      return;
    }
    const params = parsed.value;
    const address = this.options.clientAddress.resolve(new Uint8Array(res.getRemoteAddress()), req);
    const request: ClientAnnounce = {
      type: 'announce',
      infoHash: params.infoHash,
      peerId: params.peerId,
      endpoint: compactEndpoint(address, params.port),
      event: params.event,
      left: params.left,
      numwant: params.numwant,
      sameSubnetBits: 0,
      minAnnounceSeconds: 0,
      uploaded: params.uploaded,
      downloaded: params.downloaded,
      params: params.params,
    };
    const compact = params.compact;
    const peerLength = address.length === 4 ? 6 : 18;
    const respond = (reply: SwarmReply): void => {
      if (reply.type !== 'announce') {
        const failure = describeFailure(reply);
        this.fail(res, 'announce', failure.message, failure.result);
        return;
      }
      const body = encodeAnnounceReply({
        interval: reply.interval,
        minInterval: reply.minInterval,
        complete: reply.complete,
        incomplete: reply.incomplete,
        downloaded: reply.downloaded,
        peers: reply.peers,
        peerLength,
        compact,
      });
      this.ok(res, 'announce', body, started);
    };
    this.dispatch(res, request, respond);
  }

  /** `params`: where the scrape was sent, for the hooks that refuse whole scrapes (a passkey). */
  private onScrape(res: HttpResponse, req: HttpRequest, sentTo: RequestParams): void {
    const started = performance.now();
    const query = this.acceptQuery(res, req, 'scrape');
    if (query === null) return;
    const parsed = parseScrapeQuery(query, this.options.maxScrapeHashes);
    if (!parsed.ok) {
      this.fail(res, 'scrape', parsed.error);
      return;
    }
    if (parsed.infoHashes.length === 0) {
      this.fail(res, 'scrape', 'full scrapes are not allowed');
      return;
    }
    const hashes = parsed.infoHashes;
    const respond = (reply: SwarmReply): void => {
      if (reply.type !== 'scrape') {
        const failure = describeFailure(reply);
        this.fail(res, 'scrape', failure.message, failure.result);
        return;
      }
      const files = reply.files;
      const body = encodeScrapeReply(hashes.map((hash, i) => [hash, files[i]] as const));
      this.ok(res, 'scrape', body, started);
    };
    const request: ScrapeRequest = { type: 'scrape', infoHashes: hashes };
    this.dispatch(res, request, respond, sentTo);
  }

  /**
   * Hands `request` to the pipeline: a reply given within the call is
   * written inside this handler, which keeps pipelined requests in order; a
   * later one (a swarm over gRPC) is written corked, unless the client went
   * away meanwhile.
   */
  private dispatch(res: HttpResponse, request: ClientAnnounce | ScrapeRequest, respond: Respond, sentTo?: RequestParams): void {
    let later = false;
    let aborted = false;
    const pipeline = this.options.pipeline;
    const answer = (reply: SwarmReply): void => {
      if (!later) {
        respond(reply);
        return;
      }
      this.pending--;
      if (aborted) return;
      res.cork(() => respond(reply));
    };
    const answered = request.type === 'announce' ? pipeline.announce(request, answer) : pipeline.scrape(request, answer, sentTo);
    if (answered) return;
    later = true;
    res.onAborted(() => {
      aborted = true;
    });
    this.pending++;
  }

  private ok(res: HttpResponse, action: Action, body: Uint8Array, started: number): void {
    res.writeHeader('Content-Type', 'text/plain').end(body);
    this.count(action, 'ok');
    this.latency[action].observe((performance.now() - started) / 1000);
  }

  private fail(res: HttpResponse, action: Action, reason: string, result: RequestResult = 'error'): void {
    res.writeHeader('Content-Type', 'text/plain').end(encodeFailure(reason));
    this.count(action, result);
  }
}
