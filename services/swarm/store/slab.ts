/**
 * A slab allocator for fixed-size peer-record blocks.
 *
 * Every torrent keeps its peers of one address family in a single block of
 * `recordSize * CLASS_CAPACITY[sizeClass]` bytes. Giving
 * every torrent its own Uint8Array would cost ~100-300 bytes of V8 and malloc
 * overhead per array, which is more than the records themselves for the long
 * tail of torrents with one or two peers. Instead, blocks of one size class
 * are carved out of shared 64 KiB pages, and a block is named by a plain
 * number (a "handle"), so a torrent holds no JS object at all for its peers.
 *
 *   handle = pageId * 65536 + byteOffset      (read as uint32: `>>> 16`, `& 0xffff`)
 *
 * Blocks too big to share a page (fewer than MIN_BLOCKS_PER_PAGE per page)
 * get a dedicated Uint8Array that is a page of its own (offset 0).
 *
 * Free blocks of a page form an intrusive singly linked list (the next free
 * offset is written into the first 4 bytes of the free block); never-used
 * space at the end of a page is handed out with a bump pointer, so creating a
 * page costs nothing per block. A page whose blocks are all free again is
 * released (unless it is the last page of its class), so memory comes back
 * when swarms shrink.
 */

/** Bytes of one shared page. Offsets must fit 16 bits. */
export const PAGE_BYTES = 65536;
/** A size class is carved from shared pages only if this many blocks fit in one. */
const MIN_BLOCKS_PER_PAGE = 8;
/**
 * Records per block by size class: 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (two
 * classes per doubling, so a block is on average ~80% full rather than ~70%).
 */
export const CLASS_CAPACITY: readonly number[] = (() => {
  const caps = [1];
  for (let p = 2; p <= 2 ** 26; p *= 2) caps.push(p, p + p / 2);
  return caps;
})();
/** Largest supported size class. */
export const MAX_CLASS = CLASS_CAPACITY.length - 1;

/** Smallest size class holding at least `n` records. */
export function classFor(n: number): number {
  let k = 0;
  while (CLASS_CAPACITY[k] < n) k++;
  return k;
}
const NO_FREE = -1;

export class SlabAllocator {
  /** Bytes per record. */
  readonly recordSize: number;
  /** Size classes <= this are carved from shared pages. */
  readonly maxSharedClass: number;
  /** Page storage by page id; null for released ids. */
  pages: (Uint8Array | null)[] = [];

  // Per page id (parallel JS arrays of small integers: cheap, few hundred entries).
  private pageClass: number[] = [];
  private pageFreeHead: number[] = [];
  private pageBump: number[] = [];
  private pageUsed: number[] = [];
  /** Position of the page in `avail[class]`, or -1. */
  private pageAvailPos: number[] = [];
  private freePageIds: number[] = [];
  /** Per size class: ids of shared pages that still have a free block. */
  private avail: number[][] = [];
  /** Per size class: number of live shared pages. */
  private classPages: number[] = [];

  private liveBytes = 0;
  private pageBytes = 0;

  constructor(recordSize: number) {
    if (!(recordSize >= 4)) throw new RangeError('recordSize must be >= 4');
    this.recordSize = recordSize;
    let k = 0;
    while (recordSize * CLASS_CAPACITY[k + 1] * MIN_BLOCKS_PER_PAGE <= PAGE_BYTES) k++;
    this.maxSharedClass = k;
    for (let c = 0; c <= MAX_CLASS; c++) {
      this.avail.push([]);
      this.classPages.push(0);
    }
  }

  /** Bytes of a block of class `k`. */
  blockBytes(k: number): number {
    return this.recordSize * CLASS_CAPACITY[k];
  }

