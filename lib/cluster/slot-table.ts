/**
 * Slot routing: slot = first two bytes of the info-hash (0..65535); slot ->
 * swarm member by rendezvous hashing (HRW) over member names, precomputed
 * into a 65,536-entry table whenever membership changes. Lookups are one
 * array index.
 *
 * HRW score(member, slot) = murmur3_32 of the 8-byte message
 * (hash32(memberName), slot) — the murmur3 body step run twice and its fmix32
 * finalizer. The slot half of the mixing is precomputed once per process, so
 * building a table costs about (#members x 65,536) x (one xor, one rotate, one
 * multiply-add and fmix32). Ties (probability ~N/2^32 per slot) go to the
 * member that sorts first, so the table is a pure function of the member set.
 *
 * Properties that follow from HRW (and are tested):
 *  - determinism: the same set of names in any order gives the same table;
 *  - minimal movement: adding a member moves only slots *to* it (~1/N of
 *    them); removing one moves only *its* slots, spread over the rest;
 *  - balance: each member owns ~65536/N slots (binomial spread).
 *
 * Member identity is a stable name (the StatefulSet pod name), never an IP:
 * a pod restarted with a new IP keeps its slots.
 *
 * Empty member list: `SlotTable.build([])` is allowed (a cluster with no
 * ready swarm). Then `ownerOf()` / `ownerOfSlot()` return `undefined` and
 * `ownerIndex()` returns -1; callers must answer "no swarm available"
 * (a hot-path `undefined` check is cheaper than a throw per request).
 */
import { fmix32, murmur3MixKey, murmur3Round } from '../crypto/murmur3.js';

export const SLOT_COUNT = 65536;
/** Upper bound on members: owner indexes are stored in a Uint16Array. */
export const MAX_MEMBERS = 65535;

/**
 * Slot of a 20-byte info-hash held as a 20-char latin1 ("binary") string.
 * No validation (hot path): the caller has already checked the length.
 * Each char is masked to a byte so a malformed string still yields 0..65535.
 */
export function slotOf(infoHash: string): number {
  return ((infoHash.charCodeAt(0) & 0xff) << 8) | (infoHash.charCodeAt(1) & 0xff);
}

/** Slot of an info-hash held as bytes. */
export function slotOfBytes(infoHash: Uint8Array): number {
  return (infoHash[0] << 8) | infoHash[1];
}

const NAME_SEED = 0x5bd1e995;
const SCORE_SEED = 0x9747b28c;

const utf8 = new TextEncoder();

/** murmur3_32 of the UTF-8 bytes of `s`. */
export function hashName(s: string, seed = NAME_SEED): number {
  const bytes = utf8.encode(s);
  const n = bytes.length;
  let h = seed | 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    h = murmur3Round(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  }
  const tail = n & 3;
  if (tail > 0) {
    let k = bytes[i];
    if (tail > 1) k |= bytes[i + 1] << 8;
    if (tail > 2) k |= bytes[i + 2] << 16;
    h ^= murmur3MixKey(k);
  }
  return fmix32(h ^ n);
}

/** Per-member half of the score: the murmur3 state after the name-hash block. */
function memberState(name: string): number {
  return murmur3Round(SCORE_SEED, hashName(name));
}

let slotKeys: Uint32Array | undefined;
/** murmur3MixKey(slot) for every slot; computed once (256 KiB). */
function slotMixTable(): Uint32Array {
  if (slotKeys === undefined) {
    slotKeys = new Uint32Array(SLOT_COUNT);
    for (let s = 0; s < SLOT_COUNT; s++) slotKeys[s] = murmur3MixKey(s);
  }
  return slotKeys;
}

/**
 * HRW score of `member` for `slot` (the same value the table build uses).
 * Exposed for tests and diagnostics; never called per request.
 */
