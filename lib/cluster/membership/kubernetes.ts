/**
 * Kubernetes membership: an informer (ListWatch from @kubernetes/client-node
 * 1.4) on discovery.k8s.io/v1 EndpointSlices labelled
 * `kubernetes.io/service-name=<service>` in one namespace. The rules that turn
 * slices into members/draining live in endpoint-slices.ts.
 *
 * Lifecycle:
 *  - start() resolves after the first successful list (members() then reflect
 *    the cluster). It rejects if that takes longer than syncTimeoutMs (the
 *    provider is then stopped) or if stop() is called first.
 *  - Every informer event schedules a recomputation, debounced (debounceMs,
 *    default 250 ms, re-armed by each event but never delayed beyond
 *    debounceMaxMs after the first one). 'change' is emitted only when the
 *    member or draining list really changed (a name or an address).
 *  - ListWatch stops for good after an `error` (a failed list, a non-410 HTTP
 *    error on the watch, a broken connection). We then start a fresh informer
 *    (full list + watch) after a backoff: restartBackoffMs doubling up to
 *    restartBackoffMaxMs, +-20% jitter, back to the start after
 *    2 x restartBackoffMaxMs + 10 s without errors. 410 Gone is handled
 *    inside ListWatch (relist); a watch stream closed by the server is
 *    re-opened by ListWatch from the last resourceVersion (at most once per
 *    minWatchIntervalMs, so a server that keeps closing watches cannot spin us).
 *  - Errors are logged (warn) and counted in `stats`; they are never emitted
 *    as an 'error' event (an unhandled 'error' event would crash the process).
 *  - Watchdog: relistIntervalMs (default 5 min) after the informer was
 *    (re)started it is replaced by a fresh one (full list + new watch), since
 *    a watch can stall silently. The current lists stay in force until the new
 *    informer has listed.
 *  - stop() is final: timers cleared, the informer stopped, open list and
 *    watch requests aborted, late callbacks ignored, and no request is started
 *    afterwards (ListWatch alone could still open a watch when stop() lands
 *    while a list or a watch connect is in flight; the guards below prevent it).
 */
import { EventEmitter } from 'node:events';
import {
  DiscoveryV1Api,
  KubeConfig,
  ListWatch,
  Observable,
  Watch,
  type RequestContext,
  type ResponseContext,
  type V1EndpointSlice,
  type V1EndpointSliceList,
} from '@kubernetes/client-node';
import type { Logger } from '../../runtime/logger.js';
import { membershipFromEndpointSlices, type AddressType } from './endpoint-slices.js';
import { EMPTY_SNAPSHOT, sameMembers, type Member, type MembershipEvents, type MembershipProvider, type MembershipSnapshot } from './types.js';

export type MembershipLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface KubernetesMembershipOptions {
  /** Namespace of the swarm Service (in-cluster: read it from the downward API or the service-account namespace file). */
  namespace: string;
  /** Swarm Service name: slices are selected by kubernetes.io/service-name=<service>. */
  service: string;
  /** Name of the gRPC port in the Service/EndpointSlices ('' = the unnamed port). */
  portName: string;
  /** Only use slices of this address type (dual-stack). Default: all, IPv4 preferred. */
  addressType?: AddressType;
  /** A ready KubeConfig. Otherwise kubeconfigPath, otherwise in-cluster config. */
  kubeConfig?: KubeConfig;
  /** Path of a kubeconfig file (used when kubeConfig is not given). */
  kubeconfigPath?: string;
  /** Debounce of recomputation after events. Default 250 ms. */
  debounceMs?: number;
  /** Upper bound on how long events can keep postponing a recomputation. Default max(1000, 4 x debounceMs). */
  debounceMaxMs?: number;
  /** Watchdog: full relist this long after each (re)start. Default 5 min. 0 disables. */
  relistIntervalMs?: number;
  /** First restart delay after an informer error. Default 1000 ms. */
  restartBackoffMs?: number;
  /** Restart delay cap. Default 30 s. */
  restartBackoffMaxMs?: number;
  /** Minimum time between two watch requests of one informer. Default 1000 ms. */
  minWatchIntervalMs?: number;
  /** start() gives up (rejects, provider stopped) after this long without a successful list. Default 30 s. */
  syncTimeoutMs?: number;
  logger?: MembershipLogger;
}

