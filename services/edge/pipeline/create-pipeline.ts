import type { Config } from '../../../lib/runtime/config.js';
import type { FailureSink } from '../../../lib/runtime/failures.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { AccessList } from '../access-list.js';
import type { Catalog } from '../../../lib/private/catalog/catalog.js';
import { Hooks } from '../hooks/create-hooks.js';
import { PrivateUdpOff } from '../hooks/passkey.js';
import type { SwarmRouter } from '../router.js';
import { RequestPipeline } from './pipeline.js';

export interface EdgePipelineDeps {
  router: SwarmRouter;
  accessList: AccessList;
  metrics: TrackerMetrics;
  /** Where exceptions thrown by hooks go (component "hooks"). */
  failures: FailureSink;
  logger: Logger;
  /** Private mode: the catalog copy in use (CatalogReloader.current). */
  catalog?: () => Catalog;
}

/**
 * An edge's request pipeline as configured: the hooks of hooks.order,
 * started (keys loaded) before the edge listens, in front of `router`.
 * The same for all-in-one and edge pods.
 */
export async function startEdgePipeline(
  config: Config,
  deps: EdgePipelineDeps,
): Promise<{ pipeline: RequestPipeline; udpPipeline: RequestPipeline | undefined; hooks: Hooks }> {
  const hooks = Hooks.fromConfig(config, { accessList: deps.accessList, metrics: deps.metrics, logger: deps.logger, catalog: deps.catalog });
  await hooks.start();
  const refusals = (hook: string) => deps.metrics.hookRefusalCounter(hook);
  const pipeline = new RequestPipeline({ router: deps.router, preHooks: hooks.pre, failures: deps.failures, refusals });
  // Private mode without BEP 41 passkeys: UDP has no way to say who announces, so every UDP request is refused.
  const udpPipeline =
    config.private.enabled && config.private.udp === 'off'
      ? new RequestPipeline({ router: deps.router, preHooks: [new PrivateUdpOff()], failures: deps.failures, refusals })
      : undefined;
  if (hooks.pre.length > 0) deps.logger.info('request hooks', { hooks: hooks.pre.map((h) => h.name) });
  return { pipeline, udpPipeline, hooks };
}