export function hrwScore(member: string, slot: number): number {
  return fmix32(murmur3Round(memberState(member), slot) ^ 8);
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const IDENTITY_SEED_HIGH = 0x1b873593;
const IDENTITY_SEED_LOW = 0xcc9e2d51;

/** 52-bit identity of a sorted member list: two seeded murmur3 hashes of the names, NUL-separated. */
function tableIdentity(sorted: readonly string[]): number {
  if (sorted.length === 0) return 0;
  // NUL cannot occur in a member name, so ["a", "b"] and ["a\0b"] never meet.
  const joined = sorted.join('\u0000');
  const high = hashName(joined, IDENTITY_SEED_HIGH) & 0xfffff;
  const low = hashName(joined, IDENTITY_SEED_LOW) >>> 0;
  const identity = high * 2 ** 32 + low;
  return identity === 0 ? 1 : identity;
}

export class SlotTable {
  /** Member names, sorted by UTF-16 code units (not locale). Index = owner index. */
  readonly members: readonly string[];
  /** Caller-supplied generation (e.g. the membership snapshot version). */
  readonly epoch: number | undefined;
  /**
   * The same number on every process for the same member set, whatever the
   * order or the process (unlike `epoch`): edges stamp requests with it and a
   * swarm whose table has another identity checks ownership itself. A 52-bit
   * hash of the sorted names (so it survives a double and a uint64 field);
   * 0 for the empty table.
   */
  readonly identity: number;
  private readonly owners: Uint16Array;
  private readonly index: ReadonlyMap<string, number>;

  private constructor(members: readonly string[], owners: Uint16Array, epoch: number | undefined) {
    this.members = members;
    this.owners = owners;
    this.epoch = epoch;
    this.identity = tableIdentity(members);
    this.index = new Map(members.map((m, i) => [m, i]));
  }

  /**
   * Builds the table for `members` (any order). Throws on an empty or
   * non-string name, on duplicates, and above MAX_MEMBERS members.
   */
  static build(members: readonly string[], epoch?: number): SlotTable {
    if (members.length > MAX_MEMBERS) {
      throw new RangeError(`slot table: ${members.length} members exceeds the maximum of ${MAX_MEMBERS}`);
    }
    const sorted = [...members].sort(byCodeUnits);
    for (let i = 0; i < sorted.length; i++) {
      const name = sorted[i];
      if (typeof name !== 'string' || name.length === 0) {
        throw new TypeError(`slot table: member names must be non-empty strings, got ${JSON.stringify(name)}`);
      }
      if (i > 0 && sorted[i - 1] === name) {
        throw new Error(`slot table: duplicate member name ${JSON.stringify(name)}`);
      }
    }
    Object.freeze(sorted);

    const owners = new Uint16Array(SLOT_COUNT);
    if (sorted.length > 1) {
      const keys = slotMixTable();
      const best = new Uint32Array(SLOT_COUNT);
      // Member 0 initialises every slot; later members win only on a strictly
      // higher score, so ties go to the lower index (the name that sorts first).
      for (let m = 0; m < sorted.length; m++) {
        const a = memberState(sorted[m]);
        const first = m === 0;
        for (let s = 0; s < SLOT_COUNT; s++) {
          // murmur3Round(a, s) with the slot's key mix taken from the table.
          const k = a ^ keys[s];
          const h = fmix32((Math.imul((k << 13) | (k >>> 19), 5) + 0xe6546b64) ^ 8);
          if (h > best[s] || first) {
            best[s] = h;
            owners[s] = m;
          }
        }
      }
    }
    return new SlotTable(sorted, owners, epoch);
  }

  /** Number of members. */
  get size(): number {
    return this.members.length;
  }

  /** Owner index (into `members`) of `slot`, or -1 when there are no members. */
  ownerIndex(slot: number): number {
    return this.members.length === 0 ? -1 : this.owners[slot];
  }

  /** Owner name of `slot`, or undefined when there are no members. */
  ownerOfSlot(slot: number): string | undefined {
    return this.members[this.owners[slot]];
  }

  /** Owner name of an info-hash (20-char latin1 string), or undefined when there are no members. */
  ownerOf(infoHash: string): string | undefined {
    return this.members[this.owners[slotOf(infoHash)]];
  }

  /** Index of `member` in `members`, or -1. */
  indexOf(member: string): number {
    return this.index.get(member) ?? -1;
  }

  /** The slots owned by `member`, ascending (empty when it is not a member). */
  slotsOf(member: string): number[] {
    const m = this.index.get(member);
    const out: number[] = [];
    if (m === undefined) return out;
    const owners = this.owners;
    for (let s = 0; s < SLOT_COUNT; s++) if (owners[s] === m) out.push(s);
    return out;
  }

  /** Slots owned per member, indexed like `members`. */
  counts(): number[] {
    const counts = new Array<number>(this.members.length).fill(0);
    if (this.members.length === 0) return counts;
    const owners = this.owners;
    for (let s = 0; s < SLOT_COUNT; s++) counts[owners[s]]++;
    return counts;
  }

  /**
   * Slots whose owner differs between `previous` and this table, ascending
   * (what a membership change hands off). A slot with no owner on one side
   * counts as moved when the other side has one.
   */
  movedSlots(previous: SlotTable): number[] {
    const out: number[] = [];
    for (let s = 0; s < SLOT_COUNT; s++) {
      if (this.ownerOfSlot(s) !== previous.ownerOfSlot(s)) out.push(s);
    }
    return out;
  }
}
