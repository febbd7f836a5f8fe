/**
 * A swarm's check that a request is for slots it owns (see "Slot ownership"
 * in proto/tracker.proto). A batch stamped with the identity of the swarm's
 * own table was routed by the same table, so it is served without looking;
 * any other batch is checked request by request, and what the swarm does
 * not own is answered "moved" instead of being served from a table that
 * does not hold it.
 */
import { slotOf } from '../cluster/slot-table.js';
import type { MovedReply, SwarmRequest } from '../tracker/swarm.js';

/** What the check needs from a swarm's ownership (services/swarm/ownership.ts). */
export interface SlotOwner {
  /** SlotTable.identity of the swarm's current table (0: empty table). */
  readonly identity: number;
  owns(slot: number): boolean;
  /** Owner of `slot` under the swarm's table, or undefined when the table is empty. */
  ownerOfSlot(slot: number): string | undefined;
}

/** Whether a batch routed with `tableIdentity` must be checked request by request. */
export function mustCheck(owner: SlotOwner, tableIdentity: number): boolean {
  return tableIdentity === 0 || tableIdentity !== owner.identity;
}

const NO_OWNER: MovedReply = Object.freeze({ type: 'moved' });

/**
 * The moved reply for `request`, or undefined when `owner` owns every slot
 * it touches. A request over several info-hashes is moved as a whole when
 * any of them is not owned (the edge splits it again by its own table); its
 * reply names an owner only when one swarm owns all of them.
 */
export function movedReply(request: SwarmRequest, owner: SlotOwner): MovedReply | undefined {
  switch (request.type) {
    case 'announce':
    case 'wt-announce':
    case 'wt-answer': {
      const slot = slotOf(request.infoHash);
      return owner.owns(slot) ? undefined : moved(owner.ownerOfSlot(slot));
    }
    case 'scrape':
    case 'wt-scrape': {
      const hashes = request.infoHashes;
      let i = 0;
      while (i < hashes.length && owner.owns(slotOf(hashes[i]))) i++;
      if (i === hashes.length) return undefined;
      const other = owner.ownerOfSlot(slotOf(hashes[i]));
      for (let k = 0; k < hashes.length; k++) if (owner.ownerOfSlot(slotOf(hashes[k])) !== other) return NO_OWNER;
      return moved(other);
    }
    case 'wt-disconnect': {
      const peers = request.peers;
      let i = 0;
      while (i < peers.length && owner.owns(slotOf(peers[i].infoHash))) i++;
      if (i === peers.length) return undefined;
      const other = owner.ownerOfSlot(slotOf(peers[i].infoHash));
      for (let k = 0; k < peers.length; k++) if (owner.ownerOfSlot(slotOf(peers[k].infoHash)) !== other) return NO_OWNER;
      return moved(other);
    }
    default:
      return undefined;
  }
}

function moved(owner: string | undefined): MovedReply {
  return owner === undefined ? NO_OWNER : { type: 'moved', owner };
}
