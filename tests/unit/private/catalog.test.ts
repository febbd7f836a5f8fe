/**
 * The catalog's in-memory shape (lib/private/catalog/catalog.ts): lookups
 * and the bytes one user or torrent costs, measured in a child process with
 * a forced GC; and that mysql2 is loaded by private mode only.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CatalogBuilder, NOT_FOUND } from '../../../lib/private/catalog/catalog.js';
import { InfoHashIndex } from '../../../lib/private/catalog/hash-index.js';
import { printSeed, randomBinary, rngFor } from '../../support/seeded-random.js';
import { REPO_ROOT } from '../../support/tracker-process.js';

describe('catalog', () => {
  test('duplicate passkeys and info-hashes keep the first; an empty client prefix approves nobody', () => {
    const b = new CatalogBuilder();
    b.addUser(1, 'p'.repeat(32), 1, 1, false, false);
    b.addUser(2, 'p'.repeat(32), 1, 1, false, false);
    b.addTorrent(1, 'h'.repeat(20), 1, 1, false, 0, 'anime');
    b.addTorrent(2, 'h'.repeat(20), 1, 1, false, 0, 'anime');
    b.addTorrent(3, 'short', 1, 1, false, 0, 'anime');
    b.addClient(1, '');
    const c = b.build(0);
    assert.equal(c.userId(c.user('p'.repeat(32))), 1);
    assert.equal(c.torrentId(c.torrent('h'.repeat(20))), 1);
    assert.equal(c.torrents, 1, 'an info_hash that is not 20 bytes is skipped');
    assert.equal(c.client('-qB4650-aaaaaaaaaaaa'), NOT_FOUND);
  });

  test('bytes per user and per torrent (stated in the README)', (t) => {
    const module = pathToFileURL(join(REPO_ROOT, 'dist', 'lib', 'private', 'catalog', 'catalog.js')).href;
    const script = `
      const { CatalogBuilder } = await import(${JSON.stringify(module)});
      const used = () => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
      const N = 200000;
      const before = used();
      // Keys as the database driver hands them over: flat strings decoded from bytes.
      const buildUsers = () => { const b = new CatalogBuilder(); for (let i = 0; i < N; i++) b.addUser(i + 1, Buffer.from(i.toString(36).padStart(32, '-')).toString('latin1'), 1, 1, false, false); return b.build(0); };
      const buildTorrents = () => { const b = new CatalogBuilder(); for (let i = 0; i < N; i++) { const h = Buffer.alloc(20); h.writeUInt32BE(i, 0); h.writeUInt32BE(i * 2654435761 >>> 0, 16); b.addTorrent(i + 1, h.toString('latin1'), 1, 1, false, i, 'anime'); } return b.build(0); };
      const catalog = buildUsers();
      const users = used();
      const torrents = buildTorrents();
      const after = used();
      if (catalog.users !== N || torrents.torrents !== N) throw new Error('not built');
      console.log(JSON.stringify({ user: (users - before) / N, torrent: (after - users) / N }));
    `;
    const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(child.status, 0, child.stderr);
    const bytes = JSON.parse(child.stdout) as { user: number; torrent: number };
    t.diagnostic(`bytes per catalog user: ${bytes.user.toFixed(1)}, per torrent: ${bytes.torrent.toFixed(1)}`);
    assert.ok(bytes.user > 20 && bytes.user <= 160, `user ${bytes.user}`);
    assert.ok(bytes.torrent > 20 && bytes.torrent <= 80, `torrent ${bytes.torrent}`);
  });
});

describe('info-hash index', () => {
  test('agrees with a Map: every key found at its entry number, absent keys and other lengths not, duplicates refused', (t) => {
    printSeed(t);
    const r = rngFor('info-hash index');
    const index = new InfoHashIndex();
    const model = new Map<string, number>();
    for (let i = 0; i < 50_000; i++) {
      const key = randomBinary(r, 20);
      const entry = index.add(key);
      if (model.has(key)) assert.equal(entry, -1);
      else model.set(key, entry);
    }
    assert.equal(index.add([...model.keys()][7]), -1, 'a duplicate is refused');
    assert.equal(index.add('short'), -1);
    index.freeze();
    assert.equal(index.size, model.size);
    for (const [key, entry] of model) assert.equal(index.get(key), entry);
    for (let i = 0; i < 10_000; i++) {
      const absent = randomBinary(r, 20);
      if (!model.has(absent)) assert.equal(index.get(absent), -1);
    }
    assert.equal(index.get('x'.repeat(19)), -1);
    assert.equal(index.get('\u0100'.repeat(20)), -1, 'not a latin1 key');
    assert.throws(() => index.add(randomBinary(r, 20)), /after freeze/);
    assert.ok(index.bytes() / index.size < 40, `${index.bytes() / index.size} bytes per key`);
  });
});

describe('mysql2 stays out of public mode', () => {
  /** Every .ts file under a folder. */
  const sources = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (name === 'generated' || name === 'node_modules') return [];
      return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
    });
  const staticImport = /^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s*['"](mysql2[^'"]*)['"]/m;

  test('only lib/private/db/pool.ts names mysql2, and loads it with a dynamic import when a pool is opened', () => {
    const naming: string[] = [];
    for (const file of [...sources(join(REPO_ROOT, 'lib')), ...sources(join(REPO_ROOT, 'services'))]) {
      const text = readFileSync(file, 'utf8');
      if (!/['"]mysql2(\/[^'"]*)?['"]/.test(text)) continue;
      naming.push(relative(REPO_ROOT, file));
      assert.doesNotMatch(text, staticImport, `${relative(REPO_ROOT, file)} imports mysql2 statically`);
    }
    assert.deepEqual(naming, ['lib/private/db/pool.ts']);
    assert.match(readFileSync(join(REPO_ROOT, 'lib/private/db/pool.ts'), 'utf8'), /await import\('mysql2\/promise'\)/);
  });

  test('the check sees a static import (positive control)', () => {
    assert.match("import mysql from 'mysql2/promise';", staticImport);
    assert.doesNotMatch("import type { Pool } from 'mysql2/promise';", staticImport);
  });
});
