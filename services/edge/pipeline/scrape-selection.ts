import type { TorrentStats } from '../../../lib/tracker/scrape.js';

export const ZERO_STATS: TorrentStats = Object.freeze({ complete: 0, incomplete: 0, downloaded: 0 });

/**
 * A scrape whose hashes the hooks did not all let through: refused hashes
 * are answered as unknown torrents (zeros) instead of failing the whole
 * request, and only the others go to the swarm.
 */
export class ScrapeSelection {
  readonly allowed: string[] = [];
  private readonly positions: number[] = [];

  /** `serves(hash)`: whether the hooks let the hash through. */
  constructor(
    readonly hashes: readonly string[],
    serves: (infoHash: string) => boolean,
  ) {
    for (let i = 0; i < hashes.length; i++) {
      if (serves(hashes[i])) {
        this.allowed.push(hashes[i]);
        this.positions.push(i);
      }
    }
  }

  /** Stats for every requested hash, in request order, from the swarm's answer for `allowed`. */
  spread(files: readonly TorrentStats[]): TorrentStats[] {
    const out = new Array<TorrentStats>(this.hashes.length).fill(ZERO_STATS);
    for (let k = 0; k < this.positions.length; k++) out[this.positions[k]] = files[k] ?? ZERO_STATS;
    return out;
  }
}
