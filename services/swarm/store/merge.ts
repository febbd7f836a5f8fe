/**
 * How state imported from elsewhere (a snapshot, another swarm's handoff)
 * merges into what a swarm holds. The rules make the result independent of
 * the order of imports, and importing the same thing twice changes nothing:
 *
 * - a peer held on both sides: the later last-seen wins, with that side's
 *   seeder state (and, for WebTorrent, socket); on equal times a fixed
 *   order decides; "completed" is kept if either side has it, so the peer's
 *   next completed event is not counted again;
 * - a torrent's completed count (`downloaded`): the larger of the two, never
 *   their sum (both sides may have counted the same peers);
 * - expired peers are never imported; last-seen times from a clock ahead of
 *   ours are taken as now;
 * - the store's caps hold: what does not fit is refused and counted in the
 *   cap's `tracker_limit_hits_total`.
 */

/** What merging one imported peer did. */
export const enum Merge {
  /** A new peer. */
  Added,
  /** Already held: merged by the rules above. */
  Merged,
  /** Not added: a store cap (counted in its limit counter). */
  Refused,
}
