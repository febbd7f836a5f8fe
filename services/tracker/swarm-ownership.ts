import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../lib/runtime/metrics.js';
import type { SlotTable } from '../../lib/cluster/slot-table.js';
import { FileMembership } from '../../lib/cluster/membership/file.js';
import type { MembershipProvider } from '../../lib/cluster/membership/types.js';
import { Ownership } from '../swarm/ownership.js';
import { createSwarmMembership } from './cluster-config.js';

/**
 * A swarm's ownership, started: the edges' membership provider and slot
 * table (or every slot, without a member list), its gauges, and one info
 * line per table change saying how many slots this swarm owns, gained and
 * lost. `stop()` after the gRPC server has stopped. `membership` (undefined
 * when the swarm owns everything) gives the members' addresses, for handoff.
 */
export async function startSwarmOwnership(
  config: Config,
  name: string,
  logger: Logger,
  metrics: TrackerMetrics,
): Promise<{ ownership: Ownership; membership: MembershipProvider | undefined; stop(): Promise<void> }> {
  const membership = await createSwarmMembership(config, logger);
  await membership?.start();
  const ownership = membership ? Ownership.follow(membership, name) : Ownership.everything(name);
  const log = (previous: SlotTable | undefined): void => {
    const table = ownership.table;
    const moved = previous ? table.movedSlots(previous) : [];
    const lost = previous ? moved.filter((slot) => previous.ownerOfSlot(slot) === name).length : 0;
    const gained = moved.filter((slot) => table.ownerOfSlot(slot) === name).length;
    logger.info('slot table', {
      identity: table.identity,
      members: table.members,
      draining: membership?.draining().map((m) => m.name) ?? [],
      ownedSlots: ownership.ownedCount,
      ...(previous ? { gained, lost } : {}),
      ...(membership ? {} : { note: 'no cluster.members: this swarm serves every slot it is sent' }),
    });
  };
  log(undefined);
  if (membership?.kind === 'static' && !ownership.isMember) {
    // A static list never changes: this swarm would answer "moved" for everything, for good.
    logger.warn('this swarm is not in cluster.members: it owns no slots and answers "moved" to every request; list it under its node.name', { name, members: ownership.table.members });
  }
  ownership.onChange((previous) => log(previous));
  metrics.observeSlotTable(() => ({ epoch: ownership.table.epoch ?? 0, members: ownership.table.size, identity: ownership.identity }));
  if (membership instanceof FileMembership) metrics.observeMembersFile(() => membership);
  return {
    ownership,
    membership,
    async stop() {
      ownership.close();
      await membership?.stop();
    },
  };
}
