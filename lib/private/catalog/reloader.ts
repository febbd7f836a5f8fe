/**
 * Keeps the current Catalog fresh: loads it in the background every
 * `database.reloadSeconds` and swaps the new copy in with one assignment, so
 * a request sees either the old copy or the new one, never a mix. When the
 * database is down or a query fails, the last copy keeps being served; the
 * failure is counted and logged (rate-limited by the FailureSink), and
 * `ageSeconds()` and `detail()` say how old the copy is. A tracker that
 * never loaded a copy is not ready: it would refuse every passkey.
 */
import type { FailureSink } from '../../runtime/failures.js';
import type { PrivateCatalogStatsSource } from '../../runtime/metrics.js';
import { EMPTY_CATALOG, type Catalog } from './catalog.js';

export interface CatalogReloaderOptions {
  /** Reads a fresh copy (loadCatalog over a pool, or a fake in tests). */
  load: (nowSeconds: number) => Promise<Catalog>;
  intervalMs: number;
  failures: FailureSink;
  /** Milliseconds clock. Default Date.now. */
  now?: () => number;
}

export class CatalogReloader implements PrivateCatalogStatsSource {
  /** The copy every lookup reads; replaced whole by a successful reload. */
  current: Catalog = EMPTY_CATALOG;
  reloadsOk = 0;
  reloadsFailed = 0;
  lastReloadSeconds = 0;
  private loadedAtMs = -1;
  private lastError = '';
  private failingSinceMs = -1;
  private inFlight: Promise<boolean> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: CatalogReloaderOptions) {
    this.now = options.now ?? Date.now;
  }

  get users(): number {
    return this.current.users;
  }
  get torrents(): number {
    return this.current.torrents;
  }
  get clients(): number {
    return this.current.clients;
  }
  get globalFreeleech(): boolean {
    return this.current.globalFreeleech;
  }

  /** Loads the first copy (resolves true when it did), then reloads every interval until stop(). */
  async start(): Promise<boolean> {
    const loaded = await this.reloadNow();
    this.schedule();
    return loaded;
  }

  /** One reload now; concurrent calls share it. Resolves whether a new copy is in use. Never rejects. */
  reloadNow(): Promise<boolean> {
    this.inFlight ??= this.reload().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Ready once a copy was loaded; a later outage keeps it ready (it serves the last copy). */
  ready(): boolean {
    return this.loadedAtMs >= 0;
  }

  /** Seconds since the copy in use was loaded; -1 before the first load. */
  ageSeconds(): number {
    return this.loadedAtMs < 0 ? -1 : (this.now() - this.loadedAtMs) / 1000;
  }

  /** One line for readiness detail and logs; never contains passkeys or the database password. */
  detail(): string {
    const c = this.current;
    const counts = `${c.users} users, ${c.torrents} torrents, ${c.clients} approved clients${c.globalFreeleech ? ', global freeleech' : ''}`;
    if (this.loadedAtMs < 0) return `catalog: never loaded (${this.reloadsFailed} attempts failed${this.lastError ? `, last: ${this.lastError}` : ''})`;
    const age = Math.round(this.ageSeconds());
    if (this.failingSinceMs < 0) return `catalog: ${counts}, loaded ${age} s ago`;
    const failing = Math.round((this.now() - this.failingSinceMs) / 1000);
    return `catalog: reloads failing for ${failing} s (${this.lastError}); serving the copy loaded ${age} s ago: ${counts}`;
  }

  private async reload(): Promise<boolean> {
    const started = this.now();
    try {
      const next = await this.options.load(Math.floor(started / 1000));
      this.current = next;
      this.loadedAtMs = this.now();
      this.reloadsOk++;
      this.failingSinceMs = -1;
      this.lastError = '';
      return true;
    } catch (error) {
      this.reloadsFailed++;
      if (this.failingSinceMs < 0) this.failingSinceMs = started;
      this.lastError = describe(error);
      this.options.failures.report(error, { what: 'catalog reload; serving the last copy', ageSeconds: Math.round(this.ageSeconds()) });
      return false;
    } finally {
      this.lastReloadSeconds = (this.now() - started) / 1000;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.reloadNow().then(() => this.schedule());
    }, this.options.intervalMs);
    this.timer.unref();
  }
}

function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
  return `${code}${typeof e?.message === 'string' ? e.message : String(error)}`.slice(0, 200);
}
