import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidrList } from '../../../lib/runtime/cidr.js';
import { formatIp, parseIp } from '../../../lib/net/ip.js';
import { ClientAddressResolver } from '../../../services/edge/http/client-address.js';

const mapped = (v4: string): Uint8Array => {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(parseIp(v4)!, 12);
  return out;
};

const resolver = new ClientAddressResolver(parseCidrList(['10.0.0.0/8', 'fd00::/8']), 'x-forwarded-for');
const resolve = (socket: Uint8Array, header: string): string => formatIp(resolver.resolve(socket, header));

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
  assert.equal(formatIp(open.resolve(mapped('10.1.1.1'), '203.0.113.7')), '10.1.1.1');
});
