/**
 * Which process of each edge a swarm's WebTorrent peers belong to.
 *
 * A WebTorrent peer is reached through (edge id, socket number), and socket
 * numbers start over when an edge restarts: a peer kept for an edge process
 * that is gone would have offers relayed to whichever new socket got its
 * number. Edges name their process with a boot nonce when they open a
 * stream, so a slot export carries each edge's nonce, and an import admits
 * a peer only for the edge process it was announced through:
 *
 * - an edge connected here (or, all-in-one, this process's own edge):
 *   peers of its current process only;
 * - an edge not connected yet (a swarm restoring before edges reconnect):
 *   admitted, and the nonce is remembered; when the edge connects with
 *   another nonce, `connected` says so and the swarm drops those peers.
 */
export class EdgeIncarnations {
  private readonly nonces = new Map<string, string>();

  /**
   * An edge opened a stream as process `nonce`. True when peers of another
   * process of that edge may be held (imported before it connected): the
   * caller drops the edge's peers.
   */
  connected(edge: string, nonce: string): boolean {
    const known = this.nonces.get(edge);
    this.nonces.set(edge, nonce);
    return known !== undefined && known !== nonce;
  }

  /** The edge went away and its peers were dropped. */
  gone(edge: string): void {
    this.nonces.delete(edge);
  }

  /** The nonce of the edge process this swarm knows, if any ("" when its peers came from an export that did not know it). */
  nonceOf(edge: string): string | undefined {
    return this.nonces.get(edge);
  }

  /** Whether an imported peer of edge process (`edge`, `nonce`) may be held. */
  admit(edge: string, nonce: string): boolean {
    const known = this.nonces.get(edge);
    if (known === undefined) {
      this.nonces.set(edge, nonce);
      return true;
    }
    return known === nonce;
  }
}
