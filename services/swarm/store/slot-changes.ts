/**
 * Which slots changed (a peer added, refreshed, removed or expired), for
 * whoever must copy them elsewhere: the snapshot writer, and a handoff that
 * pushes what changed since it began. Slot = first two bytes of the
 * info-hash (lib/cluster/slot-table.ts).
 *
 * Marking is on the announce path, so it is one typed-array store: each
 * slot keeps the epoch of its last change. Each reader holds a cursor; a
 * take starts a new epoch and returns the slots stamped since the
 * cursor's previous take, found by one scan of the 65,536 stamps (~50 us,
 * once per snapshot pass). Unlike one shared dirty bit per slot, any number
 * of readers see every change, and none steals another's.
 *
 * Epochs are uint32 and advance once per take: at one take a second,
 * 136 years.
 */
import { SLOT_COUNT } from '../../../lib/cluster/slot-table.js';

export class SlotChanges {
  /** Epoch of each slot's last change; 0 = none since start. */
  private readonly stamps = new Uint32Array(SLOT_COUNT);
  /** Stamped on changes now; takes move it on. */
  private epoch = 1;

  /** Slot `slot` (0..65535) changed. */
  mark(slot: number): void {
    this.stamps[slot] = this.epoch;
  }

  /** The slot of a 20-char latin1 info-hash changed. */
  markHash(infoHash: string): void {
    this.stamps[((infoHash.charCodeAt(0) & 0xff) << 8) | (infoHash.charCodeAt(1) & 0xff)] = this.epoch;
  }

  /** A reader that sees the changes made from now on. */
  cursor(): SlotChangeCursor {
    return new SlotChangeCursor(this, this.epoch);
  }

  /** Slots stamped in [from, now], ascending; starts a new epoch. Returns the epoch the next take starts from. */
  collect(from: number, out: number[]): number {
    const upTo = this.epoch++;
    const stamps = this.stamps;
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      const s = stamps[slot];
      if (s >= from && s !== 0) out.push(slot);
    }
    return upTo + 1;
  }
}

export class SlotChangeCursor {
  constructor(
    private readonly changes: SlotChanges,
    private from: number,
  ) {}

  /** Slots changed since the previous take (or since the cursor was made), ascending. */
  take(): number[] {
    const out: number[] = [];
    this.from = this.changes.collect(this.from, out);
    return out;
  }
}
