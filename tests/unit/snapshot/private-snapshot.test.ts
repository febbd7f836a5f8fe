/**
 * Private accounting through snapshots (scheduler + SwarmSlotSource + the
 * in-memory backend): a swarm that dies (kill -9: nothing after its last
 * snapshot pass) and is restored by a new process keeps each private peer's
 * last report, so the next announce credits only what grew since, not the
 * client's whole session again and not nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogBuilder } from '../../../lib/private/catalog/catalog.js';
import type { DatabaseWriter } from '../../../lib/private/db/writer.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { PeerAccounts } from '../../../services/swarm/accounting/peer-accounts.js';
import { PrivateAccounting } from '../../../services/swarm/accounting/private-announce.js';
import { MemorySnapshotBackend } from '../../../services/swarm/snapshot/memory-backend.js';
import { hashInSlot, makeSwarm, scheduledSwarm, type TestSwarm } from '../../support/swarm-slots.js';
import { clock as testClock } from '../../support/swarm-store.js';

const HASHES = [3, 0x4242, 0xfffe].map((slot, i) => hashInSlot(slot, i));

function privateSwarm(credited: number[]): TestSwarm {
  const b = new CatalogBuilder();
  HASHES.forEach((h, i) => b.addTorrent(i + 1, h, 1, 1, false, i + 1, 'anime'));
  const catalog = b.build(0);
  const writer = { addUser: (_u: number, _up: number, _down: number, rawUp: number) => (credited.push(rawUp), true), addTransferHistory: () => true, addTransferIp: () => true, addSnatch: () => true, addTorrent: () => true } as unknown as DatabaseWriter;
  const clock = testClock();
  clock.t = 1_000_000;
  return makeSwarm({ clock, accounting: new PrivateAccounting({ catalog: () => catalog, accounts: new PeerAccounts(3900), writer, recorder: null, now: clock.now, inactivitySeconds: 3900 }) });
}

function announce(t: TestSwarm, hash: string, userId: number, uploaded: number, event: AnnounceEvent = AnnounceEvent.None): void {
  t.clock.t += 60;
  const reply = t.swarm.handleOne({ type: 'announce', infoHash: hash, peerId: `-qB4650-user${String(userId).padStart(8, '0')}`, endpoint: Uint8Array.of(10, 0, 0, userId, 0x1a, 0xe1), event, left: 0, numwant: 0, userId, uploaded, downloaded: 0, userUpMultiplier: 1, userDownMultiplier: 1, clientId: 1 });
  assert.equal(reply.type, 'announce');
}

test('kill -9 after a snapshot pass, restore in a new process: the next announce credits only what grew since the last report', async () => {
  const backend = new MemorySnapshotBackend();
  const before: number[] = [];
  const a = privateSwarm(before);
  const writerA = scheduledSwarm(a, backend).scheduler;
  HASHES.forEach((h, i) => announce(a, h, i + 1, 1_000_000, AnnounceEvent.Started));
  HASHES.forEach((h, i) => announce(a, h, i + 1, 1_000_500));
  assert.deepEqual(before.filter((n) => n > 0), [500, 500, 500]);
  await writerA.runPass();
  // a dies here: no stop(), no final pass.

  const after: number[] = [];
  const b = privateSwarm(after);
  b.clock.t = a.clock.t;
  const restored = await scheduledSwarm(b, backend).scheduler.restore();
  assert.equal(restored.complete, true);
  assert.equal(b.swarm.accounting!.peers, 3, 'every private peer\'s last report came back');
  HASHES.forEach((h, i) => announce(b, h, i + 1, 1_000_800));
  assert.deepEqual(after, [300, 300, 300], 'only the 300 bytes since the last report: not the session (1,000,800) again, not 0');
});
