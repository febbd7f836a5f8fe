/**
 * Checks a compact JWS token (RFC 7515, 7519) synchronously, in two steps
 * so the expensive one runs last and only for tokens worth it:
 *
 * 1. `inspect`: the token's own content. Three base64url parts; a header
 *    whose `alg` is one of the allowed ones (never `none`, never a shared
 *    secret) and without `crit` extensions; a payload whose `iss` is the
 *    issuer, whose `aud` is or contains the audience, whose `exp` and `nbf`
 *    (when present) are numbers, `exp` required when so configured, and
 *    whose `infohash` is the torrent's (40 hex digits, as Quay writes it;
 *    chihaya's raw 20 bytes or their percent-escaped form also work).
 * 2. `verify`: the signature, with node:crypto against the keys of the JWK
 *    Set that the header's `kid` and `alg` select (RS256, ES256, EdDSA).
 *
 * Times are not checked here: a token checked once is cached, and each
 * announce compares its `exp` and `nbf` with the clock (see jwt-approval.ts).
 */
import { verify } from 'node:crypto';
import type { KeySet } from './key-set.js';

export interface TokenRules {
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: ReadonlySet<string>;
  /** Refuse tokens without `exp` (Quay's have none: turn it off for them). */
  readonly requireExpiry: boolean;
}

/** What step 1 found in a token. */
export interface InspectedToken {
  readonly signingInput: string;
  readonly signature: Buffer;
  readonly alg: string;
  /** "" when the header has none. */
  readonly kid: string;
  /** The `infohash` claim as a 20-char latin1 string. */
  readonly infoHash: string;
  /** Seconds; Infinity without `exp`. */
  readonly exp: number;
  /** Seconds; -Infinity without `nbf`. */
  readonly nbf: number;
}

/** Tokens longer than this are refused unread. */
export const MAX_TOKEN_LENGTH = 8192;

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const HEX40 = /^[0-9a-fA-F]{40}$/;

export class TokenVerifier {
  constructor(private readonly rules: TokenRules) {}

  /** Step 1: the token's content. Returns what it found, or why it is refused (a short phrase). */
  inspect(token: string): InspectedToken | string {
    if (token.length > MAX_TOKEN_LENGTH) return 'too long';
    const dot1 = token.indexOf('.');
    const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
    if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return 'malformed (not three dot-separated parts)';
    const h = token.slice(0, dot1);
    const p = token.slice(dot1 + 1, dot2);
    const s = token.slice(dot2 + 1);
    // An unsigned token (RFC 7519 6.1) has an empty signature: it is refused below for its alg.
    if (!BASE64URL.test(h) || !BASE64URL.test(p) || (s !== '' && !BASE64URL.test(s))) return 'malformed (not base64url)';
    const header = parseJson(h);
    const payload = parseJson(p);
    if (header === undefined || payload === undefined) return 'malformed (not JSON objects)';

    const alg = header.alg;
    if (typeof alg !== 'string') return 'malformed (no alg)';
    const algorithm = alg === 'Ed25519' ? 'EdDSA' : alg;
    if (!this.rules.algorithms.has(algorithm)) return alg === 'none' ? 'unsigned (alg none)' : `algorithm ${JSON.stringify(alg).slice(0, 20)} not accepted`;
    if (header.crit !== undefined) return 'unsupported crit header';
    const kid = header.kid === undefined ? '' : header.kid;
    if (typeof kid !== 'string') return 'malformed (kid)';

    if (payload.iss !== this.rules.issuer) return 'wrong issuer';
    const aud = payload.aud;
    if (!(aud === this.rules.audience || (Array.isArray(aud) && aud.includes(this.rules.audience)))) return 'wrong audience';
    const exp = payload.exp;
    if (exp === undefined) {
      if (this.rules.requireExpiry) return 'no expiry (exp)';
    } else if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'malformed (exp)';
    const nbf = payload.nbf;
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) return 'malformed (nbf)';
    const infoHash = infoHashClaim(payload.infohash);
    if (infoHash === undefined) return 'no valid infohash claim';

    if (s === '') return 'malformed (no signature)';
    const signature = Buffer.from(s, 'base64url');
    if (algorithm === 'ES256' && signature.length !== 64) return 'malformed (ES256 signature length)';
    return {
      signingInput: token.slice(0, dot2),
      signature,
      alg: algorithm,
      kid,
      infoHash,
      exp: exp === undefined ? Infinity : exp,
      nbf: nbf === undefined ? -Infinity : nbf,
    };
  }

  /** Step 2: the signature, against the keys that the token's kid and alg select. */
  verify(token: InspectedToken, keys: KeySet): 'ok' | 'bad signature' | 'unknown key' {
    const candidates = keys.candidates(token.kid, token.alg);
    if (candidates.length === 0) return 'unknown key';
    const data = Buffer.from(token.signingInput, 'latin1');
    for (const k of candidates) {
      let ok: boolean;
      try {
        ok =
          k.alg === 'ES256'
            ? verify('sha256', data, { key: k.key, dsaEncoding: 'ieee-p1363' }, token.signature)
            : verify(k.alg === 'EdDSA' ? null : 'sha256', data, k.key, token.signature);
      } catch {
        ok = false;
      }
      if (ok) return 'ok';
    }
    return 'bad signature';
  }
}

function parseJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `infohash` claim as a 20-char latin1 string: 40 hex digits, 20 raw characters, or those percent-escaped. */
export function infoHashClaim(claim: unknown): string | undefined {
  if (typeof claim !== 'string') return undefined;
  if (claim.length === 40 && HEX40.test(claim)) return Buffer.from(claim, 'hex').toString('latin1');
  if (claim.length === 20 && !/[^\x00-\xff]/.test(claim)) return claim;
  if (claim.includes('%')) {
    const bytes = percentDecode(claim);
    if (bytes !== undefined && bytes.length === 20) return bytes.toString('latin1');
  }
  return undefined;
}

function percentDecode(text: string): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 37) {
      const byte = Number.parseInt(text.slice(i + 1, i + 3), 16);
      if (!/^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) return undefined;
      out.push(byte);
      i += 2;
    } else if (c < 0x80) out.push(c === 43 ? 32 : c);
    else return undefined;
  }
  return Buffer.from(out);
}
