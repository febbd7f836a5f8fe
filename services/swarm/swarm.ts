import type { SwarmReply, SwarmRequest } from '../../lib/transport/messages.js';
import type { SwarmService } from '../../lib/transport/transport.js';
import type { SwarmStore } from './store/swarm-store.js';
import type { WebTorrentSwarms } from './store/webtorrent-swarms.js';

/**
 * What a swarm pod (or the swarm half of all-in-one) serves: UDP/HTTP peers
 * from the packed store and WebTorrent peers from their own tables, behind
 * the one SwarmService interface the transports carry.
 */
export class Swarm implements SwarmService {
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly peers: SwarmStore,
    readonly webtorrent: WebTorrentSwarms,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  handle(requests: readonly SwarmRequest[]): SwarmReply[] {
    const now = this.now();
    const replies = new Array<SwarmReply>(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i];
      try {
        switch (r.type) {
          case 'announce':
            replies[i] = this.peers.announce(r, now);
            break;
          case 'scrape':
            replies[i] = this.peers.scrape(r);
            break;
          case 'wt-announce':
            replies[i] = this.webtorrent.announce(r, now);
            break;
          case 'wt-answer':
            replies[i] = this.webtorrent.answer(r, now);
            break;
          case 'wt-disconnect':
            replies[i] = this.webtorrent.disconnect(r);
            break;
          case 'wt-scrape':
            replies[i] = this.webtorrent.scrape(r);
            break;
          default:
            replies[i] = { type: 'error', message: 'unknown request type' };
        }
      } catch {
        replies[i] = { type: 'error', message: 'internal error' };
      }
    }
    return replies;
  }

  /** Expiry for both kinds of peers, in slices of at most `budgetMs` every `intervalMs`. */
  startSweeper(intervalMs: number, budgetMs: number): void {
    this.stopSweeper();
    this.sweeper = setInterval(() => {
      try {
        this.peers.sweepStep(budgetMs);
        this.webtorrent.sweepStep(budgetMs, this.now());
      } catch {
        // A sweep must never take the process down; the next tick retries.
      }
    }, Math.max(1, intervalMs));
    this.sweeper.unref();
  }

  stopSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
