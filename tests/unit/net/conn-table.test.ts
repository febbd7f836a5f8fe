/**
 * The connection guard's bookkeeping (native/tcp-guard/src/conn_table.c),
 * driven directly: which connection may stay, per address and in total, and
 * that every close gives its place back.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Admit, createConnTable, tcpGuardUnavailable } from '../../../lib/net/tcp-guard.js';
import { parseCidr } from '../../../lib/runtime/cidr.js';
import { parseIp } from '../../../lib/net/ip.js';

const unavailable = tcpGuardUnavailable();

/** An address in the guard's form: 16 bytes, IPv4 as ::ffff:a.b.c.d. */
function addr(text: string): Uint8Array {
  const bytes = parseIp(text);
  if (!bytes) throw new Error(`bad address ${text}`);
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

describe('connection table', { skip: unavailable }, () => {
  it('caps each address and gives the place back on release', () => {
    const table = createConnTable(100, 2);
    assert.equal(table.admit(10, addr('198.51.100.1')), Admit.Admitted);
    assert.equal(table.admit(11, addr('198.51.100.1')), Admit.Admitted);
    assert.equal(table.admit(12, addr('198.51.100.1')), Admit.OverPerAddress);
    assert.equal(table.admit(12, addr('198.51.100.2')), Admit.Admitted, 'another address is not affected');
    assert.equal(table.count(addr('198.51.100.1')), 2);
    table.release(10);
    assert.equal(table.count(addr('198.51.100.1')), 1);
    assert.equal(table.admit(13, addr('198.51.100.1')), Admit.Admitted);
    assert.deepEqual(table.stats(), { open: 3, addresses: 2 });
  });

  it('caps the total, whatever the addresses', () => {
    const table = createConnTable(3, 100);
    for (let fd = 0; fd < 3; fd++) assert.equal(table.admit(fd, addr(`203.0.113.${fd}`)), Admit.Admitted);
    assert.equal(table.admit(3, addr('203.0.113.50')), Admit.OverTotal);
    assert.equal(table.admit(3, null), Admit.OverTotal, 'a peer without an address counts too');
    table.release(1);
    assert.equal(table.admit(3, addr('203.0.113.50')), Admit.Admitted);
    assert.equal(table.stats().open, 3);
  });

  it('counts IPv6 per /64: one host cannot escape the cap by changing its interface id', () => {
    const table = createConnTable(100, 2);
    assert.equal(table.admit(1, addr('2001:db8:1:2::1')), Admit.Admitted);
    assert.equal(table.admit(2, addr('2001:db8:1:2:ffff::9')), Admit.Admitted);
    assert.equal(table.admit(3, addr('2001:db8:1:2:abcd::1')), Admit.OverPerAddress);
    assert.equal(table.admit(3, addr('2001:db8:1:3::1')), Admit.Admitted, 'the next /64 is another address');
    assert.equal(table.count(addr('2001:db8:1:2::77')), 2);
  });

  it('keeps IPv4 addresses apart (they are not grouped like IPv6)', () => {
    const table = createConnTable(100, 1);
    for (let i = 1; i <= 20; i++) assert.equal(table.admit(i, addr(`10.0.0.${i}`)), Admit.Admitted, `10.0.0.${i}`);
    assert.equal(table.stats().addresses, 20);
  });

  it('exempts trusted proxies from the per-address cap but not from the total', () => {
    const table = createConnTable(4, 1, [parseCidr('10.1.0.0/16'), parseCidr('2001:db8:aa::/48')]);
    assert.equal(table.admit(1, addr('10.1.2.3')), Admit.Admitted);
    assert.equal(table.admit(2, addr('10.1.2.3')), Admit.Admitted, 'a proxy carries many clients');
    assert.equal(table.admit(3, addr('2001:db8:aa:1::1')), Admit.Admitted);
    assert.equal(table.admit(4, addr('10.2.0.1')), Admit.Admitted);
    assert.equal(table.admit(5, addr('10.3.0.1')), Admit.OverTotal, 'the total still applies');
    assert.equal(table.admit(5, addr('10.1.2.3')), Admit.OverTotal, 'to proxies too');
    table.release(4);
    assert.equal(table.admit(4, addr('10.3.0.1')), Admit.Admitted);
    assert.equal(table.stats().addresses, 1, 'exempt sources are not in the per-address table');
  });

  it('a descriptor handed out again without a close forgets its old connection', () => {
    const table = createConnTable(100, 1);
    assert.equal(table.admit(7, addr('192.0.2.1')), Admit.Admitted);
    // fd 7 closed by a path the guard does not see, then reused for another peer:
    assert.equal(table.admit(7, addr('192.0.2.2')), Admit.Admitted);
    assert.equal(table.count(addr('192.0.2.1')), 0);
    assert.deepEqual(table.stats(), { open: 1, addresses: 1 });
  });

  it('ignores releases of descriptors it never admitted', () => {
    const table = createConnTable(100, 5);
    assert.equal(table.admit(3, addr('192.0.2.1')), Admit.Admitted);
    table.release(4);
    table.release(3);
    table.release(3);
    table.release(1_000_000);
    table.release(-1);
    assert.deepEqual(table.stats(), { open: 0, addresses: 0 });
  });

  it('stays exact under churn across table growth (many addresses, high descriptors)', () => {
    const table = createConnTable(1_000_000, 3);
    const live = new Map<number, string>();
    const liveFds: number[] = [];
    const expected = new Map<string, number>();
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let step = 0; step < 40_000; step++) {
      if (liveFds.length > 0 && random(3) === 0) {
        const i = random(liveFds.length);
        const fd = liveFds[i];
        liveFds[i] = liveFds[liveFds.length - 1];
        liveFds.pop();
        const a = live.get(fd)!;
        table.release(fd);
        live.delete(fd);
        expected.set(a, expected.get(a)! - 1);
        continue;
      }
      let fd = random(50_000);
      while (live.has(fd)) fd = (fd + 1) % 50_000;
      const a = random(2) === 0 ? `172.16.${random(20)}.${random(256)}` : `2001:db8:${random(3000).toString(16)}::${random(9) + 1}`;
      const key = a.includes(':') ? a.slice(0, a.indexOf('::')) : a;
      const verdict = table.admit(fd, addr(a));
      const have = expected.get(key) ?? 0;
      assert.equal(verdict, have >= 3 ? Admit.OverPerAddress : Admit.Admitted, `step ${step}: ${a} with ${have} open`);
      if (verdict === Admit.Admitted) {
        live.set(fd, key);
        liveFds.push(fd);
        expected.set(key, have + 1);
      }
    }
    for (const [key, n] of expected) assert.equal(table.count(addr(key.includes(':') ? `${key}::1` : key)), n, key);
    assert.equal(table.stats().open, live.size);
    assert.equal(table.stats().addresses, [...expected.values()].filter((n) => n > 0).length);
    for (const fd of live.keys()) table.release(fd);
    assert.deepEqual(table.stats(), { open: 0, addresses: 0 });
  });
});
