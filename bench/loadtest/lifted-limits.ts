/**
 * Tracker flags for runs of the load generator against our tracker: only
 * the limits a generator cannot help breaking. Everything else runs with its
 * production default, because the load model's peers look like the
 * Internet's (model.ts: 16,384 client addresses with one or two peers each,
 * UDP connection ids per address, an HTTP connection per address at a time,
 * a WebSocket connection per address): no per-address, per-torrent,
 * per-reply, new-torrent or connection limit is reached.
 *
 * - webtorrent.maxMessagesPerSecond / messageBurst: a WebTorrent client
 *   announces each of its torrents once per 120 s; the generator's clients
 *   announce in a closed loop, as fast as the tracker answers (hundreds of
 *   messages per second per socket), to measure the tracker rather than a
 *   pause. The per-socket rate limit would close every socket within a
 *   second.
 */
export const LIFTED_CLIENT_LIMITS: readonly string[] = [
  '--webtorrent.maxMessagesPerSecond=1000000',
  '--webtorrent.messageBurst=1000000',
];
