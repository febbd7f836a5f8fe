/**
 * How many peers of each address one announce reply holds so far, so that
 * no address takes more than `limit` places in it.
 *
 * An open-addressing table keyed by the 32-bit seeded hash of an address
 * (two addresses sharing a hash share a tally: one in 2^32 per pair, never
 * aimed at since the seed is secret). Entries carry the number of the reply
 * they were written for, so starting a reply clears nothing: nothing is
 * allocated or cleared per announce.
 */
export class ReplyAddressTally {
  private keys = new Int32Array(0);
  private counts = new Uint16Array(0);
  private marks = new Uint32Array(0);
  private mask = -1;
  private mark = 0;

  constructor(readonly limit: number) {
    if (!(limit >= 1 && limit <= 0xffff)) throw new RangeError('limit must be 1..65535');
  }

  /** Starts a reply of at most `n` peers. */
  begin(n: number): void {
    if (2 * n > this.keys.length) {
      // Load <= 1/2 for the largest reply seen; grows once, to numwantMax.
      let size = 64;
      while (size < 2 * n) size *= 2;
      this.keys = new Int32Array(size);
      this.counts = new Uint16Array(size);
      this.marks = new Uint32Array(size);
      this.mask = size - 1;
      this.mark = 0;
    }
    if (++this.mark > 0xffffffff) {
      this.marks.fill(0);
      this.mark = 1;
    }
  }

  /** Counts one more peer of the address hashed to `hash`; false (and not counted) when it already has `limit`. */
  admit(hash: number): boolean {
    const key = hash | 0;
    const mask = this.mask;
    const mark = this.mark;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      if (this.marks[s] !== mark) {
        this.marks[s] = mark;
        this.keys[s] = key;
        this.counts[s] = 1;
        return true;
      }
      if (this.keys[s] === key) {
        if (this.counts[s] >= this.limit) return false;
        this.counts[s]++;
        return true;
      }
    }
  }
}
