import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrError, parseCidr, parseCidrList } from '../../../lib/runtime/cidr.js';
import { parseIp } from '../../../lib/net/ip.js';

function ip(text: string): Uint8Array {
  const bytes = parseIp(text);
  assert.ok(bytes, `test address ${text} parses`);
  return bytes;
}

/** The 16-byte IPv4-mapped form, as a dual-stack socket or uWebSockets.js reports it. */
function mapped(v4: string): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(ip(v4), 12);
  return out;
}

describe('cidr', () => {
  test('IPv4 ranges', () => {
    const m = parseCidrList(['10.0.0.0/8', '192.168.1.0/24', '172.16.0.0/12']);
    assert.equal(m.size, 3);
    assert.equal(m.contains(ip('10.1.2.3')), true);
    assert.equal(m.contains(ip('11.0.0.1')), false);
    assert.equal(m.contains(ip('192.168.1.255')), true);
    assert.equal(m.contains(ip('192.168.2.1')), false);
    assert.equal(m.contains(ip('172.31.255.255')), true);
    assert.equal(m.contains(ip('172.32.0.0')), false);
  });

  test('IPv4-mapped IPv6 addresses match IPv4 rules', () => {
    const m = parseCidrList(['10.0.0.0/8', '203.0.113.7']);
    assert.equal(m.contains(mapped('10.9.8.7')), true);
    assert.equal(m.contains(mapped('203.0.113.7')), true);
    assert.equal(m.contains(mapped('203.0.113.8')), false);
    assert.equal(m.contains(mapped('11.0.0.1')), false);
  });

  test('IPv4-mapped rules match plain IPv4 addresses', () => {
    const m = parseCidrList(['::ffff:10.0.0.0/104']);
    assert.equal(m.contains(ip('10.200.0.1')), true);
    assert.equal(m.contains(mapped('10.200.0.1')), true);
    assert.equal(m.contains(ip('11.0.0.1')), false);
  });

  test('IPv6 ranges and single addresses', () => {
    const m = parseCidrList(['2001:db8::/32', '::1', 'fe80::/10']);
    assert.equal(m.contains(ip('2001:db8:1234::5')), true);
    assert.equal(m.contains(ip('2001:db9::1')), false);
    assert.equal(m.contains(ip('::1')), true);
    assert.equal(m.contains(ip('::2')), false);
    assert.equal(m.contains(ip('febf:ffff::1')), true);
    assert.equal(m.contains(ip('fec0::1')), false);
    assert.equal(m.contains(ip('127.0.0.1')), false, 'an IPv4 address is not in IPv6 rules outside ::ffff:0:0/96');
  });

  test('IPv4 rules do not match unrelated IPv6 addresses', () => {
    const m = parseCidrList(['0.0.0.0/0']);
    assert.equal(m.contains(ip('1.2.3.4')), true);
    assert.equal(m.contains(mapped('1.2.3.4')), true);
    assert.equal(m.contains(ip('2001:db8::1')), false);
  });

  test('prefix lengths that are not byte-aligned; host bits are cleared', () => {
    const m = parseCidrList(['10.0.0.130/25']);
    assert.equal(m.contains(ip('10.0.0.128')), true);
    assert.equal(m.contains(ip('10.0.0.255')), true);
    assert.equal(m.contains(ip('10.0.0.127')), false);
    assert.deepEqual([...parseCidr('10.0.0.130/25').network.slice(12)], [10, 0, 0, 128]);
    assert.equal(parseCidr('10.0.0.130/25').prefix, 96 + 25);
    const v6 = parseCidrList(['2001:db8:8000::/33']);
    assert.equal(v6.contains(ip('2001:db8:8000::1')), true);
    assert.equal(v6.contains(ip('2001:db8:7fff::1')), false);
  });

  test('/0, /32 and /128 edges', () => {
    assert.equal(parseCidrList(['::/0']).contains(ip('2001:db8::1')), true);
    assert.equal(parseCidrList(['1.2.3.4/32']).contains(ip('1.2.3.4')), true);
    assert.equal(parseCidrList(['1.2.3.4/32']).contains(ip('1.2.3.5')), false);
    assert.equal(parseCidrList(['2001:db8::1/128']).contains(ip('2001:db8::1')), true);
  });

  test('an empty list matches nothing; odd lengths never match', () => {
    assert.equal(parseCidrList([]).contains(ip('1.2.3.4')), false);
    assert.equal(parseCidrList(['0.0.0.0/0']).contains(new Uint8Array(5)), false);
  });

  test('bad entries throw CidrError naming the entry', () => {
    for (const bad of ['', '10.0.0.0/33', '::/129', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.256', 'example.com', '10.0.0.0/', 'fe80::1%eth0', '1.2.3', '[::1]']) {
      assert.throws(
        () => parseCidrList(['10.0.0.0/8', bad]),
        (error: unknown) => error instanceof CidrError && error.entry === bad && error.message.startsWith(JSON.stringify(bad)),
        bad,
      );
    }
  });

  test('whitespace around an entry is ignored', () => {
    assert.equal(parseCidrList([' 10.0.0.0/8 ']).contains(ip('10.0.0.1')), true);
  });
});
