/**
 * The edge's one way from a parsed request to its reply, whatever protocol
 * it came in by: pre-hooks in their configured order, then the swarm that
 * owns the torrent (through the router), then post-hooks once the reply has
 * left. Frontends parse and render; they call this once per request and
 * never the router or a hook themselves.
 *
 * Every method takes the request and `respond`, and calls `respond` exactly
 * once. It returns true when it already has (a hook refused, or the swarm
 * is in this process and answered at once: the all-in-one tracker), false
 * when the reply will come later (a swarm over gRPC): then the frontend
 * keeps what it needs to answer after its handler returns (UDP copies the
 * source address, HTTP watches for the client going away). Answering within
 * the handler is what keeps pipelined HTTP requests in order.
 */
import type { FailureSink } from '../../../lib/runtime/failures.js';
import type { AnnounceReply, ClientAnnounce } from '../../../lib/tracker/announce.js';
import { NO_PARAMS, type RequestParams } from '../../../lib/tracker/params.js';
import type { ScrapeRequest } from '../../../lib/tracker/scrape.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { ClientWtAnnounce, WtAnnounceReply, WtAnswerRequest, WtDisconnectRequest, WtScrapeRequest } from '../../../lib/tracker/webtorrent.js';
import { INTERNAL_ERROR } from '../../../lib/transport/replies.js';
import type { SwarmRouter } from '../router.js';
import { AnnounceContext, type HookAnnounce, type PostHook, type PreHook, type Refusal } from './hook.js';
import { ScrapeSelection } from './scrape-selection.js';

export type Respond = (reply: SwarmReply) => void;

/** Something counted (a bound counter child). */
export interface Count {
  inc(by?: number): void;
}

/** What the pipeline needs of the router (SwarmRouter): its two ways to a swarm, and flushing. */
export type SwarmClient = Pick<SwarmRouter, 'trySync' | 'request' | 'flush'>;

export interface PipelineOptions {
  router: SwarmClient;
  /** In the order they run. */
  preHooks?: readonly PreHook[];
  postHooks?: readonly PostHook[];
  /** Where exceptions thrown by hooks go (counted in tracker_internal_errors_total, logged rate-limited). */
  failures: FailureSink;
  /** The counter of refusals by the hook named `hook` (tracker_hook_refusals_total); bound once per hook. */
  refusals?: (hook: string) => Count;
}

const NOT_COUNTED: Count = { inc() {} };

export class RequestPipeline {
  private readonly router: SwarmClient;
  private readonly failures: FailureSink;
  /** Pre-hooks that look at announces, in order, and their refusal counters. */
  private readonly announceHooks: PreHook[];
  private readonly announceRefusals: Count[];
  /** Pre-hooks that decide which torrents are served (scrapes, WebTorrent answers). */
  private readonly torrentHooks: PreHook[];
  private readonly torrentRefusals: Count[];
  /** Pre-hooks that decide whether a scrape is answered at all (a passkey). */
  private readonly scrapeHooks: PreHook[];
  private readonly scrapeRefusals: Count[];
  private readonly postHooks: PostHook[];
  /** Cleared and filled for each announce; read before anything can run in between. */
  private readonly context = new AnnounceContext();
  /** Announces and their replies waiting for the post-hooks (parallel arrays), run at the next turn. */
  private postAnnounces: HookAnnounce[] = [];
  private postReplies: SwarmReply[] = [];

  constructor(options: PipelineOptions) {
    this.router = options.router;
    this.failures = options.failures;
    const counter = options.refusals ?? (() => NOT_COUNTED);
    const pre = options.preHooks ?? [];
    this.announceHooks = pre.filter((h) => h.announce !== undefined);
    this.announceRefusals = this.announceHooks.map((h) => counter(h.name));
    this.torrentHooks = pre.filter((h) => h.torrent !== undefined);
    this.torrentRefusals = this.torrentHooks.map((h) => counter(h.name));
    this.scrapeHooks = pre.filter((h) => h.scrape !== undefined);
    this.scrapeRefusals = this.scrapeHooks.map((h) => counter(h.name));
    this.postHooks = (options.postHooks ?? []).filter((h) => h.announce !== undefined);
  }

  /** A UDP or HTTP announce. */
  announce(request: ClientAnnounce, respond: Respond): boolean {
    if (this.announceHooks.length === 0 && this.postHooks.length === 0) return this.send(request, respond);
    const refused = this.admit(request);
    if (refused !== undefined) return this.refuse(request, refused, respond);
    const c = this.context;
    c.applyTo(request);
    return this.sendAdjusted(request, c.intervalDelta, c.minIntervalDelta, respond);
  }

  /** A WebTorrent announce (not an answer: see wtAnswer). */
  wtAnnounce(request: ClientWtAnnounce, respond: Respond): boolean {
    if (this.announceHooks.length === 0 && this.postHooks.length === 0) return this.send(request, respond);
    const refused = this.admit(request);
    if (refused !== undefined) return this.refuse(request, refused, respond);
    return this.sendAdjusted(request, this.context.intervalDelta, 0, respond);
  }

  /** A WebTorrent answer: refused for a torrent the tracker does not serve. */
  wtAnswer(request: WtAnswerRequest, respond: Respond): boolean {
    const refused = this.torrentHooks.length === 0 ? undefined : this.servesTorrent(request.infoHash);
    if (refused !== undefined) {
      respond(refused);
      return true;
    }
    return this.send(request, respond);
  }

