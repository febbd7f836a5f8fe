import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidrList } from '../../../lib/runtime/cidr.js';
import { formatIp, parseIp } from '../../../lib/net/ip.js';
import { ClientAddressResolver, type RequestHeaders } from '../../../services/edge/http/client-address.js';

const mapped = (v4: string): Uint8Array => {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(parseIp(v4)!, 12);
  return out;
};

const resolver = new ClientAddressResolver(parseCidrList(['10.0.0.0/8', 'fd00::/8']), 'x-forwarded-for');
/** A request whose header lines are `lines` ([name, value] in order), or one X-Forwarded-For line. */
function headers(lines: string | ReadonlyArray<readonly [string, string]>): RequestHeaders {
  const list = typeof lines === 'string' ? (lines === '' ? [] : [['x-forwarded-for', lines] as const]) : lines;
  return {
    forEach(cb) {
      for (const [name, value] of list) cb(name, value);
    },
  };
}
const resolve = (socket: Uint8Array, header: string | ReadonlyArray<readonly [string, string]>): string =>
  formatIp(resolver.resolve(socket, headers(header)));

test('the header is believed only from a trusted proxy', () => {
  assert.equal(resolve(mapped('10.1.1.1'), '203.0.113.7'), '203.0.113.7');
  assert.equal(resolve(mapped('198.51.100.1'), '203.0.113.7'), '198.51.100.1', 'untrusted peer: socket address');
  assert.equal(resolve(parseIp('fd00::5')!, '2001:db8::7'), '2001:db8::7');
});

test('a missing or garbage header falls back to the socket address', () => {
  assert.equal(resolve(mapped('10.1.1.1'), ''), '10.1.1.1');
  assert.equal(resolve(mapped('10.1.1.1'), 'not-an-ip'), '10.1.1.1');
  assert.equal(resolve(mapped('10.1.1.1'), ',,,'), '10.1.1.1');
});

test('a client cannot forge its address by sending the header itself', () => {
  // client sent "X-Forwarded-For: 1.1.1.1"; the trusted proxy appended the real address.
  assert.equal(resolve(mapped('10.1.1.1'), '1.1.1.1, 203.0.113.7'), '203.0.113.7');
  // chains of trusted proxies are skipped from the right
  assert.equal(resolve(mapped('10.1.1.1'), '1.1.1.1, 203.0.113.7, 10.2.2.2'), '203.0.113.7');
});

test('ports and brackets in hops are tolerated', () => {
  assert.equal(resolve(mapped('10.1.1.1'), '203.0.113.7:51413'), '203.0.113.7');
  assert.equal(resolve(mapped('10.1.1.1'), '[2001:db8::7]:443'), '2001:db8::7');
});

test('without trusted proxies the header is ignored', () => {
  const open = new ClientAddressResolver(parseCidrList([]), 'x-forwarded-for', false);
  assert.equal(formatIp(open.resolve(mapped('10.1.1.1'), headers('203.0.113.7'))), '10.1.1.1');
});

test('every header line counts, in order: a proxy that adds its own line cannot be bypassed by the client\'s line', () => {
  // HAProxy `option forwardfor`: the client's forged line first, the proxy's own line last.
  const forged: Array<[string, string]> = [
    ['x-forwarded-for', '198.51.100.66'],
    ['user-agent', 'x'],
    ['x-forwarded-for', '203.0.113.7'],
  ];
  assert.equal(resolve(mapped('10.1.1.1'), forged), '203.0.113.7');
  // Lines are one list: hops of the last line are read first, then the earlier lines.
  assert.equal(resolve(mapped('10.1.1.1'), [['x-forwarded-for', '203.0.113.7, 10.9.9.9'], ['x-forwarded-for', '10.2.2.2']]), '203.0.113.7');
  // Other headers with the name as a prefix are not the header.
  assert.equal(resolve(mapped('10.1.1.1'), [['x-forwarded-for-x', '203.0.113.8']]), '10.1.1.1');
});

test('unusable addresses in the header (0.0.0.0, ::, broadcast, multicast) are never believed', () => {
  for (const bad of ['0.0.0.0', '::', '255.255.255.255', '224.0.0.1', 'ff02::1', '203.0.113.7, 0.0.0.0']) {
    assert.equal(resolve(mapped('10.1.1.1'), bad), '10.1.1.1', bad);
  }
  // Positive control: the same position with a unicast address is believed.
  assert.equal(resolve(mapped('10.1.1.1'), '203.0.113.7, 198.51.100.1'), '198.51.100.1');
});