  /** Returns a handle to an uninitialised block of `blockBytes(k)` bytes. */
  alloc(k: number): number {
    if (k < 0 || k > MAX_CLASS) throw new RangeError(`size class ${k} out of range`);
    const bytes = this.blockBytes(k);
    this.liveBytes += bytes;
    if (k > this.maxSharedClass) {
      const id = this.newPageId();
      this.pages[id] = new Uint8Array(bytes);
      this.pageClass[id] = k;
      this.pageUsed[id] = 1;
      this.pageAvailPos[id] = -1;
      this.pageBytes += bytes;
      return id * PAGE_BYTES;
    }
    const list = this.avail[k];
    let id: number;
    if (list.length === 0) {
      id = this.newPageId();
      const perPage = Math.floor(PAGE_BYTES / bytes);
      const pageLen = perPage * bytes;
      this.pages[id] = new Uint8Array(pageLen);
      this.pageBytes += pageLen;
      this.pageClass[id] = k;
      this.pageFreeHead[id] = NO_FREE;
      this.pageBump[id] = 0;
      this.pageUsed[id] = 0;
      this.pageAvailPos[id] = list.length;
      list.push(id);
      this.classPages[k]++;
    } else {
      id = list[list.length - 1];
    }
    const page = this.pages[id]!;
    let off: number;
    const head = this.pageFreeHead[id];
    if (head !== NO_FREE) {
      off = head;
      const next = readU32(page, off);
      this.pageFreeHead[id] = next === 0xffffffff ? NO_FREE : next;
    } else {
      off = this.pageBump[id];
      this.pageBump[id] = off + bytes;
    }
    this.pageUsed[id]++;
    if (this.pageFreeHead[id] === NO_FREE && this.pageBump[id] + bytes > page.length) {
      // Full: it is the last entry of the list.
      list.pop();
      this.pageAvailPos[id] = -1;
    }
    return id * PAGE_BYTES + off;
  }

  /** Releases a block obtained from `alloc(k)`. */
  free(handle: number, k: number): void {
    const id = handle >>> 16;
    const off = handle & 0xffff;
    this.liveBytes -= this.blockBytes(k);
    if (k > this.maxSharedClass) {
      this.pageBytes -= this.pages[id]!.length;
      this.releasePageId(id);
      return;
    }
    const page = this.pages[id]!;
    writeU32(page, off, this.pageFreeHead[id]);
    this.pageFreeHead[id] = off;
    const used = --this.pageUsed[id];
    const list = this.avail[k];
    if (this.pageAvailPos[id] < 0) {
      this.pageAvailPos[id] = list.length;
      list.push(id);
    }
    if (used === 0 && this.classPages[k] > 1) {
      // Remove from the avail list (swap-remove) and give the page back.
      const pos = this.pageAvailPos[id];
      const last = list.pop()!;
      if (last !== id) {
        list[pos] = last;
        this.pageAvailPos[last] = pos;
      }
      this.classPages[k]--;
      this.pageBytes -= page.length;
      this.releasePageId(id);
    }
  }

  /** Bytes handed out in live blocks. */
  get usedBytes(): number {
    return this.liveBytes;
  }

  /** Bytes held in pages (live blocks + free space inside pages). */
  get reservedBytes(): number {
    return this.pageBytes;
  }

  /** Number of page ids in use (shared and dedicated). */
  get pageCount(): number {
    return this.pages.length - this.freePageIds.length;
  }

  private newPageId(): number {
    const id = this.freePageIds.pop();
    if (id !== undefined) return id;
    const n = this.pages.length;
    if (n >= 65536) throw new RangeError('slab allocator: out of page ids');
    this.pages.push(null);
    this.pageClass.push(-1);
    this.pageFreeHead.push(NO_FREE);
    this.pageBump.push(0);
    this.pageUsed.push(0);
    this.pageAvailPos.push(-1);
    return n;
  }

  private releasePageId(id: number): void {
    this.pages[id] = null;
    this.pageClass[id] = -1;
    this.pageFreeHead[id] = NO_FREE;
    this.pageBump[id] = 0;
    this.pageUsed[id] = 0;
    this.pageAvailPos[id] = -1;
    this.freePageIds.push(id);
  }
}

export function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
