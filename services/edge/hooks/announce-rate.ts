/**
 * Announce-rate floor: a peer may make one regular announce (no event) per
 * torrent every `minSeconds`; a sooner one is refused with a failure saying
 * how long to wait. `started`, `stopped` and `completed` always pass, so a
 * client can always join, leave and report a finished download.
 *
 * The floor is enforced where the peer's previous announce is known:
 * - UDP and HTTP peers live on the swarm that owns the torrent (any edge may
 *   see a client's next announce), so the hook puts the floor on the
 *   request (AnnounceRequest.minAnnounceSeconds) and the swarm compares it
 *   with the time it last saw that peer;
 * - a WebTorrent peer lives on the socket that announced it, on this edge,
 *   which knows when that socket last announced it (sinceLastAnnounce).
 * Either way nothing is kept for the floor alone. Refusals are counted in
 * tracker_limit_hits_total{limit="hooks.announceRate.minSeconds"}.
 */
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { Count } from '../pipeline/pipeline.js';
import { refusal, type AnnounceContext, type HookAnnounce, type PreHook, type Refusal } from '../pipeline/hook.js';

export class AnnounceRate implements PreHook {
  readonly name = 'announceRate';
  private readonly tooSoon: Refusal;

  constructor(
    private readonly minSeconds: number,
    private readonly hits: Count,
  ) {
    // The same words as the swarm's refusal (services/swarm/store/swarm-store.ts).
    this.tooSoon = refusal(`announced too soon: this tracker takes one announce per torrent every ${minSeconds} seconds; wait and announce again`);
  }

  announce(announce: HookAnnounce, context: AnnounceContext): Refusal | undefined {
    if (announce.type === 'announce') {
      context.minAnnounceSeconds = this.minSeconds;
      return undefined;
    }
    if (announce.event !== AnnounceEvent.None || announce.sinceLastAnnounce >= this.minSeconds) return undefined;
    this.hits.inc();
    return this.tooSoon;
  }
}