const NOOP_LOGGER: MembershipLogger = { debug() {}, info() {}, warn() {}, error() {} };

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** KubeConfig from an explicit file path, else the in-cluster service account. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) {
    kc.loadFromFile(kubeconfigPath);
    if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${kubeconfigPath} has no current cluster (current-context: ${kc.getCurrentContext() || 'unset'})`);
  } else {
    if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
      throw new Error('in-cluster Kubernetes config unavailable: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not running in a pod?); give a kubeconfig path instead');
    }
    kc.loadFromCluster();
  }
  return kc;
}

/** One line for logs: "HTTP 403 Forbidden: <Status message>" for API errors, else the message. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const e = err as Error & { statusCode?: number; code?: number | string; body?: unknown };
    if (typeof e.code === 'number' && 'body' in e) {
      // ApiException from the generated client: its message embeds body and headers.
      let status: { reason?: string; message?: string } | undefined;
      try {
        status = typeof e.body === 'string' ? JSON.parse(e.body) : (e.body as typeof status);
      } catch {
        status = undefined;
      }
      const detail = status?.message ?? (typeof e.body === 'string' ? e.body.slice(0, 200) : '');
      return `HTTP ${e.code}${status?.reason ? ` ${status.reason}` : ''}${detail ? `: ${detail}` : ''}`;
    }
    if (typeof e.statusCode === 'number') return `HTTP ${e.statusCode} ${e.message}`;
    return e.code !== undefined ? `${e.message} (${e.code})` : e.message;
  }
  return String(err);
}

function delay(ms: number, alive: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || !alive()) return resolve();
    setTimeout(resolve, ms);
  });
}

interface WatchCall {
  controller?: AbortController;
  agent?: { destroy(): void };
}

/**
 * A Watch that does nothing once its informer is superseded or stopped:
 * no new request is opened (checked again after the async auth step, right
 * before the request would go out), events are dropped, and kill() aborts the
 * open request and destroys its connection, even one still connecting.
 */
/** @internal exported for tests. */
export class GuardedWatch extends Watch {
  private lastStart = 0;
  private readonly calls = new Set<WatchCall>();
  private pending?: WatchCall;

  constructor(
    kc: KubeConfig,
    private readonly alive: () => boolean,
    private readonly minIntervalMs: number,
  ) {
    super(kc);
    // Watch.watch() calls this.config.applyToFetchOptions() synchronously at
    // its start and then fetch(): wrap it to capture the per-request agent and
    // to refuse when the informer died while auth was being applied.
    const guarded = Object.create(kc) as KubeConfig;
    guarded.applyToFetchOptions = async (opts) => {
      const call = this.pending;
      this.pending = undefined;
      const init = await kc.applyToFetchOptions(opts);
      const agent = (init as { agent?: unknown }).agent as { destroy?: () => void } | undefined;
      if (!this.alive()) {
        agent?.destroy?.();
        throw new Superseded();
      }
      if (call && agent && typeof agent.destroy === 'function') call.agent = agent as { destroy(): void };
      return init;
    };
    this.config = guarded;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    const wait = this.lastStart + this.minIntervalMs - Date.now();
    if (wait > 0) await delay(wait, this.alive);
    if (!this.alive()) return new AbortController(); // never calls done: the informer is dead
    this.lastStart = Date.now();
    const call: WatchCall = {};
    this.calls.add(call);
    this.pending = call;
    try {
      // ListWatch does not catch a rejection here when it re-watches from its
      // done callback, so never reject: a Superseded from the auth step (the
      // only throw outside Watch's own try) becomes a dead watch.
      call.controller = await super.watch(
        path,
        queryParams,
        (phase, obj, w) => {
          if (this.alive()) callback(phase, obj, w);
        },
        (err) => {
          this.calls.delete(call);
          call.agent?.destroy();
          done(err);
        },
      );
    } catch (err) {
      this.calls.delete(call);
      call.agent?.destroy();
      if (err instanceof Superseded || !this.alive()) return new AbortController();
      // Anything else (e.g. a broken kubeconfig): report it as the watch ending in error.
      done(err);
      return new AbortController();
    } finally {
      this.pending = undefined;
    }
    if (!this.alive()) this.killCall(call);
    return call.controller;
  }

  private killCall(call: WatchCall): void {
    this.calls.delete(call);
    call.controller?.abort();
    call.agent?.destroy();
  }

  /** Aborts every open watch request of this informer. */
  kill(): void {
    for (const call of [...this.calls]) this.killCall(call);
  }
}

class Superseded extends Error {
  constructor() {
    super('informer superseded or stopped');
    this.name = 'Superseded';
  }
}

export class KubernetesMembership extends EventEmitter<MembershipEvents> implements MembershipProvider {
  readonly kind = 'kubernetes';
  readonly path: string;
  readonly labelSelector: string;

  private readonly opts: Required<Omit<KubernetesMembershipOptions, 'kubeConfig' | 'kubeconfigPath' | 'addressType' | 'logger'>> & {
    addressType?: AddressType;
  };
  private readonly log: MembershipLogger;
  private readonly kc: KubeConfig;
  private readonly api: DiscoveryV1Api;

  private current: MembershipSnapshot = EMPTY_SNAPSHOT;
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private startPromise?: Promise<void>;
  private startWaiter?: { resolve: () => void; reject: (err: Error) => void };

  /** Generation of the live informer; bumping it kills the old one's callbacks. */
  private gen = 0;
  private informer?: ListWatch<V1EndpointSlice>;
  private watch?: GuardedWatch;
  /** Aborts the live informer's list request. */
  private listAbort?: AbortController;
  private synced = false;
  private failures = 0;
  private lastFailureAt = 0;
  private lastError?: unknown;

  private debounceTimer?: NodeJS.Timeout;
  private debounceFirst = 0;
  private restartTimer?: NodeJS.Timeout;
  private watchdogTimer?: NodeJS.Timeout;
  private syncTimer?: NodeJS.Timeout;

  /** Counters for metrics and tests. */
  readonly stats = { informerStarts: 0, lists: 0, listFailures: 0, informerErrors: 0, restarts: 0, watchdogRelists: 0, recomputes: 0, changes: 0 };

  constructor(options: KubernetesMembershipOptions) {
    super();
    for (const key of ['namespace', 'service'] as const) {
      if (typeof options[key] !== 'string' || options[key].length === 0) throw new Error(`kubernetes membership: ${key} is required`);
    }
    if (typeof options.portName !== 'string') throw new Error('kubernetes membership: portName is required (use "" for an unnamed port)');
    const debounceMs = options.debounceMs ?? 250;
    this.opts = {
      namespace: options.namespace,
      service: options.service,
      portName: options.portName,
      addressType: options.addressType,
      debounceMs,
      debounceMaxMs: options.debounceMaxMs ?? Math.max(1000, 4 * debounceMs),
      relistIntervalMs: options.relistIntervalMs ?? 5 * 60_000,
      restartBackoffMs: options.restartBackoffMs ?? 1000,
      restartBackoffMaxMs: options.restartBackoffMaxMs ?? 30_000,
      minWatchIntervalMs: options.minWatchIntervalMs ?? 1000,
      syncTimeoutMs: options.syncTimeoutMs ?? 30_000,
    };
    for (const [k, v] of Object.entries(this.opts)) {
      if (typeof v === 'number' && !(Number.isFinite(v) && v >= 0)) throw new Error(`kubernetes membership: ${k} must be a finite number >= 0, got ${v}`);
    }
    this.log = options.logger ?? NOOP_LOGGER;
    this.kc = options.kubeConfig ?? loadKubeConfig(options.kubeconfigPath);
    this.api = this.kc.makeApiClient(DiscoveryV1Api);
    this.path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/endpointslices`;
    this.labelSelector = `${SERVICE_NAME_LABEL}=${this.opts.service}`;
  }

  members(): readonly Member[] {
    return this.current.members;
  }

  draining(): readonly Member[] {
    return this.current.draining;
  }

  snapshot(): MembershipSnapshot {
    return this.current;
  }

  start(): Promise<void> {
    if (this.state === 'stopped') return Promise.reject(new Error('kubernetes membership: start() after stop()'));
    if (this.startPromise) return this.startPromise;
    this.state = 'starting';
    this.startPromise = new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    this.syncTimer = setTimeout(() => {
      const why = this.lastError !== undefined ? `last error: ${describeError(this.lastError)}` : 'no answer from the API server';
      this.failStart(new Error(`kubernetes membership: no EndpointSlice list within ${this.opts.syncTimeoutMs} ms for ${this.labelSelector} in namespace ${this.opts.namespace} (${why})`));
      void this.stop();
    }, this.opts.syncTimeoutMs);
    this.log.info('membership: starting EndpointSlice informer', { namespace: this.opts.namespace, selector: this.labelSelector, port: this.opts.portName });
    this.launch('start');
    return this.startPromise;
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.gen++;
    for (const t of [this.debounceTimer, this.restartTimer, this.watchdogTimer, this.syncTimer]) if (t) clearTimeout(t);
    this.debounceTimer = this.restartTimer = this.watchdogTimer = this.syncTimer = undefined;
    this.failStart(new Error('kubernetes membership: stopped before the first EndpointSlice list'));
    const informer = this.informer;
    this.informer = undefined;
    this.watch?.kill();
    this.watch = undefined;
    this.listAbort?.abort();
    this.listAbort = undefined;
    if (informer) await informer.stop().catch(() => {});
    this.log.info('membership: stopped');
  }

  private failStart(err: Error): void {
    const w = this.startWaiter;
    this.startWaiter = undefined;
    w?.reject(err);
  }

  /** Replaces the informer with a fresh one (list + watch). */
  private launch(reason: 'start' | 'restart' | 'watchdog'): void {
    if (this.state === 'stopped') return;
    const old = this.informer;
    const gen = ++this.gen;
    const alive = (): boolean => this.gen === gen && this.state !== 'stopped';
    if (old) {
      this.watch?.kill();
      this.listAbort?.abort();
      void old.stop().catch(() => {});
    }
    const listAbort = new AbortController();
    this.listAbort = listAbort;
    // Per-call middleware: makes the list request abortable (stop(), supersede).
    const listOptions = {
      middlewareMergeStrategy: 'append' as const,
      middleware: [
        {
          pre: (ctx: RequestContext) => {
            ctx.setSignal(listAbort.signal);
            return new Observable(Promise.resolve(ctx));
          },
          post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
        },
      ],
    };
    if (reason === 'restart') this.stats.restarts++;
    if (reason === 'watchdog') this.stats.watchdogRelists++;
    this.stats.informerStarts++;

    const listFn = async (): Promise<V1EndpointSliceList> => {
      if (!alive()) throw new Superseded();
      this.stats.lists++;
      let list: V1EndpointSliceList;
      try {
        list = await this.api.listNamespacedEndpointSlice({ namespace: this.opts.namespace, labelSelector: this.labelSelector }, listOptions);
      } catch (err) {
        if (alive()) this.stats.listFailures++;
        throw err;
      }
      if (!alive()) throw new Superseded();
      // ListWatch stores the items synchronously once this promise settles;
      // setImmediate runs after that.
      setImmediate(() => this.onListed(gen));
      return list;
    };
    const watch = new GuardedWatch(this.kc, alive, this.opts.minWatchIntervalMs);
    this.watch = watch;
    const informer = new ListWatch<V1EndpointSlice>(this.path, watch, listFn, false, this.labelSelector);
    const onObject = (): void => {
      if (alive()) this.schedule();
    };
    informer.on('add', onObject);
    informer.on('update', onObject);
    informer.on('delete', onObject);
    informer.on('error', (err) => {
      if (alive()) this.onInformerError(err);
    });
    informer.on('connect', () => {
      if (alive()) this.log.debug('membership: informer (re)connecting', { resourceVersion: informer.latestResourceVersion() });
    });
    this.informer = informer;
    this.synced = false;

    if (this.watchdogTimer) clearTimeout(this.watchdogTimer);
    this.watchdogTimer = undefined;
    if (this.opts.relistIntervalMs > 0) {
      this.watchdogTimer = setTimeout(() => {
        this.watchdogTimer = undefined;
        if (alive() && this.restartTimer === undefined) {
          this.log.debug('membership: watchdog relist');
          this.launch('watchdog');
        }
      }, this.opts.relistIntervalMs);
    }

    informer.start().catch((err: unknown) => {
      if (alive()) this.onInformerError(err);
    });
  }

  private onListed(gen: number): void {
    if (this.gen !== gen || this.state === 'stopped') return;
    this.synced = true;
    this.lastError = undefined;
    if (this.state === 'starting') {
      // Initial state: computed at once (no debounce), not announced as 'change'.
      this.recompute(false);
      this.state = 'running';
      if (this.syncTimer) clearTimeout(this.syncTimer);
      this.syncTimer = undefined;
      const w = this.startWaiter;
      this.startWaiter = undefined;
      this.log.info('membership: initial EndpointSlice list', { members: this.current.members.map((m) => m.name), draining: this.current.draining.map((m) => m.name) });
      w?.resolve();
    } else {
      this.schedule();
    }
  }

  private onInformerError(err: unknown): void {
    if (err instanceof Superseded) return;
    this.stats.informerErrors++;
    this.lastError = err;
    if (this.restartTimer) return;
    // The backoff grows while failures follow each other (a list can succeed
    // and the watch fail right after, forever) and resets after a quiet spell.
    const now = Date.now();
    if (now - this.lastFailureAt > 2 * this.opts.restartBackoffMaxMs + 10_000) this.failures = 0;
    this.lastFailureAt = now;
    const base = Math.min(this.opts.restartBackoffMaxMs, this.opts.restartBackoffMs * 2 ** Math.min(this.failures, 30));
    const wait = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.failures++;
    this.log.warn('membership: EndpointSlice informer failed; restarting', { error: describeError(err), retryInMs: wait, failures: this.failures });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.launch('restart');
    }, wait);
  }

  /** Debounced recomputation. */
  private schedule(): void {
    if (this.state !== 'running') return;
    const now = Date.now();
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    else this.debounceFirst = now;
    const wait = Math.max(0, Math.min(this.opts.debounceMs, this.debounceFirst + this.opts.debounceMaxMs - now));
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.recompute(true);
    }, wait);
  }

  private recompute(announce: boolean): void {
    if (this.state === 'stopped' || !this.synced || !this.informer) return;
    this.stats.recomputes++;
    const { members, draining, skipped } = membershipFromEndpointSlices(this.informer.list(), {
      portName: this.opts.portName,
      addressType: this.opts.addressType,
    });
    if (skipped.length > 0) this.log.debug('membership: skipped endpoints', { skipped });
    const prev = this.current;
    if (prev.version > 0 && sameMembers(members, prev.members) && sameMembers(draining, prev.draining)) return;
    this.current = Object.freeze({ version: prev.version + 1, members, draining });
    if (!announce) return;
    this.stats.changes++;
    this.log.info('membership: changed', {
      version: this.current.version,
      members: members.map((m) => `${m.name}=${m.address}`),
      draining: draining.map((m) => m.name),
    });
    this.emit('change', this.current);
  }
}
