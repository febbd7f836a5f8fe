/** What an announce says happened, numbered as in BEP 15; HTTP and WebTorrent map their `event` strings onto it. */
export const AnnounceEvent = {
  None: 0,
  Completed: 1,
  Started: 2,
  Stopped: 3,
} as const;
export type AnnounceEvent = (typeof AnnounceEvent)[keyof typeof AnnounceEvent];
