/**
 * What the benches fill swarms with: a swarm in the bench's own process with
 * the per-client limits lifted (one bench address stands for many clients),
 * and a fixed, uniformly spread info-hash for each torrent number.
 */
import { defaultConfig } from '../lib/runtime/config.js';
import { SlotChanges } from '../services/swarm/store/slot-changes.js';
import { SwarmStore } from '../services/swarm/store/swarm-store.js';
import { WebTorrentSwarms } from '../services/swarm/store/webtorrent-swarms.js';
import { Swarm } from '../services/swarm/swarm.js';

/** An empty swarm with the default peer timeout and no torrent, peer or per-address limit a bench could reach. */
export function benchSwarm(): Swarm {
  const config = defaultConfig();
  const changes = new SlotChanges();
  const store = new SwarmStore(
    {
      intervalSeconds: 1800,
      minIntervalSeconds: 900,
      intervalJitterSeconds: 0,
      numwantDefault: 50,
      numwantMax: 200,
      peerTimeoutSeconds: config.announce.peerTimeoutSeconds,
      maxTorrents: 1e8,
      maxPeers: 1e8,
      maxPeersPerAddressPerTorrent: 1024,
      maxPeersPerAddressPerReply: 1000,
    },
    { changes },
  );
  const webtorrent = new WebTorrentSwarms({ ...config.webtorrent, maxPendingOffers: 1000 }, { changes });
  return new Swarm(store, webtorrent, { changes });
}

/** Info-hash of torrent k (xorshift bytes: uniform slots), built fresh on each call as a request's would be. */
export function benchHash(k: number): string {
  let x = (k + 1) * 0x9e3779b1;
  let s = '';
  for (let i = 0; i < 20; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += String.fromCharCode((x >>> 8) & 0xff);
  }
  return s;
}
