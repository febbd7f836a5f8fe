import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { MembershipProvider } from '../../lib/cluster/membership/types.js';
import { StaticMembership } from '../../lib/cluster/membership/static.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** This process's stable name: configured, else the host name (a StatefulSet pod's name). */
export function nodeName(config: Config): string {
  return config.node.name !== '' ? config.node.name : hostname();
}

/** The membership provider the configuration asks for; errors say which key to fix. */
export async function createMembership(config: Config, logger: Logger): Promise<MembershipProvider> {
  if (config.cluster.membership === 'static') {
    if (config.cluster.members.trim() === '') {
      throw new Error('an edge with cluster.membership=static needs cluster.members (name=host:port,...)');
    }
    return new StaticMembership(config.cluster.members);
  }
  let namespace = config.cluster.kubernetesNamespace;
  if (namespace === '') {
    try {
      namespace = readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
    } catch {
      throw new Error(`cluster.kubernetesNamespace is empty and ${SERVICE_ACCOUNT_NAMESPACE} cannot be read: set cluster.kubernetesNamespace`);
    }
  }
  // Loaded only here: the Kubernetes client takes ~0.6 s to import.
  const { KubernetesMembership } = await import('../../lib/cluster/membership/kubernetes.js');
  return new KubernetesMembership({
    namespace,
    service: config.cluster.kubernetesService,
    portName: config.cluster.kubernetesPortName,
    kubeconfigPath: config.cluster.kubeconfig !== '' ? config.cluster.kubeconfig : undefined,
    logger: logger.child({ component: 'membership' }),
  });
}
