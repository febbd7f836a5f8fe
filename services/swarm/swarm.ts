import type { SwarmReply, SwarmRequest } from '../../lib/transport/messages.js';
import type { SwarmService } from '../../lib/transport/transport.js';
import { answerEach, INTERNAL_ERROR } from '../../lib/transport/replies.js';
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
    return answerEach(requests, (r) => this.answer(r, now));
  }

  handleOne(request: SwarmRequest): SwarmReply {
    try {
      return this.answer(request, this.now());
    } catch {
      return INTERNAL_ERROR;
    }
  }

  private answer(r: SwarmRequest, now: number): SwarmReply {
    switch (r.type) {
      case 'announce':
        return this.peers.announce(r, now);
      case 'scrape':
        return this.peers.scrape(r);
      case 'wt-announce':
        return this.webtorrent.announce(r, now);
      case 'wt-answer':
        return this.webtorrent.answer(r, now);
      case 'wt-disconnect':
        return this.webtorrent.disconnect(r);
      case 'wt-scrape':
        return this.webtorrent.scrape(r);
      default:
        return { type: 'error', message: 'unknown request type' };
    }
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
