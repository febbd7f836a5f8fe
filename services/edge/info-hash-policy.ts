import type { TorrentStats } from '../../lib/tracker/scrape.js';

/** Decides whether the tracker serves an info-hash (the access list implements it). */
export interface InfoHashPolicy {
  allows(infoHash: string): boolean;
}

export const ZERO_STATS: TorrentStats = Object.freeze({ complete: 0, incomplete: 0, downloaded: 0 });

/**
 * Scrapes answer refused hashes as unknown torrents (zeros) instead of
 * failing the whole request; only the allowed ones go to the swarm.
 */
export class ScrapeSelection {
  readonly allowed: string[] = [];
  private readonly positions: number[] = [];

  constructor(readonly hashes: readonly string[], policy: InfoHashPolicy) {
    for (let i = 0; i < hashes.length; i++) {
      if (policy.allows(hashes[i])) {
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
