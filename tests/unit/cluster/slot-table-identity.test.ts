import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotTable } from '../../../lib/cluster/slot-table.js';

const names = (n: number, prefix = 'swarm-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('table identity: the same members in any order, any epoch, give the same identity', () => {
  const a = SlotTable.build(['swarm-2', 'swarm-0', 'swarm-1'], 7);
  const b = SlotTable.build(['swarm-0', 'swarm-1', 'swarm-2'], 99);
  assert.equal(a.identity, b.identity);
  assert.ok(Number.isSafeInteger(a.identity) && a.identity > 0 && a.identity < 2 ** 52);
  // Golden value: edges and swarms of different builds must compute the same identity.
  // If this changes, edges and swarms of different versions disagree during an upgrade.
  assert.equal(SlotTable.build(names(3)).identity, 4112993003258508);
});

test('table identity: any change of the member set changes it; the empty table is 0', () => {
  const seen = new Map<number, string>();
  const sets: string[][] = [];
  for (let n = 1; n <= 40; n++) sets.push(names(n));
  for (let n = 1; n <= 40; n++) sets.push(names(n, 'pod-'));
  sets.push(['a', 'b'], ['a\u0001b'], ['ab'], ['a', 'bc'], ['ab', 'c']);
  for (const set of sets) {
    const id = SlotTable.build(set).identity;
    const key = set.join(',');
    assert.equal(seen.has(id), false, `${key} and ${seen.get(id)} share identity ${id}`);
    seen.set(id, key);
  }
  assert.equal(SlotTable.build([]).identity, 0);
});
