import type { Config } from '../../lib/runtime/config.js';
import type { Failures } from '../../lib/runtime/failures.js';
import type { TrackerMetrics } from '../../lib/runtime/metrics.js';
import type { PrivateAccounting } from './accounting/private-announce.js';
import { NewTorrentLimiter } from './limits/new-torrent-limiter.js';
import { SlotChanges } from './store/slot-changes.js';
import { SwarmStore } from './store/swarm-store.js';
import { WebTorrentSwarms, webTorrentLimitHits } from './store/webtorrent-swarms.js';
import { Swarm } from './swarm.js';

/** The swarm half of a tracker from its configuration (with private mode's accounting when given), with its gauges and limit counters registered and expiry running. */
export function createSwarm(config: Config, metrics: TrackerMetrics, failures: Failures, accounting?: PrivateAccounting): Swarm {
  const s = config.store;
  const changes = new SlotChanges();
  const newTorrents =
    s.newTorrentsPerSecond > 0
      ? new NewTorrentLimiter(
          {
            perSecond: s.newTorrentsPerSecond,
            burst: s.newTorrentsBurst,
            prefixV4: s.newTorrentsPrefixV4,
            prefixV6: s.newTorrentsPrefixV6,
            maxPrefixes: s.maxNewTorrentPrefixes,
          },
          { rate: metrics.limitCounter('store.newTorrentsPerSecond'), prefixes: metrics.limitCounter('store.maxNewTorrentPrefixes') },
        )
      : undefined;
  const store = new SwarmStore(
    {
      ...announceRules(config),
      maxTorrents: s.maxTorrents,
      maxPeers: s.maxPeers,
      maxPeersPerAddressPerTorrent: s.maxPeersPerAddressPerTorrent,
      maxPeersPerAddressPerReply: s.maxPeersPerAddressPerReply,
    },
    {
      newTorrents,
      changes,
      limitCounters: {
        maxTorrents: metrics.limitCounter('store.maxTorrents'),
        maxPeers: metrics.limitCounter('store.maxPeers'),
        maxPeersPerAddressPerTorrent: metrics.limitCounter('store.maxPeersPerAddressPerTorrent'),
        maxPeersPerAddressPerReply: metrics.limitCounter('store.maxPeersPerAddressPerReply'),
        minAnnounceSeconds: metrics.limitCounter('hooks.announceRate.minSeconds'),
      },
    },
  );
  const wt = config.webtorrent;
  const webtorrent = new WebTorrentSwarms(
    {
      intervalSeconds: wt.intervalSeconds,
      peerTimeoutSeconds: wt.peerTimeoutSeconds,
      offerTtlSeconds: wt.offerTtlSeconds,
      maxPendingOffers: wt.maxPendingOffers,
      maxPendingOffersPerSocket: wt.maxPendingOffersPerSocket,
      maxTorrents: wt.maxTorrents,
      maxPeers: wt.maxPeers,
    },
    { limitHits: webTorrentLimitHits(metrics), changes },
  );
  const swarm = new Swarm(store, webtorrent, { failures: failures.for('swarm'), newTorrents, changes, accounting });
  swarm.startSweeper({
    intervalMs: s.sweepIntervalMs,
    budgetMs: s.sweepBudgetMs,
    maxDutyPercent: s.sweepMaxDutyPercent,
    failures: failures.for('swarm-sweep'),
    saturated: metrics.limitCounter('store.sweepMaxDutyPercent'),
  });
  metrics.observeStore(store);
  metrics.observeWebTorrent(() => webtorrent.stats());
  metrics.observeSlotTransfers(swarm.slots.stats);
  if (newTorrents) metrics.observeNewTorrentPrefixes(() => newTorrents.size);
  return swarm;
}

/**
 * Interval, numwant and peer timeout: announce.* for a public tracker,
 * private.* (kuroneko's rules: interval + random 0..drift, numwant default
 * and max, peers kept until private.peerInactivitySeconds) in private mode,
 * where every UDP/HTTP announce the edge lets through carries a user.
 */
function announceRules(config: Config) {
  const a = config.announce;
  const p = config.private;
  return p.enabled
    ? {
        intervalSeconds: p.intervalSeconds,
        minIntervalSeconds: p.minIntervalSeconds,
        intervalJitterSeconds: p.intervalDriftSeconds,
        numwantDefault: p.numwantDefault,
        numwantMax: p.numwantMax,
        peerTimeoutSeconds: p.peerInactivitySeconds,
      }
    : {
        intervalSeconds: a.intervalSeconds,
        minIntervalSeconds: a.minIntervalSeconds,
        intervalJitterSeconds: a.intervalJitterSeconds,
        numwantDefault: a.numwantDefault,
        numwantMax: a.numwantMax,
        peerTimeoutSeconds: a.peerTimeoutSeconds,
      };
}
