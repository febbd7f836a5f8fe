/**
 * The catalog reloader's scheduling (lib/private/catalog/reloader.ts) with a
 * scripted loader: it reloads on its own every interval, concurrent reloads
 * share one load, a failure keeps the copy, and stop() ends the reloads.
 * Loads against a real MariaDB: tests/integration/private-catalog.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogBuilder, type Catalog } from '../../../lib/private/catalog/catalog.js';
import { CatalogReloader } from '../../../lib/private/catalog/reloader.js';
import { Failures } from '../../../lib/runtime/failures.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import { delay } from '../../support/tracker-process.js';

function catalogWithUsers(n: number): Catalog {
  const b = new CatalogBuilder();
  for (let i = 0; i < n; i++) b.addUser(i + 1, `user${i}`.padEnd(32, '-'), 1, 1, false, false);
  return b.build(0);
}

test('reloads every interval by itself, shares concurrent reloads, keeps the copy through a failure, stops', async (t) => {
  let loads = 0;
  let fail = false;
  const reloader = new CatalogReloader({
    load: async () => {
      loads++;
      await delay(1);
      if (fail) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' });
      return catalogWithUsers(loads);
    },
    intervalMs: 20,
    failures: new Failures(silentLogger).for('private-catalog'),
  });
  t.after(() => reloader.stop());
  const [a, b] = [reloader.reloadNow(), reloader.reloadNow()];
  assert.equal(a, b, 'one load for both callers');
  assert.equal(await a, true);
  assert.equal(loads, 1);
  await reloader.start();
  const deadline = Date.now() + 30_000;
  while (loads < 5 && Date.now() < deadline) await delay(10);
  assert.ok(loads >= 5, 'it reloads on its own');
  fail = true;
  const before = reloader.current;
  const failedBefore = reloader.reloadsFailed;
  while (reloader.reloadsFailed === failedBefore && Date.now() < deadline) await delay(10);
  assert.equal(reloader.current, before, 'a failed reload keeps the copy');
  assert.match(reloader.detail(), /reloads failing for \d+ s \(ECONNREFUSED: connect ECONNREFUSED/);
  reloader.stop();
  await delay(5);
  const stoppedAt = loads;
  await delay(100);
  assert.ok(loads <= stoppedAt + 1, 'no reloads after stop()');
});
