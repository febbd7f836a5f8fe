/**
 * Where the JWT hook's keys come from, kept fresh in the background: a JWK
 * Set file (re-read when it changes, including a Kubernetes Secret or
 * ConfigMap volume's `..data` swap, and every `refreshSeconds` in case a
 * watch event is missed) or a JWK Set URL (fetched every `refreshSeconds`),
 * and on demand (SIGHUP). Requests only ever read `keys`, which a reload
 * replaces at once.
 *
 * The first load happens before the edge listens and a failure stops the
 * start, with the reason (as chihaya does): an edge that cannot check any
 * token would refuse every announce. Later a failed reload (the URL down,
 * a bad file) keeps the keys in force, and is logged and counted; so is a
 * reload that brings new keys, which is how a key rotation reaches edges.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { silentLogger, type Logger } from '../../../../lib/runtime/logger.js';
import { watchFiles, type FileWatch } from '../../../../lib/runtime/watch-files.js';
import { importJwks, KeySet } from './key-set.js';

export interface JwksSourceOptions {
  /** A JWK Set file; exactly one of `file` and `url`. */
  file?: string;
  /** A JWK Set URL (https:// or http://). */
  url?: string;
  /** Re-read or re-fetch this often. */
  refreshSeconds: number;
  /** The algorithms whose keys are kept. */
  algorithms: ReadonlySet<string>;
  logger?: Logger;
  /** A fetch not answered within this long fails. Default 10 s. */
  fetchTimeoutMs?: number;
  /** A bigger JWK Set is refused. Default 1 MiB. */
  maxBytes?: number;
  /** Watch the file's directory (else only the periodic re-read). Default true. */
  fsWatch?: boolean;
}

export interface JwksReload {
  ok: boolean;
  /** Whether the keys in force changed. */
  changed: boolean;
  error?: string;
}

export class JwksSource {
  /** The keys in force (empty until `start` resolves). */
  keys = new KeySet();
  reloadsOk = 0;
  reloadsFailed = 0;
  /** Where the keys come from, for messages: `hooks.jwt.jwksUrl https://...`. */
  readonly origin: string;
  private readonly logger: Logger;
  private readonly listeners: Array<() => void> = [];
  private digest = '';
  private lastError: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private watch: FileWatch | undefined;
  private closed = false;

  constructor(private readonly options: JwksSourceOptions) {
    if ((options.file === undefined || options.file === '') === (options.url === undefined || options.url === '')) {
      throw new Error('the JWT hook needs exactly one of hooks.jwt.jwksFile and hooks.jwt.jwksUrl');
    }
    this.origin = options.url ? `hooks.jwt.jwksUrl ${options.url}` : `hooks.jwt.jwksFile ${resolvePath(options.file!)}`;
    this.logger = options.logger ?? silentLogger;
  }

  /** Runs `listener` whenever the keys in force change (the hook drops the tokens it had checked). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The first load (throws with the reason), then the background refresh. */
  async start(): Promise<void> {
    const loaded = await this.load();
    if (!loaded.ok) throw new Error(`${this.origin}: ${loaded.error}`);
    this.adopt(loaded.keys, loaded.digest, loaded.skipped);
    this.logger.info('JWT keys loaded', { source: this.origin, keys: this.keys.size });
    if (this.closed) return;
    const everyMs = this.options.refreshSeconds * 1000;
    if (this.options.file) {
      this.watch = watchFiles([this.options.file], () => void this.reload(), { pollIntervalMs: everyMs, fsWatch: this.options.fsWatch, logger: this.logger });
    } else {
      this.timer = setInterval(() => void this.reload(), everyMs);
      this.timer.unref();
    }
  }

  /** Re-reads now; a failure keeps the keys in force. Never throws. Reloads run one at a time. */
  reload(): Promise<JwksReload> {
    const run = this.chain.then(() => this.check());
    this.chain = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.watch?.close();
    this.watch = undefined;
  }

  private async check(): Promise<JwksReload> {
    if (this.closed) return { ok: true, changed: false };
    const loaded = await this.load();
    if (!loaded.ok) {
      this.reloadsFailed++;
      // A source that stays down is logged when it starts failing and when the reason changes, not every refresh.
      if (loaded.error !== this.lastError) this.logger.error('JWT keys reload failed; keeping the keys in force', { source: this.origin, error: loaded.error, keys: this.keys.size });
      this.lastError = loaded.error;
      return { ok: false, changed: false, error: loaded.error };
    }
    this.reloadsOk++;
    if (this.lastError !== undefined) this.logger.info('JWT keys reload works again', { source: this.origin });
    this.lastError = undefined;
    if (loaded.digest === this.digest) return { ok: true, changed: false };
    const before = this.keys.size;
    this.adopt(loaded.keys, loaded.digest, loaded.skipped);
    this.logger.info('JWT keys changed', { source: this.origin, keys: this.keys.size, previousKeys: before });
    return { ok: true, changed: true };
  }

  private adopt(keys: KeySet, digest: string, skipped: string[]): void {
    this.keys = keys;
    this.digest = digest;
    if (skipped.length > 0) this.logger.warn('JWT keys skipped', { source: this.origin, skipped });
    for (const listener of this.listeners) listener();
  }

  private async load(): Promise<{ ok: true; keys: KeySet; digest: string; skipped: string[] } | { ok: false; error: string }> {
    let body: Buffer;
    try {
      body = this.options.url ? await this.fetchBody(this.options.url) : await readFile(this.options.file!);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return { ok: false, error: code === 'ENOENT' ? 'file not found' : (error as Error).message };
    }
    const digest = createHash('sha256').update(body).digest('hex');
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (error) {
      return { ok: false, error: `not JSON: ${(error as Error).message}` };
    }
    try {
      const { keys, skipped } = await importJwks(json, this.options.algorithms);
      return { ok: true, keys, digest, skipped };
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }

  private async fetchBody(url: string): Promise<Buffer> {
    const timeoutMs = this.options.fetchTimeoutMs ?? 10_000;
    const maxBytes = this.options.maxBytes ?? 1024 * 1024;
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json, application/jwk-set+json' } });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status} ${res.statusText}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body ?? []) {
      size += (chunk as Uint8Array).length;
      if (size > maxBytes) throw new Error(`the JWK Set is larger than ${maxBytes} bytes`);
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
    return Buffer.concat(chunks);
  }
}
