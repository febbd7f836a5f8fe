import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { isIPv6 } from 'node:net';
import {
  bytesFromLatin1,
  clampInt32,
  clampUint32,
  compactPort,
  formatIp,
  hexFromLatin1,
  isLatin1,
  latin1FromBytes,
  latin1FromHex,
  readInt32BE,
  readUint32BE,
  readUint64BEClamped,
  writeUint32BE,
  writeUint64BE,
} from '../../../lib/protocol/binary.js';
import { int, printSeed, rngFor, where } from '../../support/seeded-random.js';

test('latin1 <-> bytes and hex', () => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const s = latin1FromBytes(bytes);
  assert.equal(s.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(s.charCodeAt(i), i);
  assert.deepEqual(bytesFromLatin1(s), bytes);
  assert.equal(latin1FromBytes(new Uint8Array([0, 0x41, 0xff, 0x42]), 1, 3), 'A\xff');
  assert.equal(hexFromLatin1('\x00\x0f\xf0\xff'), '000ff0ff');
  assert.equal(latin1FromHex('000FF0ff'), '\x00\x0f\xf0\xff');
  assert.equal(latin1FromHex('abc'), null);
  assert.equal(latin1FromHex('zz'), null);
  assert.equal(isLatin1('\xff abc'), true);
  assert.equal(isLatin1('\u0100'), false);
});

test('big-endian integer helpers', () => {
  const b = new Uint8Array(8);
  writeUint32BE(b, 0, 0xfedcba98);
  writeUint32BE(b, 4, -1);
  assert.equal(readUint32BE(b, 0), 0xfedcba98);
  assert.equal(readUint32BE(b, 4), 0xffffffff);
  assert.equal(readInt32BE(b, 4), -1);
  assert.equal(readUint64BEClamped(b, 0), Number.MAX_SAFE_INTEGER);
  for (const v of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER]) {
    writeUint64BE(b, 0, v);
    assert.equal(Buffer.from(b).readBigUInt64BE(0), BigInt(v));
    assert.equal(readUint64BEClamped(b, 0), v);
  }
  writeUint64BE(b, 0, -5);
  assert.equal(readUint64BEClamped(b, 0), 0);
  writeUint64BE(b, 0, 2 ** 60);
  assert.equal(readUint64BEClamped(b, 0), Number.MAX_SAFE_INTEGER);
  assert.deepEqual([clampUint32(-1), clampUint32(NaN), clampUint32(2 ** 33), clampUint32(7.9)], [0, 0, 0xffffffff, 7]);
  assert.deepEqual([clampInt32(-(2 ** 40)), clampInt32(2 ** 40), clampInt32(NaN), clampInt32(-3.5)], [-(2 ** 31), 2 ** 31 - 1, 0, -3]);
});

test('formatIp: IPv4 and RFC 5952 IPv6 examples', () => {
  assert.equal(formatIp(Uint8Array.from([192, 168, 0, 255, 0x1a, 0xe1]), 0, 6), '192.168.0.255');
  const v6 = (hex: string): Uint8Array => Buffer.from(hex, 'hex');
  const cases: [string, string][] = [
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // first longest run wins on a tie
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['20010db800000000000100000000000a', '2001:db8::1:0:0:a'],
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00010000000000000000000000000000', '1::'],
    ['20010db8aaaabbbbccccddddeeeeffff', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff'],
    ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['fe800000000000000000000000000000', 'fe80::'],
  ];
  for (const [hex, text] of cases) assert.equal(formatIp(v6(hex), 0, 16), text, hex);
  const entry = Buffer.concat([Buffer.alloc(3), v6(cases[0][0]), Buffer.from([0x1a, 0xe1])]);
  assert.equal(formatIp(entry, 3, 18), '2001:db8::1');
  assert.equal(compactPort(entry, 3, 18), 6881);
});

test('property: formatIp matches the WHATWG URL IPv6 serializer (same compression rules)', (t) => {
  printSeed(t);
  const r = rngFor('ipv6');
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.alloc(16);
    for (let g = 0; g < 8; g++) if (int(r, 2) === 0) b.writeUInt16BE(int(r, 3) === 0 ? int(r, 16) : int(r, 65536), 2 * g);
    const text = formatIp(b, 0, 16);
    assert.ok(isIPv6(text), text);
    const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    if (!mapped) {
      assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1), where('URL serializer', i));
      assert.equal(text, new URL(`http://[${b.toString('hex').replace(/(....)(?!$)/g, '$1:')}]/`).hostname.slice(1, -1));
    }
  }
});
