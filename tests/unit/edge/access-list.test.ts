import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessList, hexToInfoHash, parseAccessListText } from '../../../services/edge/access-list.js';

const A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const B = '0123456789ABCDEF0123456789abcdef01234567';
const C = 'cccccccccccccccccccccccccccccccccccccccc';
const bin = (hex: string): string => Buffer.from(hex, 'hex').toString('latin1');

describe('parseAccessListText', () => {
  test('one hash per line, case-insensitive, comments, blanks, whitespace', () => {
    const text = `# allowed torrents\n\n  ${A}  \n${B}\t# ubuntu\r\n   # indented comment\n${B.toLowerCase()}\n`;
    const result = parseAccessListText(text);
    assert.ok(result.ok);
    assert.equal(result.hashes.size, 2, 'duplicates (in any case) count once');
    assert.ok(result.hashes.has(bin(A)));
    assert.ok(result.hashes.has(bin(B)));
    for (const hash of result.hashes) assert.equal(hash.length, 20);
  });

  test('empty text, only comments, no trailing newline, byte-order mark', () => {
    assert.deepEqual(parseAccessListText(''), { ok: true, hashes: new Set() });
    assert.deepEqual(parseAccessListText('# nothing\n\n'), { ok: true, hashes: new Set() });
    const noNewline = parseAccessListText(A);
    assert.ok(noNewline.ok && noNewline.hashes.has(bin(A)));
    const bom = parseAccessListText(`\uFEFF${A}\n`);
    assert.ok(bom.ok && bom.hashes.has(bin(A)));
  });

  test('a bad line is reported with its 1-based number', () => {
    const cases: Array<[string, number, RegExp]> = [
      [`${A}\nnot-a-hash\n`, 2, /got "not-a-hash"/],
      [`# c\n\n${A}\n${A.slice(1)}\n`, 4, /39 characters/],
      [`${A}0\n`, 1, /41 characters/],
      [`${A} ${C}\n`, 1, /one hash per line/],
      [`${'g'.repeat(40)}\n`, 1, /40-character hex/],
      [`${A}\r\n${B}\r\nzz\r\n`, 3, /"zz"/],
    ];
    for (const [text, line, why] of cases) {
      const result = parseAccessListText(text);
      assert.equal(result.ok, false, text);
      if (result.ok) continue;
      assert.equal(result.line, line, text);
      assert.match(result.error, why);
    }
  });

  test('a very long bad line is shortened in the message', () => {
    const result = parseAccessListText('x'.repeat(10_000));
    assert.ok(!result.ok);
    assert.ok(result.error.length < 200);
  });

  test('large lists parse quickly', () => {
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) lines.push(i.toString(16).padStart(40, '0'));
    const started = performance.now();
    const result = parseAccessListText(lines.join('\n'));
    assert.ok(result.ok && result.hashes.size === 100_000);
    assert.ok(performance.now() - started < 2000);
  });
});

describe('AccessList', () => {
  test('off serves everything', () => {
    const list = new AccessList('off', [bin(A)]);
    assert.equal(list.allows(bin(A)), true);
    assert.equal(list.allows(bin(C)), true);
    assert.equal(list.mode, 'off');
  });

  test('allow serves only listed hashes', () => {
    const list = new AccessList('allow');
    assert.equal(list.allows(bin(A)), false, 'an empty allow list serves nothing');
    list.replace(new Set([bin(A), bin(B)]));
    assert.equal(list.size, 2);
    assert.equal(list.allows(bin(A)), true);
    assert.equal(list.allows(bin(B)), true);
    assert.equal(list.allows(bin(C)), false);
  });

  test('deny serves all but listed hashes', () => {
    const list = new AccessList('deny');
    assert.equal(list.allows(bin(A)), true);
    list.replace([bin(A)]);
    assert.equal(list.allows(bin(A)), false);
    assert.equal(list.allows(bin(C)), true);
  });

  test('replace swaps the whole list', () => {
    const list = new AccessList('allow', [bin(A)]);
    list.replace([bin(C)]);
    assert.equal(list.allows(bin(A)), false);
    assert.equal(list.allows(bin(C)), true);
    assert.equal(list.size, 1);
  });

  test('replace takes parse output directly, and hex strings', () => {
    const parsed = parseAccessListText(`${A}\n${B}\n`);
    assert.ok(parsed.ok);
    const list = new AccessList('allow');
    list.replace(parsed.hashes);
    assert.equal(list.allows(bin(B)), true);
    list.replace([C, B.toUpperCase()]);
    assert.equal(list.allows(bin(C)), true);
    assert.equal(list.allows(bin(B)), true);
    assert.equal(list.allows(bin(A)), false);
    assert.equal(hexToInfoHash(A), bin(A));
  });

  test('replace accepts any iterable, including a generator', () => {
    const list = new AccessList('allow');
    list.replace((function* () {
      yield bin(A);
      yield C;
    })());
    assert.equal(list.size, 2);
    assert.equal(list.allows(bin(A)), true);
    assert.equal(list.allows(bin(C)), true);
  });

  test('bad entries and modes are rejected', () => {
    const list = new AccessList('allow', [bin(A)]);
    assert.throws(() => list.replace(['short']));
    assert.equal(list.allows(bin(A)), true, 'a rejected replace keeps the old list');
    assert.throws(() => new AccessList('whitelist' as 'allow'));
  });
});
