/**
 * JWT approval (chihaya `jwt`, as Quay runs it): an announce must carry a
 * token, signed by one of the issuer's keys, that names the torrent.
 *
 * The token travels where each protocol can carry it: the `jwt` parameter
 * (hooks.jwt.parameter) of the announce URL for HTTP (a .torrent's announce
 * URL can hold it: `https://tracker/announce?jwt=...`), the same in UDP's
 * BEP 41 URL data (`udp://tracker:6969/announce?jwt=...`, which libtorrent
 * sends), and for WebTorrent the announce message's own `jwt` key or else
 * the socket's URL query (`wss://tracker/announce?jwt=...`).
 *
 * Checked: the signature (RS256, ES256 or EdDSA; `alg: none` and shared
 * secrets never), `iss`, `aud`, `exp` and `nbf` (with clockSkewSeconds of
 * slack), and the `infohash` claim against the announce's torrent. See
 * token-verifier.ts for the details.
 *
 * The hot path stays synchronous: a token is verified at most once (node:
 * crypto verifies synchronously with the keys jose imported in the
 * background), then remembered in a bounded cache until it expires, so a
 * client re-announcing with its token costs a lookup. The claims are read
 * before the signature, so a token for another torrent, expired or from
 * another issuer costs no verification; verifications a second are capped
 * (hooks.jwt.maxVerificationsPerSecond), so a flood of forged tokens costs
 * a bounded share of a core: past the cap new tokens are told to come back
 * (counted as that limit) and tokens already verified are still served.
 */
import { performance } from 'node:perf_hooks';
import { refusal, type HookAnnounce, type PreHook, type Refusal } from '../../pipeline/hook.js';
import type { Count } from '../../pipeline/pipeline.js';
import type { JwksSource } from './jwks-source.js';
import { TokenCache, VerificationBudget } from './token-cache.js';
import { TokenVerifier, type TokenRules } from './token-verifier.js';

export interface JwtApprovalOptions {
  /** The announce parameter holding the token. */
  parameter: string;
  rules: TokenRules;
  keys: JwksSource;
  clockSkewSeconds: number;
  /** Verified tokens remembered at most (and, separately, up to this many forged ones, at most 4096). */
  cacheSize: number;
  maxVerificationsPerSecond: number;
  /** Counted when maxVerificationsPerSecond turns a token away. */
  budgetHits: Count;
  /** Counted when cacheSize pushes a verified token out (it will be verified again when next seen). */
  cacheHits?: Count;
  /** Seconds (wall clock, as token times are); injectable for tests. */
  now?: () => number;
  /** Milliseconds of a monotonic clock, for the verification budget; injectable for tests. */
  monotonicMs?: () => number;
}

/** What is remembered of a token whose signature and fixed claims checked out. */
interface TrustedToken {
  readonly infoHash: string;
  readonly exp: number;
  readonly nbf: number;
}

const MISSING = (parameter: string): Refusal =>
  refusal(`unapproved request: missing jwt (this tracker needs a token in the "${parameter}" parameter of the announce URL)`);
const WRONG_TORRENT = refusal('unapproved request: invalid jwt (it is for another torrent)');
const EXPIRED = refusal('unapproved request: invalid jwt (expired)');
const NOT_YET_VALID = refusal('unapproved request: invalid jwt (not valid yet)');
const BAD_SIGNATURE = refusal('unapproved request: invalid jwt (bad signature)');
const UNKNOWN_KEY = refusal('unapproved request: invalid jwt (signed with a key this tracker does not know)');
const BUSY = refusal('too many new tokens to check right now; announce again in a minute');

/** Forged tokens remembered at most, whatever cacheSize says. */
const MAX_REJECTED = 4096;

export class JwtApproval implements PreHook {
  readonly name = 'jwt';
  private readonly verifier: TokenVerifier;
  private readonly trusted: TokenCache<TrustedToken>;
  private readonly rejected: TokenCache<Refusal>;
  private readonly budget: VerificationBudget;
  private readonly now: () => number;
  private readonly missing: Refusal;
  /** Refusals for the reasons inspect() gives, built once each. */
  private readonly invalid = new Map<string, Refusal>();
  /** Signatures verified since start (the cache's misses). */
  verifications = 0;

  constructor(private readonly options: JwtApprovalOptions) {
    this.verifier = new TokenVerifier(options.rules);
    this.trusted = new TokenCache(options.cacheSize, options.cacheHits);
    this.rejected = new TokenCache(Math.min(options.cacheSize, MAX_REJECTED));
    this.now = options.now ?? (() => Date.now() / 1000);
    this.budget = new VerificationBudget(options.maxVerificationsPerSecond, options.monotonicMs ?? (() => performance.now()));
    this.missing = MISSING(options.parameter);
    // A token checked against keys that are gone (rotated out) must be checked again.
    options.keys.onChange(() => {
      this.trusted.clear();
      this.rejected.clear();
    });
  }

  /** Tokens remembered as verified. */
  get cachedTokens(): number {
    return this.trusted.size;
  }

  async start(): Promise<void> {
    await this.options.keys.start();
  }

  async reload(): Promise<void> {
    await this.options.keys.reload();
  }

  close(): void {
    this.options.keys.close();
  }

  announce(announce: HookAnnounce): Refusal | undefined {
    const token = announce.params.get(this.options.parameter);
    if (token === undefined || token === '') return this.missing;
    let trusted = this.trusted.get(token);
    if (trusted === undefined) {
      const forged = this.rejected.get(token);
      if (forged !== undefined) return forged;
      const inspected = this.verifier.inspect(token);
      if (typeof inspected === 'string') return this.invalidBecause(inspected);
      // Everything a token says is compared before its signature is checked: only a token that would be accepted costs a verification.
      const refused = this.compare(inspected, announce.infoHash);
      if (refused !== undefined) return refused;
      if (!this.budget.take()) {
        this.options.budgetHits.inc();
        return BUSY;
      }
      this.verifications++;
      const verdict = this.verifier.verify(inspected, this.options.keys.keys);
      // An unknown key is not remembered: the next reload may bring it.
      if (verdict === 'unknown key') return UNKNOWN_KEY;
      if (verdict === 'bad signature') {
        this.rejected.set(token, BAD_SIGNATURE);
        return BAD_SIGNATURE;
      }
      trusted = { infoHash: inspected.infoHash, exp: inspected.exp, nbf: inspected.nbf };
      this.trusted.set(token, trusted);
      return undefined;
    }
    const refused = this.compare(trusted, announce.infoHash);
    if (refused === EXPIRED) this.trusted.delete(token);
    return refused;
  }

  /** What an announce for `infoHash` now makes of a token saying this. */
  private compare(token: TrustedToken, infoHash: string): Refusal | undefined {
    if (token.infoHash !== infoHash) return WRONG_TORRENT;
    const now = this.now();
    const skew = this.options.clockSkewSeconds;
    if (now >= token.exp + skew) return EXPIRED;
    if (now + skew < token.nbf) return NOT_YET_VALID;
    return undefined;
  }

  private invalidBecause(reason: string): Refusal {
    let r = this.invalid.get(reason);
    if (r === undefined) {
      r = refusal(`unapproved request: invalid jwt (${reason})`);
      // Reasons are a fixed set of phrases, except for an unknown alg name: never let them pile up.
      if (this.invalid.size < 64) this.invalid.set(reason, r);
    }
    return r;
  }
}
