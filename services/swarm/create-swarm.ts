import type { Config } from '../../lib/runtime/config.js';
import type { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { SwarmStore } from './store/swarm-store.js';
import { WebTorrentSwarms } from './store/webtorrent-swarms.js';
import { Swarm } from './swarm.js';

/** The swarm half of a tracker from its configuration, with its gauges registered and expiry running. */
export function createSwarm(config: Config, metrics: TrackerMetrics): Swarm {
  const store = new SwarmStore({
    intervalSeconds: config.announce.intervalSeconds,
    minIntervalSeconds: config.announce.minIntervalSeconds,
    intervalJitterSeconds: config.announce.intervalJitterSeconds,
    numwantDefault: config.announce.numwantDefault,
    numwantMax: config.announce.numwantMax,
    peerTimeoutSeconds: config.announce.peerTimeoutSeconds,
  });
  const webtorrent = new WebTorrentSwarms({
    intervalSeconds: config.webtorrent.intervalSeconds,
    peerTimeoutSeconds: config.webtorrent.peerTimeoutSeconds,
    offerTtlSeconds: config.webtorrent.offerTtlSeconds,
    maxPendingOffers: config.webtorrent.maxPendingOffers,
  });
  const swarm = new Swarm(store, webtorrent);
  swarm.startSweeper(config.store.sweepIntervalMs, config.store.sweepBudgetMs);
  metrics.observeStore(store);
  metrics.observeWebTorrent(() => webtorrent.stats());
  return swarm;
}
