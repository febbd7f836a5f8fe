import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactEndpoint, formatIp, isUsableUnicast, parseIp } from '../../../lib/net/ip.js';

test('parses IPv4 and IPv6, and IPv4-mapped IPv6 becomes IPv4', () => {
  assert.deepEqual(parseIp('127.0.0.1'), Uint8Array.of(127, 0, 0, 1));
  assert.deepEqual(parseIp('::ffff:10.1.2.3'), Uint8Array.of(10, 1, 2, 3));
  assert.deepEqual(parseIp('::ffff:0a01:0203'), Uint8Array.of(10, 1, 2, 3));
  assert.deepEqual(parseIp('::1'), Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 1 : 0)));
  const v6 = parseIp('2001:db8::8:800:200c:417a');
  assert.equal(v6?.length, 16);
  assert.equal(formatIp(v6!), '2001:db8::8:800:200c:417a');
  assert.equal(formatIp(parseIp('fe80::1%eth0')!), 'fe80::1');
});

test('rejects what is not an address', () => {
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'a.b.c.d', '::ffff:1.2.3.999', '1:2:3', 'gggg::1', ' 1.2.3.4', '01234.1.1.1']) {
    assert.equal(parseIp(bad), null, bad);
  }
});

test('formats addresses (RFC 5952) and builds compact endpoints', () => {
  assert.equal(formatIp(Uint8Array.of(192, 168, 0, 1)), '192.168.0.1');
  assert.equal(formatIp(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')!), '2001:db8::1');
  assert.equal(formatIp(parseIp('1:0:0:2:0:0:0:3')!), '1:0:0:2::3');
  assert.deepEqual(compactEndpoint(Uint8Array.of(1, 2, 3, 4), 6881), Uint8Array.of(1, 2, 3, 4, 0x1a, 0xe1));
});

test('unspecified, broadcast, reserved and multicast addresses are not usable by peers; unicast (loopback and private included) is', () => {
  for (const bad of ['0.0.0.0', '0.1.2.3', '255.255.255.255', '240.0.0.1', '224.0.0.1', '239.255.255.250', '::', 'ff02::1', 'ff05::1:3', '::ffff:0.0.0.0', '::ffff:224.0.0.1']) {
    const ip = parseIp(bad);
    assert.ok(ip, bad);
    assert.equal(isUsableUnicast(ip), false, bad);
  }
  // The mapped forms parse to 4 bytes; the raw 16-byte form is judged the same way.
  const mappedMulticast = new Uint8Array(16);
  mappedMulticast.set([0xff, 0xff, 224, 0, 0, 1], 10);
  assert.equal(isUsableUnicast(mappedMulticast), false);
  for (const good of ['127.0.0.1', '10.0.0.1', '192.168.1.1', '1.1.1.1', '223.255.255.254', '::1', 'fe80::1', '2001:db8::1', 'fd00::1']) {
    assert.equal(isUsableUnicast(parseIp(good)!), true, good);
  }
  assert.equal(isUsableUnicast(new Uint8Array(5)), false, 'not an address');
});
