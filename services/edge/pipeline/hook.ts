/**
 * What a request hook is, and what it may do to a request.
 *
 * Pre-hooks run on the edge, in the configured order (hooks.order), on every
 * announce of every protocol: each looks at the announce as the frontend
 * parsed it (the domain model, never a protocol's bytes) and either refuses
 * it, with a reason the client is shown, or lets it through, possibly adding
 * to its context (what the swarm is asked to do, how the reply is changed).
 * They are synchronous and read only memory: anything a hook loads (keys,
 * lists) is refreshed in the background, so the all-in-one tracker answers
 * within the request's own event-loop turn and HTTP pipelining keeps working.
 *
 * Post-hooks run after the reply has gone to the client and cannot change
 * it (see RequestPipeline).
 *
 * Writing a hook (services/edge/hooks/ has one per file; create-hooks.ts
 * builds them):
 * - Config: its own section, hooks.<name> in lib/runtime/config.ts, with
 *   its name in HOOK_NAMES; checks between keys (what it needs when it is
 *   listed in hooks.order) in checkHooks there. create-hooks.ts passes the
 *   section's values to its constructor, with the counters it needs
 *   (`metrics.limitCounter('<config key>')` for a limit, bound once) and
 *   anything the edge shares (the access list).
 * - State: whatever it loads (keys, lists, users) it loads in `start`,
 *   before the edge listens (a failure stops the start, naming the hook),
 *   refreshes in the background on its own timer or file watch, and again
 *   in `reload` (SIGHUP); a failed refresh keeps the state in force. The
 *   request path reads only memory: `announce` never awaits.
 * - Reading the request: everything the client sent is on HookAnnounce
 *   (lib/tracker/announce.ts, webtorrent.ts): peer_id, address, uploaded,
 *   downloaded, left, and `params` (the announce URL's path and extra query
 *   keys, whatever the protocol carried them in). `params` parses lazily:
 *   read it only when the hook needs it.
 * - Refusing: return a Refusal built once (`refusal(reason)`); its reason
 *   is what the client shows, so it must say what to do and never echo
 *   secrets. Refusals are counted per hook (tracker_hook_refusals_total).
 * - Adding context: write a field of AnnounceContext. What the swarm must
 *   know travels on the announce: a field in AnnounceContext, `applyTo`
 *   copying it onto the request, the field in lib/tracker/announce.ts
 *   AnnounceRequest and in proto/tracker.proto AnnounceRequest, then the
 *   codec (lib/transport/grpc/codec.ts; a test compares it with proto/).
 *   A passkey hook, for example, would set a user id there for the swarm's
 *   accounting.
 */
import type { AnnounceRequest, ClientAnnounce } from '../../../lib/tracker/announce.js';
import type { RequestParams } from '../../../lib/tracker/params.js';
import type { ErrorReply, SwarmReply } from '../../../lib/tracker/swarm.js';
import type { ClientWtAnnounce } from '../../../lib/tracker/webtorrent.js';

/** An announce as hooks see it: UDP or HTTP (`type: 'announce'`), or WebTorrent (`type: 'wt-announce'`). */
export type HookAnnounce = ClientAnnounce | ClientWtAnnounce;

/** A hook's refusal: the message is shown to the client (HTTP and WebSocket failure reason, UDP error packet). */
export interface Refusal extends ErrorReply {
  readonly denied: true;
}

/** A refusal to hand out again and again: build it once, when the hook is built. */
export function refusal(reason: string): Refusal {
  return Object.freeze({ type: 'error', message: reason, denied: true });
}

/**
 * What pre-hooks add to one announce. The pipeline clears it before each
 * announce and reads it once the hooks are done: the swarm gets the
 * same-subnet preference and the announce-rate floor with the request, and
 * the reply's intervals are moved by the deltas.
 */
export class AnnounceContext {
  /** Seconds added to the reply's interval. */
  intervalDelta = 0;
  /** Seconds added to the reply's min interval (UDP replies have none). */
  minIntervalDelta = 0;
  /** AnnounceRequest.sameSubnetBits: prefix length whose peers come first; 0 = none. */
  sameSubnetBits = 0;
  /** AnnounceRequest.minAnnounceSeconds: the swarm refuses a regular announce sooner than this after the last; 0 = none. */
  minAnnounceSeconds = 0;
  /** Private mode (the passkey hook): AnnounceRequest.userId; 0 = a public announce, and the fields below are not sent. */
  userId = 0;
  /** AnnounceRequest.uploaded / downloaded: the client's report, for the swarm's accounting. */
  uploaded = 0;
  downloaded = 0;
  /** AnnounceRequest.userUpMultiplier / userDownMultiplier. */
  userUpMultiplier = 1;
  userDownMultiplier = 1;
  /** AnnounceRequest.clientId: approved_clients.id of the peer_id's client. */
  clientId = 0;
  /** AnnounceRequest.hideAddress. */
  hideAddress = false;

  clear(): void {
    this.intervalDelta = 0;
    this.minIntervalDelta = 0;
    this.sameSubnetBits = 0;
    this.minAnnounceSeconds = 0;
    this.userId = 0;
    this.uploaded = 0;
    this.downloaded = 0;
    this.userUpMultiplier = 1;
    this.userDownMultiplier = 1;
    this.clientId = 0;
    this.hideAddress = false;
  }

  /** Puts what the swarm must know on the announce (UDP/HTTP; a WebTorrent announce carries none of it). */
  applyTo(announce: AnnounceRequest): void {
    announce.sameSubnetBits = this.sameSubnetBits;
    announce.minAnnounceSeconds = this.minAnnounceSeconds;
    // A public announce gets no private fields at all, so its shape (and its bytes on the wire) stay as they were.
    if (this.userId === 0) return;
    announce.userId = this.userId;
    announce.uploaded = this.uploaded;
    announce.downloaded = this.downloaded;
    announce.userUpMultiplier = this.userUpMultiplier;
    announce.userDownMultiplier = this.userDownMultiplier;
    announce.clientId = this.clientId;
    announce.hideAddress = this.hideAddress;
  }
}

export interface PreHook {
  /** The hook's name in hooks.order (and in logs and tracker_hook_refusals_total). */
  readonly name: string;
  /**
   * Checks one announce. Returns a Refusal to refuse it (the hooks after it
   * do not run), or undefined to let it through; may add to `context`. A
   * hook that throws refuses the announce with "internal error" (counted
   * and logged); it never takes the tracker down.
   */
  announce?(announce: HookAnnounce, context: AnnounceContext): Refusal | undefined;
  /**
   * Whether the tracker serves `infoHash` at all (undefined: yes). Scrapes
   * report refused hashes as unknown torrents (zeros) rather than failing,
   * and WebTorrent answers for them are refused.
   */
  torrent?(infoHash: string): Refusal | undefined;
  /**
   * Whether a scrape sent to `params` (its path: a passkey) is answered at
   * all (undefined: yes); a refusal is the scrape's reply.
   */
  scrape?(params: RequestParams): Refusal | undefined;
  /** Loads what the hook needs before the edge listens; a failure stops the start. */
  start?(): Promise<void>;
  /** Re-reads what the hook loaded (SIGHUP); keeps the old state on failure. */
  reload?(): Promise<void>;
  close?(): Promise<void> | void;
}

export interface PostHook {
  readonly name: string;
  /**
   * Sees an announce and the reply its client got (a refusal included),
   * after the reply has left: in the next turn of the event loop, never on
   * the way of any reply. Exceptions are counted and logged.
   */
  announce?(announce: HookAnnounce, reply: SwarmReply): void;
}
