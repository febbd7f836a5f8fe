/**
 * Tracker flags for runs of the load generator against our tracker. The
 * generator is one client address standing for many clients, each sending
 * far more messages per second than a real one: the per-address and
 * per-socket limits that protect a public tracker from one abusive address
 * would measure (or refuse) the generator instead of the tracker.
 */
export const LIFTED_CLIENT_LIMITS: readonly string[] = [
  '--webtorrent.maxSocketsPerAddress=1000000',
  '--webtorrent.maxPeersPerAddress=10000000',
  '--webtorrent.maxMessagesPerSecond=1000000',
  '--webtorrent.messageBurst=1000000',
  // A few loopback addresses stand for every peer of the UDP/HTTP model.
  '--store.newTorrentsPerSecond=0',
  '--store.maxPeersPerAddressPerTorrent=1024',
  '--store.maxPeersPerAddressPerReply=1000',
  '--http.maxConnectionsPerAddress=1000000',
];
