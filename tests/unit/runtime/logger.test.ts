import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, serializeError, silentLogger, type LogLevel } from '../../../lib/runtime/logger.js';

function capture(): { lines: () => Array<Record<string, unknown>>; raw: string[]; write(chunk: string): void } {
  const raw: string[] = [];
  return {
    raw,
    write(chunk: string) {
      raw.push(chunk);
    },
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const FIXED = new Date('2026-01-02T03:04:05.678Z');

describe('logger', () => {
  test('writes one JSON object per line with time, level, msg and fields', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', stream: out, now: () => FIXED });
    logger.info('hello', { port: 6969, ok: true });
    assert.equal(out.raw.length, 1);
    assert.ok(out.raw[0].endsWith('}\n'));
    assert.equal(out.raw[0].split('\n').length, 2);
    assert.deepEqual(out.lines()[0], { time: '2026-01-02T03:04:05.678Z', level: 'info', msg: 'hello', port: 6969, ok: true });
    assert.equal(out.raw[0].indexOf('"time"'), 1, 'time comes first');
  });

  test('levels below the threshold are dropped', () => {
    const out = capture();
    const logger = createLogger({ level: 'warn', stream: out });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    assert.deepEqual(
      out.lines().map((l) => l.level),
      ['warn', 'error'],
    );
    assert.equal(logger.enabled('debug'), false);
    assert.equal(logger.enabled('error'), true);
    assert.equal(logger.level, 'warn');
  });

  test('every level at debug', () => {
    const out = capture();
    const logger = createLogger({ level: 'debug', stream: out });
    for (const level of ['debug', 'info', 'warn', 'error'] as LogLevel[]) logger[level](level);
    assert.deepEqual(
      out.lines().map((l) => [l.level, l.msg]),
      [
        ['debug', 'debug'],
        ['info', 'info'],
        ['warn', 'warn'],
        ['error', 'error'],
      ],
    );
  });

  test('warn and error go to the error stream', () => {
    const out = capture();
    const err = capture();
    const logger = createLogger({ level: 'debug', stream: out, errorStream: err });
    logger.debug('a');
    logger.info('b');
    logger.warn('c');
    logger.error('d');
    assert.deepEqual(out.lines().map((l) => l.msg), ['a', 'b']);
    assert.deepEqual(err.lines().map((l) => l.msg), ['c', 'd']);
  });

  test('base and child fields are added; children share the level', () => {
    const out = capture();
    const root = createLogger({ level: 'info', base: { service: 'edge' }, stream: out });
    const child = root.child({ component: 'udp' });
    const grandchild = child.child({ socket: 1 });
    grandchild.info('x', { n: 1 });
    assert.deepEqual(out.lines()[0], { ...out.lines()[0], service: 'edge', component: 'udp', socket: 1, n: 1 });
    root.setLevel('debug');
    grandchild.debug('now visible');
    assert.equal(out.lines().length, 2);
    assert.equal(child.level, 'debug');
    grandchild.setLevel('error');
    root.info('hidden');
    assert.equal(out.lines().length, 2);
  });

  test('errors are serialized with message and stack', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', stream: out });
    const cause = new Error('root cause');
    const error = Object.assign(new Error('boom', { cause }), { code: 'EBOOM' });
    logger.error('failed', { error });
    const line = out.lines()[0] as { error: Record<string, unknown> };
    assert.equal(line.error.message, 'boom');
    assert.equal(line.error.name, 'Error');
    assert.equal(line.error.code, 'EBOOM');
    assert.match(String(line.error.stack), /boom/);
    assert.equal((line.error.cause as Record<string, unknown>).message, 'root cause');
    assert.deepEqual(Object.keys(serializeError(new TypeError('t'))).sort(), ['message', 'name', 'stack']);
  });

  test('odd values never break a line', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', stream: out });
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    logger.info('odd', { big: 10n, circular, set: new Set([1]), map: new Map([['k', 2]]), fn: function named() {}, undef: undefined });
    const line = out.lines()[0];
    assert.equal(line.big, '10');
    assert.deepEqual(line.circular, { a: 1, self: '[Circular]' });
    assert.deepEqual(line.set, [1]);
    assert.deepEqual(line.map, { k: 2 });
    assert.equal(line.fn, '[Function named]');
    assert.equal('undef' in line, false);
  });

  test('bytes are logged as hex', () => {
    const out = capture();
    createLogger({ level: 'info', stream: out }).info('x', { hash: Buffer.from('abcd', 'hex'), raw: new Uint8Array([1, 255]), big: new Uint8Array(100) });
    const line = out.lines()[0];
    assert.equal(line.hash, 'abcd');
    assert.equal(line.raw, '01ff');
    assert.equal(line.big, '[100 bytes]');
  });

  test('fields cannot overwrite time, level or msg', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', stream: out, now: () => FIXED });
    logger.child({ level: 'x' }).info('real', { msg: 'fake', time: 0 });
    const line = out.lines()[0];
    assert.equal(line.msg, 'real');
    assert.equal(line.level, 'info');
    assert.equal(line.time, FIXED.toISOString());
    assert.equal(line._msg, 'fake');
    assert.equal(line._level, 'x');
  });

  test('messages with quotes and newlines stay on one line', () => {
    const out = capture();
    createLogger({ level: 'info', stream: out }).info('a "b"\nc');
    assert.equal(out.raw[0].split('\n').length, 2);
    assert.equal(out.lines()[0].msg, 'a "b"\nc');
  });

  test('a disabled debug call does not touch the stream or the clock', () => {
    let writes = 0;
    let clock = 0;
    const logger = createLogger({
      level: 'info',
      stream: { write: () => writes++ },
      now: () => {
        clock++;
        return FIXED;
      },
    });
    for (let i = 0; i < 100_000; i++) logger.debug('hot path', { i });
    assert.equal(writes, 0);
    assert.equal(clock, 0);
  });

  test('a throwing stream does not throw to the caller', () => {
    const logger = createLogger({ level: 'info', stream: { write: () => { throw new Error('EPIPE'); } } });
    assert.doesNotThrow(() => logger.error('x'));
  });

  test('unknown levels are rejected', () => {
    assert.throws(() => createLogger({ level: 'trace' as LogLevel }));
  });

  test('silentLogger accepts everything', () => {
    silentLogger.error('x', { a: 1 });
    assert.equal(silentLogger.child({}).enabled('error'), false);
  });
});
