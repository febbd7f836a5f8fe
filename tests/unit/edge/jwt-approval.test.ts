/**
 * The JWT hook against tokens signed by `jose` with keys it generates:
 * what it admits, what it refuses and why, that a token is verified once,
 * the bound on verifications, and keys from a file and from a URL that
 * rotates them in the background.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { RequestParams } from '../../../lib/tracker/params.js';
import type { ClientAnnounce } from '../../../lib/tracker/announce.js';
import { JwksSource } from '../../../services/edge/hooks/jwt/jwks-source.js';
import { JwtApproval } from '../../../services/edge/hooks/jwt/jwt-approval.js';
import { AUDIENCE, ISSUER, JwksServer, jwks, makeKey, signToken, unsignedToken, type TestKey } from '../../support/jwt-issuer.js';
import { eventually } from '../../support/waiting.js';

const ALGORITHMS = new Set(['RS256', 'ES256', 'EdDSA']);
const HASH_HEX = '0123456789abcdef0123456789abcdef01234567';
const HASH = Buffer.from(HASH_HEX, 'hex').toString('latin1');
const OTHER_HEX = 'fedcba9876543210fedcba9876543210fedcba98';

function params(token: string | undefined): RequestParams {
  return { path: '/announce', get: (name) => (name === 'jwt' ? token : undefined), entries: () => (token === undefined ? [] : [['jwt', token]]) };
}

function announceWith(token: string | undefined, infoHash = HASH): ClientAnnounce {
  return {
    type: 'announce',
    infoHash,
    peerId: '-qB4650-000000000000',
    endpoint: Uint8Array.of(127, 0, 0, 1, 0x1a, 0xe1),
    event: AnnounceEvent.None,
    left: 1,
    numwant: 50,
    uploaded: 0,
    downloaded: 0,
    params: params(token),
  };
}

class Count {
  n = 0;
  inc(): void {
    this.n++;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tracker-jwt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Setup {
  hook: JwtApproval;
  keys: JwksSource;
  budget: Count;
  clock: { s: number; ms: number };
}

async function setup(set: object, o: { maxVerificationsPerSecond?: number; cacheSize?: number; requireExpiry?: boolean } = {}): Promise<Setup> {
  const file = join(dir, `jwks-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(set));
  const keys = new JwksSource({ file, refreshSeconds: 3600, algorithms: ALGORITHMS, fsWatch: false });
  const clock = { s: Date.now() / 1000, ms: 0 };
  const budget = new Count();
  const hook = new JwtApproval({
    parameter: 'jwt',
    rules: { issuer: ISSUER, audience: AUDIENCE, algorithms: ALGORITHMS, requireExpiry: o.requireExpiry ?? true },
    keys,
    clockSkewSeconds: 30,
    cacheSize: o.cacheSize ?? 1000,
    maxVerificationsPerSecond: o.maxVerificationsPerSecond ?? 1000,
    budgetHits: budget,
    now: () => clock.s,
    monotonicMs: () => clock.ms,
  });
  await hook.start();
  return { hook, keys, budget, clock };
}

function refusalOf(hook: JwtApproval, token: string | undefined, infoHash = HASH): string | undefined {
  const r = hook.announce(announceWith(token, infoHash));
  return r?.message;
}

describe('JWT hook: tokens signed by jose', () => {
  let rs: TestKey;
  let es: TestKey;
  let ed: TestKey;
  let stranger: TestKey;

  before(async () => {
    [rs, es, ed, stranger] = await Promise.all([makeKey('RS256', 'rs'), makeKey('ES256', 'es'), makeKey('EdDSA', 'ed'), makeKey('RS256', 'rs')]);
  });

  it('admits a valid token of each algorithm, verifying each once; a re-announce is a cache hit', async () => {
    const { hook } = await setup(jwks(rs, es, ed));
    for (const key of [rs, es, ed]) {
      const token = await signToken(key, { infoHashHex: HASH_HEX });
      const before = hook.verifications;
      assert.equal(refusalOf(hook, token), undefined, `${key.alg} admitted`);
      assert.equal(hook.verifications, before + 1, `${key.alg}: one verification`);
      assert.equal(refusalOf(hook, token), undefined, `${key.alg} admitted again`);
      assert.equal(hook.verifications, before + 1, `${key.alg}: the second announce is not verified again`);
    }
    assert.equal(hook.cachedTokens, 3);
  });

  it('refuses, saying why: no token, another torrent, expired, not yet valid, wrong issuer or audience, alg none, a shared-secret alg, a forged signature, a tampered payload, an unknown key', async () => {
    const { hook } = await setup(jwks(rs, es));
    const hs256 = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, infohash: HASH_HEX })).toString('base64url')}.c2lnbmF0dXJl`;
    const good = await signToken(rs, { infoHashHex: HASH_HEX });
    const [h, p, s] = good.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, infohash: OTHER_HEX })).toString('base64url')}.${s}`;
    const cases: [string, string | undefined, RegExp, string?][] = [
      ['no token', undefined, /missing jwt \(this tracker needs a token in the "jwt" parameter of the announce URL\)/],
      ['another torrent', await signToken(rs, { infoHashHex: OTHER_HEX }), /invalid jwt \(it is for another torrent\)/],
      ['expired', await signToken(rs, { infoHashHex: HASH_HEX, expiresIn: -120 }), /invalid jwt \(expired\)/],
      ['not yet valid', await signToken(rs, { infoHashHex: HASH_HEX, notBeforeIn: 600 }), /invalid jwt \(not valid yet\)/],
      ['wrong issuer', await signToken(rs, { infoHashHex: HASH_HEX, issuer: 'https://evil.test' }), /invalid jwt \(wrong issuer\)/],
      ['wrong audience', await signToken(rs, { infoHashHex: HASH_HEX, audience: 'other' }), /invalid jwt \(wrong audience\)/],
      ['no expiry', await signToken(rs, { infoHashHex: HASH_HEX, expiresIn: undefined }), /invalid jwt \(no expiry \(exp\)\)/],
      ['alg none', unsignedToken(HASH_HEX), /invalid jwt \(unsigned \(alg none\)\)/],
      ['HS256', hs256, /invalid jwt \(algorithm "HS256" not accepted\)/],
      ['forged: signed by a stranger\'s key under a known kid', await signToken(stranger, { infoHashHex: HASH_HEX }), /invalid jwt \(bad signature\)/],
      ['tampered payload', tampered, /invalid jwt \(it is for another torrent\)/, 'for OTHER'],
      ['unknown key', await signToken(ed, { infoHashHex: HASH_HEX }), /invalid jwt \(signed with a key this tracker does not know\)/],
      ['garbage', 'not-a-token', /invalid jwt \(malformed/],
    ];
    for (const [what, token, reason, other] of cases) {
      assert.match(refusalOf(hook, token) ?? 'admitted', reason, what);
      if (other) assert.match(refusalOf(hook, token, Buffer.from(OTHER_HEX, 'hex').toString('latin1')) ?? 'admitted', /bad signature/, `${what}, announced for the hash it now names`);
    }
    // Positive control: the same keys admit the untouched token.
    assert.equal(refusalOf(hook, good), undefined);
  });

  it('a remembered token is refused once it expires, and tokens without exp pass when requireExpiry is off', async () => {
    const { hook, clock } = await setup(jwks(es));
    const token = await signToken(es, { infoHashHex: HASH_HEX, expiresIn: 60, now: clock.s });
    assert.equal(refusalOf(hook, token), undefined);
    clock.s += 60 + 31;
    assert.match(refusalOf(hook, token) ?? '', /expired/);
    const lax = await setup(jwks(es), { requireExpiry: false });
    assert.equal(refusalOf(lax.hook, await signToken(es, { infoHashHex: HASH_HEX, expiresIn: undefined })), undefined);
  });

  it('verifies at most maxVerificationsPerSecond new tokens; past it new tokens wait (counted), remembered ones are served', async () => {
    const { hook, budget, clock } = await setup(jwks(ed), { maxVerificationsPerSecond: 2 });
    const tokens = await Promise.all([1, 2, 3].map((i) => signToken(ed, { infoHashHex: HASH_HEX, expiresIn: 3600 + i })));
    assert.equal(refusalOf(hook, tokens[0]), undefined);
    assert.equal(refusalOf(hook, tokens[1]), undefined);
    assert.match(refusalOf(hook, tokens[2]) ?? '', /too many new tokens to check right now; announce again/);
    assert.equal(budget.n, 1);
    assert.equal(refusalOf(hook, tokens[0]), undefined, 'a remembered token costs no verification');
    clock.ms += 500; // half a second: one more verification
    assert.equal(refusalOf(hook, tokens[2]), undefined);
    assert.equal(hook.verifications, 3);
  });

  it('a JWK Set file: a missing file or one without a usable key stops the start, naming the key; private and unknown keys are skipped', async () => {
    const missing = new JwksSource({ file: join(dir, 'nope.json'), refreshSeconds: 60, algorithms: ALGORITHMS, fsWatch: false });
    await assert.rejects(missing.start(), /hooks\.jwt\.jwksFile .*nope\.json: file not found/);
    const privateOnly = join(dir, 'private.json');
    writeFileSync(privateOnly, JSON.stringify({ keys: [{ ...rs.jwk, d: 'secret' }] }));
    await assert.rejects(
      new JwksSource({ file: privateOnly, refreshSeconds: 60, algorithms: ALGORITHMS, fsWatch: false }).start(),
      /no usable signature key: key 0 \(kid "rs"\): a private key; publish only public keys/,
    );
    const mixed = join(dir, 'mixed.json');
    writeFileSync(mixed, JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }, { ...es.jwk, use: 'enc' }, rs.jwk] }));
    const source = new JwksSource({ file: mixed, refreshSeconds: 60, algorithms: ALGORITHMS, fsWatch: false });
    await source.start();
    assert.equal(source.keys.size, 1, 'only the RSA signature key');
    source.close();
  });
});

describe('JWT hook: a JWK Set URL, rotated in the background', () => {
  let server: JwksServer;
  let a: TestKey;
  let b: TestKey;
  let keys: JwksSource;

  before(async () => {
    [a, b] = await Promise.all([makeKey('ES256', 'key-a'), makeKey('ES256', 'key-b')]);
    server = await JwksServer.start(jwks(a));
  });

  after(async () => {
    keys?.close();
    await server?.close();
  });

  it('picks up a new key, and drops a retired one, without a restart or signal', async () => {
    keys = new JwksSource({ url: server.url, refreshSeconds: 0.1, algorithms: ALGORITHMS });
    const hook = new JwtApproval({
      parameter: 'jwt',
      rules: { issuer: ISSUER, audience: AUDIENCE, algorithms: ALGORITHMS, requireExpiry: true },
      keys,
      clockSkewSeconds: 30,
      cacheSize: 100,
      maxVerificationsPerSecond: 1000,
      budgetHits: new Count(),
    });
    await hook.start();
    const tokenA = await signToken(a, { infoHashHex: HASH_HEX });
    const tokenB = await signToken(b, { infoHashHex: HASH_HEX });
    assert.equal(refusalOf(hook, tokenA), undefined);
    assert.match(refusalOf(hook, tokenB) ?? '', /signed with a key this tracker does not know/);

    server.serve(jwks(a, b));
    await eventually(() => (refusalOf(hook, tokenB) === undefined ? true : undefined), 20_000, 'key-b to be picked up from the URL');
    assert.equal(refusalOf(hook, tokenA), undefined);

    server.serve(jwks(b));
    await eventually(() => (refusalOf(hook, tokenA) !== undefined ? true : undefined), 20_000, 'key-a to be retired, its remembered token too');
    assert.match(refusalOf(hook, tokenA) ?? '', /signed with a key this tracker does not know/);
    assert.equal(refusalOf(hook, tokenB), undefined);
    assert.ok(keys.reloadsOk >= 2);
  });

  it('a URL that stops answering keeps the keys in force, counted as failed reloads', async () => {
    const failing = await JwksServer.start(jwks(a));
    const source = new JwksSource({ url: failing.url, refreshSeconds: 0.1, algorithms: ALGORITHMS, fetchTimeoutMs: 2000 });
    await source.start();
    failing.serve({ nope: true });
    await eventually(() => (source.reloadsFailed >= 2 ? true : undefined), 20_000, 'failed reloads to be counted');
    assert.equal(source.keys.size, 1, 'the key in force stays');
    source.close();
    await failing.close();
  });
});
