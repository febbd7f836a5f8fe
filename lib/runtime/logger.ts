/**
 * Structured logging: one JSON object per line,
 *   {"time":"2026-01-01T00:00:00.000Z","level":"info","msg":"...", ...base, ...fields}
 * debug/info go to stdout, warn/error to stderr (unless a stream is given).
 *
 * A call below the current level is one integer comparison; on hot paths guard
 * the construction of expensive fields with `logger.enabled('debug')`.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line; it shares its parent's level. */
  child(fields: LogFields): Logger;
  /** True when a line at `level` would be written. */
  enabled(level: LogLevel): boolean;
  /** Changes the level for this logger, its parent and all children. */
  setLevel(level: LogLevel): void;
  readonly level: LogLevel;
}

export interface LogStream {
  write(chunk: string): unknown;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Fields added to every line (e.g. { service: 'edge', pod: 'edge-0' }). */
  base?: LogFields;
  /** Where every line goes. Default: stdout for debug/info, stderr for warn/error. */
  stream?: LogStream;
  /** Where warn/error go when `stream` is also given; defaults to `stream`. */
  errorStream?: LogStream;
  /** Clock, for tests. */
  now?: () => Date;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const RESERVED = new Set(['time', 'level', 'msg']);

interface SharedState {
  min: number;
  level: LogLevel;
  out: LogStream;
  err: LogStream;
  now: () => Date;
}

/** Error -> plain object: name, message, stack, code and other own properties, cause. */
export function serializeError(error: Error, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: error.message };
  for (const key of Object.keys(error)) {
    if (key === 'cause' || key === 'name' || key === 'message' || key === 'stack') continue;
    out[key] = (error as unknown as Record<string, unknown>)[key];
  }
  if (error.stack !== undefined) out.stack = error.stack;
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined) out.cause = cause instanceof Error && depth < 5 ? serializeError(cause, depth + 1) : cause;
  if (error instanceof AggregateError && depth < 5) {
    out.errors = error.errors.map((e: unknown) => (e instanceof Error ? serializeError(e, depth + 1) : e));
  }
  return out;
}

function replacer(this: unknown, key: string, value: unknown): unknown {
  // Buffers have toJSON(), which runs before the replacer; look at the original.
  const original = key === '' ? value : (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return original.length <= 64 ? Buffer.from(original.buffer, original.byteOffset, original.length).toString('hex') : `[${original.length} bytes]`;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return serializeError(value);
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === 'function') return `[Function ${(value as { name?: string }).name || 'anonymous'}]`;
  if (typeof value === 'symbol') return value.toString();
  return value;
}

function safeReplacer(): (key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return function (this: unknown, key: string, value: unknown) {
    const v = replacer.call(this, key, value);
    if (typeof v === 'object' && v !== null) {
      if (seen.has(v)) return '[Circular]';
      seen.add(v);
    }
    return v;
  };
}

function stringify(value: unknown): string {
  try {
    return JSON.stringify(value, replacer) ?? 'null';
  } catch {
    try {
      return JSON.stringify(value, safeReplacer()) ?? 'null';
    } catch (error) {
      return JSON.stringify({ logSerializationError: String(error) });
    }
  }
}

/** Serializes fields to `,"k":v,...` (leading comma), renaming reserved keys to `_time` etc. */
function fieldsJson(fields: LogFields | undefined): string {
  if (fields === undefined) return '';
  let safe: LogFields = fields;
  for (const key in fields) {
    if (RESERVED.has(key)) {
      safe = {};
      for (const k in fields) safe[RESERVED.has(k) ? `_${k}` : k] = fields[k];
      break;
    }
  }
  const json = stringify(safe);
  return json.length > 2 && json.startsWith('{') ? `,${json.slice(1, -1)}` : '';
}

class JsonLogger implements Logger {
  constructor(
    private readonly state: SharedState,
    /** Pre-serialized base fields, leading comma included. */
    private readonly prefix: string,
  ) {}

  get level(): LogLevel {
    return this.state.level;
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.state.min;
  }

  setLevel(level: LogLevel): void {
    if (!(level in RANK)) throw new Error(`unknown log level ${JSON.stringify(level)}`);
    this.state.level = level;
    this.state.min = RANK[level];
  }

  debug(msg: string, fields?: LogFields): void {
    if (this.state.min > 10) return;
    this.write('debug', msg, fields, this.state.out);
  }

  info(msg: string, fields?: LogFields): void {
    if (this.state.min > 20) return;
    this.write('info', msg, fields, this.state.out);
  }

  warn(msg: string, fields?: LogFields): void {
    if (this.state.min > 30) return;
    this.write('warn', msg, fields, this.state.err);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields, this.state.err);
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.state, this.prefix + fieldsJson(fields));
  }

  private write(level: LogLevel, msg: string, fields: LogFields | undefined, stream: LogStream): void {
    const line = `{"time":"${this.state.now().toISOString()}","level":"${level}","msg":${JSON.stringify(String(msg))}${this.prefix}${fieldsJson(fields)}}\n`;
    try {
      stream.write(line);
    } catch {
      // A broken stdout/stderr must never take the tracker down.
    }
  }
}

export function createLogger(options: LoggerOptions): Logger {
  if (!(options.level in RANK)) throw new Error(`unknown log level ${JSON.stringify(options.level)}; allowed: ${LOG_LEVELS.join(', ')}`);
  const out = options.stream ?? process.stdout;
  const err = options.errorStream ?? options.stream ?? process.stderr;
  const state: SharedState = {
    min: RANK[options.level],
    level: options.level,
    out,
    err,
    now: options.now ?? (() => new Date()),
  };
  return new JsonLogger(state, fieldsJson(options.base));
}

/** A logger that writes nothing (for tests and library defaults). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
  enabled() {
    return false;
  },
  setLevel() {},
  level: 'error',
};
