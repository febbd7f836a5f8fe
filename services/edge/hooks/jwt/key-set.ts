/**
 * The public keys tokens may be signed with, from a JWK Set (RFC 7517), as
 * node:crypto KeyObjects ready for a synchronous verify. jose does the
 * importing (it checks each key against its algorithm); importing is async
 * and happens in the background, never on a request.
 */
import { KeyObject } from 'node:crypto';
import { importJWK, type JWK } from 'jose';

/** The signature algorithms the JWT hook knows; `none` and shared-secret (HS*) ones are never accepted. */
export const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export interface VerificationKey {
  /** "" for a key without a kid (only tokens without one may use it). */
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly key: KeyObject;
}

export class KeySet {
  private readonly byKid = new Map<string, VerificationKey[]>();

  constructor(readonly keys: readonly VerificationKey[] = []) {
    for (const k of keys) {
      const list = this.byKid.get(k.kid);
      if (list) list.push(k);
      else this.byKid.set(k.kid, [k]);
    }
  }

  get size(): number {
    return this.keys.length;
  }

  /** The keys a token with this kid ("" = none) and alg may be signed with. */
  candidates(kid: string, alg: string): VerificationKey[] {
    const list = this.byKid.get(kid);
    if (list === undefined) return NONE;
    return list.length === 1 ? (list[0].alg === alg ? list : NONE) : list.filter((k) => k.alg === alg);
  }
}

const NONE: VerificationKey[] = [];

/** The algorithm a JWK without `alg` is used with, from its key type. */
function algorithmOf(jwk: JWK): string | undefined {
  if (jwk.alg !== undefined) return jwk.alg === 'Ed25519' ? 'EdDSA' : jwk.alg;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}

/** RSA keys shorter than this are refused (RFC 7518 3.3). */
const MIN_RSA_BITS = 2048;

/**
 * Imports the signature keys of a JWK Set for `algorithms`. Keys for other
 * uses or algorithms are skipped and named in `skipped`; a set with no key
 * left, or that is not a JWK Set, throws with the reason.
 */
export async function importJwks(jwks: unknown, algorithms: ReadonlySet<string>): Promise<{ keys: KeySet; skipped: string[] }> {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new Error('not a JWK Set: expected a JSON object with a "keys" array');
  }
  const keys: VerificationKey[] = [];
  const skipped: string[] = [];
  for (const [i, jwk] of ((jwks as { keys: JWK[] }).keys).entries()) {
    const name = `key ${i}${typeof jwk?.kid === 'string' ? ` (kid ${JSON.stringify(jwk.kid)})` : ''}`;
    if (typeof jwk !== 'object' || jwk === null) {
      skipped.push(`${name}: not an object`);
      continue;
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') {
      skipped.push(`${name}: use ${JSON.stringify(jwk.use)}, not "sig"`);
      continue;
    }
    if (jwk.d !== undefined) {
      skipped.push(`${name}: a private key; publish only public keys`);
      continue;
    }
    const alg = algorithmOf(jwk);
    if (alg === undefined || !algorithms.has(alg)) {
      skipped.push(`${name}: algorithm ${alg ?? `of key type ${JSON.stringify(jwk.kty)}`} is not in hooks.jwt.algorithms`);
      continue;
    }
    let key: KeyObject;
    try {
      // jose names Ed25519 keys' algorithm either way (RFC 8037 "EdDSA", RFC 9864 "Ed25519").
      const importAs = jwk.alg === 'Ed25519' ? 'Ed25519' : alg;
      const imported = await importJWK({ ...jwk, alg: importAs }, importAs);
      if (!(imported instanceof KeyObject) && !(imported instanceof Uint8Array)) key = KeyObject.from(imported);
      else if (imported instanceof KeyObject) key = imported;
      else throw new Error('a shared secret, not a public key');
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message}`);
      continue;
    }
    if (key.type !== 'public') {
      skipped.push(`${name}: not a public key`);
      continue;
    }
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (alg === 'RS256' && (bits === undefined || bits < MIN_RSA_BITS)) {
      skipped.push(`${name}: RSA key of ${bits ?? '?'} bits; at least ${MIN_RSA_BITS} are needed`);
      continue;
    }
    keys.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : '', alg: alg as JwtAlgorithm, key });
  }
  if (keys.length === 0) {
    throw new Error(`no usable signature key${skipped.length > 0 ? `: ${skipped.join('; ')}` : ' (the set is empty)'}`);
  }
  return { keys: new KeySet(keys), skipped };
}
