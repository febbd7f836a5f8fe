/**
 * The snapshot scheduler's view of a swarm (its SlotSource): the slots it
 * owns, the slots changed since the last pass, and each slot's state as
 * bytes (store/slot-state.ts).
 */
import { SLOT_COUNT } from '../../../lib/cluster/slot-table.js';
import type { SlotChangeCursor, SlotChanges } from '../store/slot-changes.js';
import type { ChunkWriter } from '../store/slot-codec.js';
import type { SlotState } from '../store/slot-state.js';
import type { SlotSource } from './scheduler.js';

/** Which slots this swarm owns now (the cluster's Ownership has this method). */
export interface SlotOwnership {
  owns(slot: number): boolean;
}

/** All-in-one, or a swarm that is the only one: every slot. */
export const EVERY_SLOT: SlotOwnership = Object.freeze({ owns: () => true });

export class SwarmSlotSource implements SlotSource {
  private readonly changed: SlotChangeCursor;
  private readonly writer: ChunkWriter;

  /**
   * `restoreOwnership`: the slots read at start, when they differ from
   * what `ownership` says then (a swarm that is not a ready member yet owns
   * nothing by the table; it restores the slots of the table it is joining).
   */
  constructor(
    private readonly state: SlotState,
    changes: SlotChanges,
    private readonly ownership: SlotOwnership,
    private readonly restoreOwnership: SlotOwnership = ownership,
  ) {
    // Changes from now on: what the store holds before the first pass is what the restore brought.
    this.changed = changes.cursor();
    this.writer = state.newWriter();
  }

  ownedSlots(): number[] {
    return slotsOwnedBy(this.ownership);
  }

  slotsToRestore(): number[] {
    return slotsOwnedBy(this.restoreOwnership);
  }

  takeDirty(): number[] {
    return this.changed.take();
  }

  exportSlot(slot: number): Iterable<Uint8Array> {
    return this.state.exportSlot(slot, this.writer);
  }

  /** Peers kept (added or merged); throws SlotChunkError for bytes it cannot read. */
  importSlot(slot: number, bytes: Uint8Array): number {
    return this.state.importSlotValue(slot, bytes).peers;
  }
}

function slotsOwnedBy(ownership: SlotOwnership): number[] {
  const out: number[] = [];
  for (let slot = 0; slot < SLOT_COUNT; slot++) if (ownership.owns(slot)) out.push(slot);
  return out;
}