  /**
   * A UDP/HTTP or WebTorrent scrape. The reply lists every requested hash in
   * order; hashes a hook refused are reported as unknown torrents (zeros).
   * `params` is where the scrape was sent (a passkey's path), for the hooks
   * that refuse whole scrapes.
   */
  scrape(request: ScrapeRequest | WtScrapeRequest, respond: Respond, params: RequestParams = NO_PARAMS): boolean {
    if (this.scrapeHooks.length > 0) {
      const refused = this.refusesScrape(params);
      if (refused !== undefined) {
        respond(refused);
        return true;
      }
    }
    if (this.torrentHooks.length === 0) return this.send(request, respond);
    const selection = new ScrapeSelection(request.infoHashes, (hash) => this.servesTorrent(hash) === undefined);
    if (selection.allowed.length === request.infoHashes.length) return this.send(request, respond);
    const type = request.type;
    if (selection.allowed.length === 0) {
      respond({ type, files: selection.spread([]) });
      return true;
    }
    return this.send({ type, infoHashes: selection.allowed }, (reply) => {
      respond(reply.type === type ? { type, files: selection.spread(reply.files) } : reply);
    });
  }

  /** A WebTorrent socket closed: its peers leave. No hook may keep them. */
  wtDisconnect(request: WtDisconnectRequest, respond: Respond): boolean {
    return this.send(request, respond);
  }

  /** Sends what waits for the swarms now (shutdown). */
  flush(): void {
    this.router.flush();
  }

  // ------------------------------------------------------------ internals

  /** Runs the announce hooks in order; the first refusal wins. The context holds what the admitting hooks added. */
  private admit(announce: HookAnnounce): Refusal | typeof INTERNAL_ERROR | undefined {
    const hooks = this.announceHooks;
    const context = this.context;
    context.clear();
    for (let i = 0; i < hooks.length; i++) {
      let refused: Refusal | undefined;
      try {
        refused = hooks[i].announce!(announce, context);
      } catch (error) {
        this.failures.report(error, { hook: hooks[i].name, request: announce.type });
        return INTERNAL_ERROR;
      }
      if (refused !== undefined) {
        this.announceRefusals[i].inc();
        return refused;
      }
    }
    return undefined;
  }

  /** The first scrape hook's refusal of a scrape sent to `params`, if any. */
  private refusesScrape(params: RequestParams): Refusal | typeof INTERNAL_ERROR | undefined {
    const hooks = this.scrapeHooks;
    for (let i = 0; i < hooks.length; i++) {
      let refused: Refusal | undefined;
      try {
        refused = hooks[i].scrape!(params);
      } catch (error) {
        this.failures.report(error, { hook: hooks[i].name, request: 'scrape' });
        return INTERNAL_ERROR;
      }
      if (refused !== undefined) {
        this.scrapeRefusals[i].inc();
        return refused;
      }
    }
    return undefined;
  }

  /** The first torrent hook's refusal of `infoHash`, if any. */
  private servesTorrent(infoHash: string): Refusal | typeof INTERNAL_ERROR | undefined {
    const hooks = this.torrentHooks;
    for (let i = 0; i < hooks.length; i++) {
      let refused: Refusal | undefined;
      try {
        refused = hooks[i].torrent!(infoHash);
      } catch (error) {
        this.failures.report(error, { hook: hooks[i].name, request: 'torrent' });
        return INTERNAL_ERROR;
      }
      if (refused !== undefined) {
        this.torrentRefusals[i].inc();
        return refused;
      }
    }
    return undefined;
  }

  private refuse(announce: HookAnnounce, reply: SwarmReply, respond: Respond): true {
    respond(reply);
    if (this.postHooks.length > 0) this.afterReply(announce, reply);
    return true;
  }

  /** To the swarm; the reply's intervals moved by what the hooks added, and the post-hooks told. */
  private sendAdjusted(announce: HookAnnounce, intervalDelta: number, minIntervalDelta: number, respond: Respond): boolean {
    if (intervalDelta === 0 && minIntervalDelta === 0 && this.postHooks.length === 0) return this.send(announce, respond);
    return this.send(announce, (reply) => {
      const adjusted = intervalDelta === 0 && minIntervalDelta === 0 ? reply : withIntervals(reply, intervalDelta, minIntervalDelta);
      respond(adjusted);
      if (this.postHooks.length > 0) this.afterReply(announce, adjusted);
    });
  }

  /** The router's two ways: now, when the swarm is in this process; else later. */
  private send(request: SwarmRequest, respond: Respond): boolean {
    const now = this.router.trySync(request);
    if (now !== undefined) {
      respond(now);
      return true;
    }
    this.router.request(request, respond);
    return false;
  }

  private afterReply(announce: HookAnnounce, reply: SwarmReply): void {
    if (this.postAnnounces.length === 0) setImmediate(this.runPostHooks);
    this.postAnnounces.push(announce);
    this.postReplies.push(reply);
  }

  private readonly runPostHooks = (): void => {
    const announces = this.postAnnounces;
    const replies = this.postReplies;
    this.postAnnounces = [];
    this.postReplies = [];
    for (const hook of this.postHooks) {
      for (let i = 0; i < announces.length; i++) {
        try {
          hook.announce!(announces[i], replies[i]);
        } catch (error) {
          this.failures.report(error, { hook: hook.name, request: announces[i].type, post: true });
        }
      }
    }
  };
}

/** `reply` with its intervals moved (announce replies only; anything else as it is). */
function withIntervals(reply: SwarmReply, intervalDelta: number, minIntervalDelta: number): SwarmReply {
  if (reply.type === 'announce') {
    const r: AnnounceReply = { ...reply, interval: reply.interval + intervalDelta, minInterval: reply.minInterval + minIntervalDelta };
    return r;
  }
  if (reply.type === 'wt-announce') {
    const r: WtAnnounceReply = { ...reply, interval: reply.interval + intervalDelta };
    return r;
  }
  return reply;
}
