/**
 * The accounting of a slot travels with its peers (services/swarm/store/
 * slot-state.ts + accounting/slot-accounts.ts): exported after the store's
 * chunks, imported by handoff chunk by chunk and by snapshot value, in any
 * order and more than once, so the next announce on the new owner credits
 * exactly what grew since the last report the old owner saw.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogBuilder } from '../../../lib/private/catalog/catalog.js';
import type { SqlClient } from '../../../lib/private/db/pool.js';
import { DatabaseWriter } from '../../../lib/private/db/writer.js';
import { defaultConfig } from '../../../lib/runtime/config.js';
import { Failures } from '../../../lib/runtime/failures.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { AnnounceRequest } from '../../../lib/tracker/announce.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { PeerAccounts } from '../../../services/swarm/accounting/peer-accounts.js';
import { PrivateAccounting } from '../../../services/swarm/accounting/private-announce.js';
import { isAccountsChunk } from '../../../services/swarm/accounting/slot-accounts.js';
import { createSwarm } from '../../../services/swarm/create-swarm.js';
import { SlotChunkError } from '../../../services/swarm/store/slot-state.js';
import type { Swarm } from '../../../services/swarm/swarm.js';

const HASH = '\x12\x34' + 'h'.repeat(18);
const SLOT = 0x1234;
const NOW = 1_800_000_000;

/** A database nobody reaches: these tests never flush. */
const NO_DB: SqlClient = {
  query: () => Promise.reject(new Error('no database in this test')),
  eachRow: () => Promise.reject(new Error('no database in this test')),
};

function catalog() {
  const b = new CatalogBuilder();
  b.addTorrent(1, HASH, 1, 1, false, 1, 'anime');
  b.addUser(1, 'a'.repeat(32), 1, 1, false, false);
  return b.build(0);
}

function makeSwarm(privateMode: boolean): Swarm & { accounts?: PeerAccounts } {
  const config = defaultConfig();
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(silentLogger, (c) => metrics.internalErrorCounter(c));
  let accounting: PrivateAccounting | undefined;
  if (privateMode) {
    const writer = new DatabaseWriter({ db: NO_DB, config: config.database, failures: failures.for('w'), limitCounter: (k) => metrics.limitCounter(k) });
    const c = catalog();
    accounting = new PrivateAccounting({ catalog: () => c, accounts: new PeerAccounts(3900), writer, recorder: null, now: () => NOW, inactivitySeconds: 3900 });
  }
  const swarm = createSwarm(config, metrics, failures, accounting);
  swarm.stopSweeper();
  return swarm;
}

const alice = (downloaded: number, event: AnnounceEvent = AnnounceEvent.None): AnnounceRequest => ({
  type: 'announce',
  infoHash: HASH,
  peerId: '-qB4650-alicealiceal',
  endpoint: new Uint8Array([10, 0, 0, 1, 0x1a, 0xe1]),
  event,
  left: 1000 - downloaded,
  numwant: 0,
  userId: 1,
  uploaded: 0,
  downloaded,
  userUpMultiplier: 1,
  userDownMultiplier: 1,
  clientId: 1,
});

/** The download alice's announce to `swarm` credited. */
function credits(swarm: Swarm, downloaded: number): number {
  assert.equal(swarm.handleOne(alice(downloaded)).type, 'announce');
  return swarm.accounting!.accounts.credit.rawDown;
}

function exportSlot(swarm: Swarm): Uint8Array[] {
  return [...swarm.slots.exportSlot(SLOT, swarm.slots.newWriter())];
}

describe('accounting in slot chunks', () => {
  test('handoff: the new owner, given the chunks in any order and twice, credits only what grew since the old owner\'s last report', () => {
    const old = makeSwarm(true);
    old.handleOne(alice(0, AnnounceEvent.Started));
    assert.equal(credits(old, 500), 500);
    const chunks = exportSlot(old);
    assert.equal(chunks.length, 2, 'one store chunk, one accounting chunk');
    assert.ok(isAccountsChunk(chunks[1]) && !isAccountsChunk(chunks[0]));

    const next = makeSwarm(true);
    for (const chunk of [...chunks].reverse().concat(chunks)) next.slots.importChunk(chunk);
    assert.equal(next.peers.slotPeerCount(SLOT), 1);
    assert.equal(credits(next, 800), 300, 'the delta against the last report the old owner saw');

    const without = makeSwarm(true);
    without.slots.importChunk(chunks[0]);
    assert.equal(credits(without, 800), 0, 'control: without the accounting chunk the first announce is only a baseline (300 bytes lost)');
  });

  test('snapshot: a slot value holds the accounting after the peers and restores it', () => {
    const old = makeSwarm(true);
    old.handleOne(alice(0, AnnounceEvent.Started));
    credits(old, 400);
    const chunks = exportSlot(old);
    const value = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      value.set(c, at);
      at += c.length;
    }
    const restored = makeSwarm(true);
    assert.equal(restored.slots.importSlotValue(SLOT, value).peers, 1);
    assert.equal(credits(restored, 1000), 600);
  });

  test('dropping a handed-off slot forgets its accounting too', async () => {
    const old = makeSwarm(true);
    old.handleOne(alice(0, AnnounceEvent.Started));
    assert.equal(old.accounting!.peers, 1);
    await old.slots.dropSlots([SLOT], 10);
    assert.equal(old.accounting!.peers, 0);
    assert.equal(exportSlot(old).length, 0);
  });

  test('a public swarm refuses an accounting chunk (counted), and still takes the peers', () => {
    const chunks = (() => {
      const old = makeSwarm(true);
      old.handleOne(alice(0, AnnounceEvent.Started));
      return exportSlot(old);
    })();
    const pub = makeSwarm(false);
    pub.slots.importChunk(chunks[0]);
    assert.throws(() => pub.slots.importChunk(chunks[1]), (e: unknown) => e instanceof SlotChunkError && /not in private mode/.test(e.message));
    assert.equal(pub.slots.stats.refusedCorrupt, 1);
    assert.equal(pub.peers.slotPeerCount(SLOT), 1);
    const damaged = chunks[1].slice(0, chunks[1].length - 3);
    const priv = makeSwarm(true);
    assert.throws(() => priv.slots.importChunk(damaged), SlotChunkError);
    assert.equal(priv.accounting!.peers, 0, 'a damaged chunk changes nothing');
  });
});
