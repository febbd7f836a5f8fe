/** A UDP or HTTP scrape (WebTorrent's is WtScrapeRequest). */
export interface ScrapeRequest {
  readonly type: 'scrape';
  /** 20-byte info-hashes as latin1 strings; never empty. */
  readonly infoHashes: readonly string[];
}

export interface TorrentStats {
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded: number;
}

export interface ScrapeReply {
  readonly type: 'scrape';
  /** One entry per requested hash, in request order; zeros for unknown torrents. */
  readonly files: readonly TorrentStats[];
}
