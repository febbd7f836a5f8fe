import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { MembershipProvider } from '../../lib/cluster/membership/types.js';
import { StaticMembership } from '../../lib/cluster/membership/static.js';
import { FileMembership } from '../../lib/cluster/membership/file.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** This process's stable name: configured, else the host name (a StatefulSet pod's name). */
export function nodeName(config: Config): string {
  return config.node.name !== '' ? config.node.name : hostname();
}

/** The membership provider the configuration asks for (not started); errors say which key to fix. */
export async function createMembership(config: Config, logger: Logger): Promise<MembershipProvider> {
  if (config.cluster.membership === 'static') {
    if (config.cluster.members.trim() === '') {
      throw new Error('an edge with cluster.membership=static needs cluster.members (name=host:port,...)');
    }
    return new StaticMembership(config.cluster.members);
  }
  if (config.cluster.membership === 'file') {
    if (config.cluster.membersFile === '') throw new Error('cluster.membership=file needs cluster.membersFile (a file of name=host:port lines)');
    return new FileMembership({ file: config.cluster.membersFile, logger: logger.child({ component: 'membership' }) });
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

/**
 * A swarm's membership: the edges' provider, so it builds the same slot
 * table; none for a swarm with cluster.membership=static and no
 * cluster.members (it then serves every slot it is sent, as before swarms
 * knew what they own).
 */
export async function createSwarmMembership(config: Config, logger: Logger): Promise<MembershipProvider | undefined> {
  if (config.cluster.membership === 'static' && config.cluster.members.trim() === '') return undefined;
  return createMembership(config, logger);
}
