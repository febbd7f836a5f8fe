/**
 * Private accounting across slot handoff, with real Swarms handing slots to
 * each other over real gRPC (tests/support/handoff-lab.ts): three swarms
 * credit private peers' transfers, a fourth joins in the middle (it pulls
 * the slots it will own, the old owners push what changed since and drop
 * them), the transfers go on at the new owners, and the bytes credited by
 * all four together are exactly the bytes the clients reported after their
 * first announce: none counted twice, none lost.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotTable } from '../../../lib/cluster/slot-table.js';
import { CatalogBuilder } from '../../../lib/private/catalog/catalog.js';
import type { DatabaseWriter } from '../../../lib/private/db/writer.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { PeerAccounts } from '../../../services/swarm/accounting/peer-accounts.js';
import { PrivateAccounting } from '../../../services/swarm/accounting/private-announce.js';
import { HandoffLab, type LabNode } from '../../support/handoff-lab.js';
import { hashInSlot } from '../../support/swarm-slots.js';
import { mulberry32, SEED } from '../../support/seeded-random.js';
import { eventually } from '../../support/waiting.js';

const labs: HandoffLab[] = [];
after(async () => {
  for (const lab of labs.splice(0)) await lab.close();
});

/** What a writer was asked to add to users_main, per user (raw bytes). */
class UsersTotals {
  readonly up = new Map<number, number>();
  readonly down = new Map<number, number>();
  /** The part of DatabaseWriter that users_main totals come from; the other tables are not checked here. */
  writer(): DatabaseWriter {
    return {
      addUser: (userId: number, _up: number, _down: number, rawUp: number, rawDown: number) => {
        this.up.set(userId, (this.up.get(userId) ?? 0) + rawUp);
        this.down.set(userId, (this.down.get(userId) ?? 0) + rawDown);
        return true;
      },
      addTransferHistory: () => true,
      addTransferIp: () => true,
      addSnatch: () => true,
      addTorrent: () => true,
    } as unknown as DatabaseWriter;
  }
}

test('a fourth swarm joins in the middle of private transfers: users_main totals equal the bytes reported, none double-counted or lost', async () => {
  const lab = new HandoffLab();
  labs.push(lab);
  const r = mulberry32(SEED ^ 0x13);
  const torrents = Array.from({ length: 120 }, (_, i) => hashInSlot(Math.floor(r() * 65536), i));
  const builder = new CatalogBuilder();
  torrents.forEach((hash, i) => builder.addTorrent(i + 1, hash, 1, 1, false, i + 1, 'anime'));
  const catalog = builder.build(0);
  const totals = new Map<string, UsersTotals>();
  const accounting = (name: string) => {
    const t = new UsersTotals();
    totals.set(name, t);
    return new PrivateAccounting({ catalog: () => catalog, accounts: new PeerAccounts(3900), writer: t.writer(), recorder: null, now: lab.clock.now, inactivitySeconds: 3900 });
  };

  // 400 peers: (user, peer_id, torrent), each reporting more bytes at every announce.
  const peers = Array.from({ length: 400 }, (_, i) => ({
    userId: 1 + (i % 37),
    peerId: `-qB4650-${String(i).padStart(12, '0')}`,
    endpoint: Uint8Array.of(10, 3, i >> 8, i & 0xff, 0x1a, 0xe1),
    hash: torrents[i % torrents.length],
    uploaded: 0,
    downloaded: 0,
    first: 0,
    firstDown: 0,
    announced: false,
  }));
  const announceAll = (table: SlotTable): void => {
    lab.clock.t += 30;
    for (const p of peers) {
      if (p.announced) {
        p.uploaded += 1 + Math.floor(r() * 10_000);
        p.downloaded += Math.floor(r() * 5_000);
      } else {
        // A resumed session: what it reports first is the baseline, never credited.
        p.uploaded = p.first = Math.floor(r() * 1e6);
        p.downloaded = p.firstDown = Math.floor(r() * 1e6);
      }
      const swarm = lab.node(table.ownerOf(p.hash)!).t.swarm;
      const reply = swarm.handleOne({
        type: 'announce',
        infoHash: p.hash,
        peerId: p.peerId,
        endpoint: p.endpoint,
        event: p.announced ? AnnounceEvent.None : AnnounceEvent.Started,
        left: 100,
        numwant: 0,
        userId: p.userId,
        uploaded: p.uploaded,
        downloaded: p.downloaded,
        userUpMultiplier: 1,
        userDownMultiplier: 1,
        clientId: 1,
      });
      assert.equal(reply.type, 'announce');
      p.announced = true;
    }
  };

  const three = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
  const four = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c', 'swarm-d']);
  const nodes: LabNode[] = await lab.nodes(['swarm-a', 'swarm-b', 'swarm-c'], { accounting });
  announceAll(three);
  announceAll(three);

  const [d] = await lab.nodes(['swarm-d'], { accounting }, ['swarm-a', 'swarm-b', 'swarm-c']);
  nodes.push(d);
  await d.handoff.join();
  // Between the pull and the table change the old owners still serve: what they credit now must reach d with the push.
  announceAll(three);
  lab.setMembers(['swarm-a', 'swarm-b', 'swarm-c', 'swarm-d']);
  await eventually(() => nodes.every((n) => n.stats.inProgress === 0 && n.handoff.pendingSlots === 0), 20_000, 'handoffs settled', 20);
  announceAll(four);
  announceAll(four);

  const moved = peers.filter((p) => four.ownerOf(p.hash) === 'swarm-d');
  assert.ok(moved.length > 40, `${moved.length} peers moved to swarm-d`);
  const dUp = [...totals.get('swarm-d')!.up.values()].reduce((a, b) => a + b, 0);
  assert.ok(dUp > 0, 'swarm-d credited the moved peers from the last report it was handed (a baseline would credit 0)');
  for (const name of ['swarm-a', 'swarm-b', 'swarm-c']) {
    const held = lab.node(name).t.swarm.accounting!.accounts;
    for (const p of moved) assert.equal(held.get(peers.indexOf(p) % torrents.length + 1, p.userId, p.peerId), undefined, `${name} dropped the handed-off accounting`);
  }

  const sum = (kind: 'up' | 'down', userId: number): number => [...totals.values()].reduce((n, t) => n + (t[kind].get(userId) ?? 0), 0);
  for (let userId = 1; userId <= 37; userId++) {
    const mine = peers.filter((p) => p.userId === userId);
    assert.equal(sum('up', userId), mine.reduce((n, p) => n + p.uploaded - p.first, 0), `user ${userId} upload (PROTOCOL_TEST_SEED=${SEED})`);
    assert.equal(sum('down', userId), mine.reduce((n, p) => n + p.downloaded - p.firstDown, 0), `user ${userId} download`);
  }
});
