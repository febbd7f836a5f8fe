/**
 * Swarms in this process that hand slots to each other over real gRPC on
 * 127.0.0.1: each node is a Swarm (injected clock, tests/support/swarm-slots.ts),
 * its Ownership over a membership the test sets (StaticMembership.update),
 * its Handoff coordinator, and a GrpcSwarmServer carrying the handoff
 * service. Nodes see membership changes when the test says so, all at once
 * or one by one.
 *
 *   const lab = new HandoffLab();
 *   const [a, b] = await lab.nodes(['swarm-a', 'swarm-b']);   // both ready members
 *   lab.setMembers(['swarm-a', 'swarm-b', 'swarm-c']);         // every node sees it
 *   await lab.close();
 */
import { randomBytes } from 'node:crypto';
import { StaticMembership } from '../../lib/cluster/membership/static.js';
import type { Member } from '../../lib/cluster/membership/types.js';
import { Failures } from '../../lib/runtime/failures.js';
import { createLogger } from '../../lib/runtime/logger.js';
import { GrpcSwarmServer } from '../../lib/transport/grpc/server.js';
import { EdgeAuthenticator } from '../../lib/transport/grpc/edge-auth.js';
import { EdgeProofVerifier, SWARM_PROOF_LABEL } from '../../lib/transport/grpc/edge-token.js';
import { handoffServiceDefinition } from '../../lib/transport/grpc/handoff-service.js';
import type { PrivateAccounting } from '../../services/swarm/accounting/private-announce.js';
import { Ownership } from '../../services/swarm/ownership.js';
import { Handoff, type HandoffOptions } from '../../services/swarm/handoff/handoff.js';
import { HandoffPeers } from '../../services/swarm/handoff/handoff-peers.js';
import { HandoffServer } from '../../services/swarm/handoff/handoff-server.js';
import { HandoffStats } from '../../services/swarm/handoff/handoff-stats.js';
import { PullRecords } from '../../services/swarm/handoff/pull-records.js';
import { connectEdges, makeSwarm, type TestSwarm } from './swarm-slots.js';
import { clock, type TestClock } from './swarm-store.js';

export interface LabNodeOptions {
  handoff?: Partial<HandoffOptions>;
  /** The cluster token this node uses to call others and requires from callers ('' = none). */
  token?: string;
  /** Private mode: each node's accounting, by node name. */
  accounting?: (name: string) => PrivateAccounting;
}

export class LabNode {
  readonly stats = new HandoffStats();
  readonly records: PullRecords;
  readonly handoff: Handoff;
  readonly ownership: Ownership;
  readonly failures: unknown[] = [];
  /** Slots released from snapshots by the handoff. */
  readonly released: number[] = [];
  /** What the process counts as tracker_limit_hits_total{limit="cluster.handoffDeadlineSeconds"}. */
  readonly deadlineHits = {
    value: 0,
    inc(): void {
      this.value++;
    },
  };
  server: GrpcSwarmServer | undefined;
  address = '';
  private readonly peers: HandoffPeers;

  constructor(
    readonly name: string,
    readonly t: TestSwarm,
    readonly membership: StaticMembership,
    options: LabNodeOptions,
  ) {
    this.ownership = Ownership.follow(membership, name);
    this.records = new PullRecords(t.swarm.changes);
    this.peers = new HandoffPeers(name, randomBytes(8).toString('hex'), { serverNameFor: () => undefined, authToken: options.token ?? '' });
    const seen = this.failures;
    const failures = {
      report: (error: unknown) => void seen.push(error),
      get count() {
        return seen.length;
      },
    };
    this.handoff = new Handoff(
      {
        state: t.swarm.slots,
        changes: t.swarm.changes,
        ownership: this.ownership,
        members: () => membership.members(),
        dialer: this.peers,
        records: this.records,
        stats: this.stats,
        logger: createLogger({ level: process.env.TRACKER_TEST_LOG_LEVEL === 'debug' ? 'debug' : 'error' }),
        failures,
        deadlineHit: this.deadlineHits,
      },
      { deadlineMs: 10_000, budgetMs: 4, retryDelayMs: 20, reconcileDelayMs: 200, retryIntervalMs: 500, ...options.handoff },
    );
    this.handoff.releaseSnapshots = (slots) => void this.released.push(...slots);
    const handoffServer = new HandoffServer({
      slots: t.swarm.slots,
      records: this.records,
      receiver: this.handoff,
      auth: new EdgeAuthenticator({
        token: options.token ? new EdgeProofVerifier(options.token, name, { label: SWARM_PROOF_LABEL }) : undefined,
        caller: { noun: 'swarm', nameKey: 'cluster.tls.serverName' },
      }),
      budgetMs: 4,
      stats: this.stats,
      failures,
    });
    this.server = new GrpcSwarmServer(t.swarm, {
      host: '127.0.0.1',
      swarmId: name,
      failures: new Failures(createLogger({ level: 'error' })).for('test'),
      services: [{ definition: handoffServiceDefinition, implementation: handoffServer.implementation() }],
    });
    connectEdges(t.swarm);
  }

  async listen(): Promise<void> {
    this.address = `127.0.0.1:${await this.server!.listen()}`;
  }

  get member(): Member {
    return { name: this.name, address: this.address };
  }

  /** Stops serving at once (a crash, as far as callers can tell). */
  crash(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  async close(): Promise<void> {
    this.ownership.close();
    this.peers.close();
    this.server?.forceShutdown();
  }
}

export class HandoffLab {
  /** One clock for every node: peers' last-seen times compare across swarms. */
  readonly clock: TestClock = clock();
  private readonly all: LabNode[] = [];

  /**
   * Starts nodes named `names`, listening; each sees `ready` (default: every
   * node made so far, these included) as the ready members.
   */
  async nodes(names: readonly string[], options: LabNodeOptions = {}, ready?: readonly string[]): Promise<LabNode[]> {
    const made: LabNode[] = [];
    for (const name of names) {
      const membership = new StaticMembership([]);
      await membership.start();
      const node = new LabNode(name, makeSwarm({ clock: this.clock, accounting: options.accounting?.(name) }), membership, options);
      await node.listen();
      this.all.push(node);
      made.push(node);
    }
    for (const node of made) node.handoff.start();
    this.setMembers(ready ?? this.all.map((n) => n.name), [], this.all);
    return made;
  }

  /**
   * `name` crashed and came back as a new process (empty, another port):
   * its old node is closed and replaced; every node sees the new address.
   */
  async restart(name: string, options: LabNodeOptions = {}): Promise<LabNode> {
    const old = this.node(name);
    await old.close();
    const membership = new StaticMembership([]);
    await membership.start();
    const node = new LabNode(name, makeSwarm({ clock: this.clock, accounting: options.accounting?.(name) }), membership, options);
    await node.listen();
    this.all[this.all.indexOf(old)] = node;
    const snapshot = old.membership.snapshot();
    node.handoff.start();
    this.setMembers(snapshot.members.map((m) => m.name), snapshot.draining.map((m) => m.name));
    return node;
  }

  node(name: string): LabNode {
    const node = this.all.find((n) => n.name === name);
    if (!node) throw new Error(`no lab node ${name}`);
    return node;
  }

  /** The members every node in `audience` (default all) sees from now on. */
  setMembers(ready: readonly string[], draining: readonly string[] = [], audience: readonly LabNode[] = this.all): void {
    const member = (name: string): Member => this.node(name).member;
    for (const node of audience) node.membership.update(ready.map(member), draining.map(member));
  }

  async close(): Promise<void> {
    for (const node of this.all.splice(0)) await node.close();
  }
}
