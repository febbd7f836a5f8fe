/**
 * Proof that an edge knows the cluster's shared token (cluster.authToken),
 * for clusters without a certificate per edge.
 *
 * The token itself never travels: each stream carries
 *
 *   v1.<unix seconds>.<salt>.<HMAC-SHA256(token, [v1, swarm, edge id, boot nonce, seconds, salt])>
 *
 * (salt 8 random bytes, salt and MAC base64url) in the `tracker-edge-proof`
 * call metadata. Binding the swarm's member name, the edge id and its boot
 * nonce means a proof cannot be reused for another edge, another incarnation
 * or another swarm; the time bounds how long a proof seen on an unencrypted
 * network could be replayed, and a swarm remembers the proofs it accepted
 * within that window so none is accepted twice.
 *
 * Every holder of the token can prove any edge id: a token tells edges from
 * strangers, not edges from each other (a certificate per edge does that).
 *
 * Swarms calling each other (slot handoff) prove their member name the same
 * way, under another label (SWARM_PROOF_LABEL, in place of the version in
 * the MAC), so no proof made for an edge stream checks for a handoff call or
 * the other way round.
 *
 * I/O-free apart from the clock and the random salt.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How far a proof's time may be from the swarm's clock, either way. */
export const PROOF_WINDOW_SECONDS = 300;
/** Accepted proofs remembered at most; beyond, the oldest are forgotten (only real edges can make proofs). */
const MAX_REMEMBERED = 65_536;
const VERSION = 'v1';
/** What a handoff call's proof is bound to instead of VERSION: the caller is a swarm. */
export const SWARM_PROOF_LABEL = 'v1-swarm';
const PROOF = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{11})\.([A-Za-z0-9_-]{43})$/;

export interface EdgeClaim {
  /** The swarm's member name (what the edge calls it; the swarm's node.name). */
  swarm: string;
  edgeId: string;
  bootNonce: string;
}

function mac(token: string, claim: EdgeClaim, seconds: number, salt: string, label: string): Buffer {
  // JSON keeps the fields apart whatever characters they hold.
  return createHmac('sha256', token).update(JSON.stringify([label, claim.swarm, claim.edgeId, claim.bootNonce, seconds, salt])).digest();
}

/** The `tracker-edge-proof` value for one stream (`label` SWARM_PROOF_LABEL: a handoff call's, edgeId = the calling swarm). */
export function signEdgeProof(token: string, claim: EdgeClaim, nowMs = Date.now(), label = VERSION): string {
  const seconds = Math.floor(nowMs / 1000);
  const salt = randomBytes(8).toString('base64url');
  return `${VERSION}.${seconds}.${salt}.${mac(token, claim, seconds, salt, label).toString('base64url')}`;
}

export type ProofCheck = { ok: true } | { ok: false; why: string };

export interface EdgeProofVerifierOptions {
  /** Milliseconds clock, for tests. */
  now?: () => number;
  windowSeconds?: number;
  /** What the proofs are bound to: the default (edge streams) or SWARM_PROOF_LABEL (handoff calls). */
  label?: string;
}

/** The swarm's side: checks proofs for this swarm and refuses replays. */
export class EdgeProofVerifier {
  private readonly now: () => number;
  private readonly windowSeconds: number;
  private readonly label: string;
  /** Accepted proofs -> when they can be forgotten (ms); insertion order is acceptance order. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly token: string,
    /** This swarm's member name. */
    private readonly swarm: string,
    options: EdgeProofVerifierOptions = {},
  ) {
    if (token === '') throw new Error('EdgeProofVerifier needs a token');
    this.now = options.now ?? Date.now;
    this.windowSeconds = options.windowSeconds ?? PROOF_WINDOW_SECONDS;
    this.label = options.label ?? VERSION;
  }

  verify(proof: string, edgeId: string, bootNonce: string): ProofCheck {
    const [key, caller] = this.label === VERSION ? ['tracker-edge-proof', 'edge'] : ['tracker-swarm-proof', 'calling swarm'];
    if (proof === '') return { ok: false, why: `no ${key}: set cluster.authToken on the ${caller} to this swarm's token` };
    const m = PROOF.exec(proof);
    if (!m) return { ok: false, why: `${key} is malformed` };
    const nowMs = this.now();
    const seconds = Number(m[1]);
    const skew = seconds - nowMs / 1000;
    const expected = mac(this.token, { swarm: this.swarm, edgeId, bootNonce }, seconds, m[2], this.label);
    const given = Buffer.from(m[3], 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return {
        ok: false,
        why: `the token proof does not match: ${caller} and swarm need the same cluster.authToken, and the ${caller} must name this swarm "${this.swarm}" (its node.name) in its membership`,
      };
    }
    if (Math.abs(skew) > this.windowSeconds) {
      return { ok: false, why: `the token proof is ${Math.round(Math.abs(skew))} s ${skew > 0 ? 'ahead of' : 'behind'} this swarm's clock (at most ${this.windowSeconds} s): check the clocks` };
    }
    this.forgetExpired(nowMs);
    if (this.seen.has(m[3])) return { ok: false, why: 'the token proof was already used' };
    this.seen.set(m[3], nowMs + 2 * this.windowSeconds * 1000);
    if (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
    return { ok: true };
  }

  /** Proofs remembered now (for tests). */
  get remembered(): number {
    return this.seen.size;
  }

  private forgetExpired(nowMs: number): void {
    for (const [key, until] of this.seen) {
      if (until > nowMs) break;
      this.seen.delete(key);
    }
  }
}
