/**
 * The request hooks an edge runs, built from config: one per name in
 * hooks.order, in that order, each from its own section (hooks.<name>;
 * torrentApproval from accessList). A hook that has nothing to do with
 * this config (torrentApproval while accessList.mode is off) is not built,
 * so it costs nothing.
 *
 * A new hook: a class implementing PreHook (pipeline/hook.ts) in this
 * directory, its name in HOOK_NAMES and its section in the config schema
 * (lib/runtime/config.ts, with the checks between keys in checkHooks), and
 * a case below that hands it its settings, counters and anything shared.
 */
import type { Config, HookName } from '../../../lib/runtime/config.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { Catalog } from '../../../lib/private/catalog/catalog.js';
import type { AccessList } from '../access-list.js';
import type { PreHook } from '../pipeline/hook.js';
import { AnnounceRate } from './announce-rate.js';
import { ClientApproval } from './client-approval.js';
import { IntervalVariation } from './interval-variation.js';
import { JwksSource } from './jwt/jwks-source.js';
import { JwtApproval } from './jwt/jwt-approval.js';
import { PasskeyApproval } from './passkey.js';
import { SameSubnet } from './same-subnet.js';
import { TorrentApproval } from './torrent-approval.js';

export interface HookDeps {
  /** The access list the edge loaded (operations.ts): torrentApproval reads it. */
  accessList: AccessList;
  metrics: TrackerMetrics;
  logger: Logger;
  /** Private mode: the catalog copy in use (the edge's CatalogReloader.current); the passkey hook reads it. */
  catalog?: () => Catalog;
}

/** The hooks of hooks.order, and their lifecycle. */
export class Hooks {
  private constructor(readonly pre: readonly PreHook[]) {}

  static fromConfig(config: Config, deps: HookDeps): Hooks {
    const pre: PreHook[] = [];
    // Private mode: the passkey decides who announces at all, so it runs before every listed hook.
    if (config.private.enabled) {
      if (deps.catalog === undefined) throw new Error('private.enabled: the edge started its hooks without a catalog');
      pre.push(new PasskeyApproval({ catalog: deps.catalog, strictPort: config.private.strictPort, scrape: config.private.scrape }));
    }
    for (const name of config.hooks.order as HookName[]) {
      const hook = createHook(name, config, deps);
      if (hook !== undefined) pre.push(hook);
    }
    return new Hooks(pre);
  }

  /** Loads what the hooks need (JWT keys) before the edge listens; throws naming the hook. */
  async start(): Promise<void> {
    for (const hook of this.pre) {
      try {
        await hook.start?.();
      } catch (error) {
        await this.close();
        throw new Error(`hook ${hook.name} could not start: ${(error as Error).message}`, { cause: error });
      }
    }
  }

  /** SIGHUP: each hook re-reads what it loaded, keeping the old state on failure. */
  async reload(): Promise<void> {
    for (const hook of this.pre) await hook.reload?.();
  }

  async close(): Promise<void> {
    for (const hook of this.pre) await hook.close?.();
  }
}

function createHook(name: HookName, config: Config, deps: HookDeps): PreHook | undefined {
  const { metrics, logger } = deps;
  const hooks = config.hooks;
  switch (name) {
    case 'torrentApproval':
      return deps.accessList.mode === 'off' ? undefined : new TorrentApproval(deps.accessList);
    case 'clientApproval':
      return new ClientApproval(hooks.clientApproval.mode, hooks.clientApproval.prefixes);
    case 'jwt': {
      const c = hooks.jwt;
      const algorithms = new Set<string>(c.algorithms);
      const keys = new JwksSource({
        file: c.jwksFile || undefined,
        url: c.jwksUrl || undefined,
        refreshSeconds: c.refreshSeconds,
        algorithms,
        logger: logger.child({ component: 'jwt-keys' }),
      });
      const hook = new JwtApproval({
        parameter: c.parameter,
        rules: { issuer: c.issuer, audience: c.audience, algorithms, requireExpiry: c.requireExpiry },
        keys,
        clockSkewSeconds: c.clockSkewSeconds,
        cacheSize: c.cacheSize,
        maxVerificationsPerSecond: c.maxVerificationsPerSecond,
        budgetHits: metrics.limitCounter('hooks.jwt.maxVerificationsPerSecond'),
        cacheHits: metrics.limitCounter('hooks.jwt.cacheSize'),
      });
      metrics.observeJwt(() => ({
        keys: keys.keys.size,
        cachedTokens: hook.cachedTokens,
        verifications: hook.verifications,
        reloadsOk: keys.reloadsOk,
        reloadsFailed: keys.reloadsFailed,
      }));
      return hook;
    }
    case 'intervalVariation':
      return new IntervalVariation(hooks.intervalVariation);
    case 'announceRate':
      return new AnnounceRate(hooks.announceRate.minSeconds, metrics.limitCounter('hooks.announceRate.minSeconds'));
    case 'sameSubnet':
      return new SameSubnet(hooks.sameSubnet.prefixV4, hooks.sameSubnet.prefixV6);
  }
}
