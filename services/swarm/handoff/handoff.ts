/**
 * Slot handoff between swarms: no peer is lost when swarms are added,
 * removed or restarted one by one, Redis or not.
 *
 * - Joining (`join`, before the swarm reports ready): it pulls the slots it
 *   will own, under the table with it in it, from their holders (their
 *   owners under the table without it), on top of what a Redis restore
 *   brought. Merges are order-independent, so both may bring the same peers.
 * - A table change (`start` follows the ownership): a swarm that held slots
 *   it no longer owns pushes them to their owner under the new table and
 *   then drops them. To a swarm that pulled them when it joined, only the
 *   slots changed since that pull go (pull-records.ts). A swarm that is no
 *   longer a member (draining) pushes every slot it held.
 * - Stopping (`stop`, on SIGTERM, after the last request): it pushes every
 *   slot it still holds to its owner under the table without it.
 *
 * Every handoff is bounded by `deadlineMs` (cluster.handoffDeadlineSeconds).
 * A target that refuses (it is leaving too) or stays unreachable after
 * `attempts` tries is passed over: its slots go to their next owner by the
 * same hashing (the owner under the table without it), who hands them on
 * once the table settles. Slots a swarm receives but does not own (the
 * sender's table was ahead or behind) are handed on after `reconcileDelayMs`
 * if the table has not given them to it by then; slots that could not be
 * handed off are tried again every `retryIntervalMs`. What still could not
 * be handed off when the swarm stops is counted (tracker_handoff_unsent_peers_total)
 * and left to the final Redis snapshot when there is one. A pushed slot is
 * released from this swarm's snapshots: its new owner writes it from then on.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { SLOT_COUNT, SlotTable } from '../../../lib/cluster/slot-table.js';
import type { Member } from '../../../lib/cluster/membership/types.js';
import type { FailureSink } from '../../../lib/runtime/failures.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import { HandoffCallError } from '../../../lib/transport/grpc/handoff-client.js';
import { LEAVING_DETAILS, type PullRequestMessage, type PushReplyMessage, type SlotChunksMessage } from '../../../lib/transport/grpc/handoff-service.js';
import type { SlotChanges } from '../store/slot-changes.js';
import type { SlotState } from '../store/slot-state.js';
import { exportMessages, importChunks, TurnBudget } from './chunk-transfer.js';
import { groupByOwner, pullPlan } from './handoff-plan.js';
import type { HandoffReceiver } from './handoff-server.js';
import type { HandoffFailure, HandoffKind, HandoffStats } from './handoff-stats.js';
import type { PullRecords } from './pull-records.js';

/** Another swarm, as the coordinator calls it (HandoffClient; fakes in tests). */
export interface HandoffPeer {
  pull(request: PullRequestMessage, deadline: number, onChunks: (chunks: Uint8Array[]) => void | Promise<void>): Promise<void>;
  push(source: AsyncIterable<SlotChunksMessage>, deadline: number, pullId?: string): Promise<PushReplyMessage>;
}

export interface HandoffDialer {
  peer(member: Member): HandoffPeer;
}

/** What the coordinator reads of the swarm's ownership (services/swarm/ownership.ts). */
export interface HandoffOwnership {
  readonly name: string;
  readonly table: SlotTable;
  readonly isMember: boolean;
  owns(slot: number): boolean;
  joiningTable(): SlotTable;
  onChange(listener: (previous: SlotTable, next: SlotTable) => void): () => void;
}

export interface HandoffOptions {
  /** cluster.handoffDeadlineSeconds in ms; 0 = no handoff at all. */
  deadlineMs: number;
  /** Longest export or import step per event-loop turn. */
  budgetMs: number;
  /** Tries of one unreachable swarm in one handoff before its slots go to the next owner. Default 3 (joining: 2). */
  attempts?: number;
  /** First pause between tries; doubles. Default 200 ms. */
  retryDelayMs?: number;
  /** Slots received but not owned are handed on after this long, if the table has not given them to us meanwhile. Default 5 s. */
  reconcileDelayMs?: number;
  /** Slots that could not be handed off are tried again this often. Default 30 s. */
  retryIntervalMs?: number;
}

export interface HandoffDeps {
  state: SlotState;
  changes: SlotChanges;
  ownership: HandoffOwnership;
  /** Ready members with their addresses, now. */
  members(): readonly Member[];
  dialer: HandoffDialer;
  records: PullRecords;
  stats: HandoffStats;
  logger: Logger;
  failures: FailureSink;
  /** Counted when the deadline cut a handoff short (metrics.limitCounter('cluster.handoffDeadlineSeconds')). */
  deadlineHit?: { inc(): void };
}

/** Where a swarm is in its life, for handoff. */
type Phase = 'joining' | 'member' | 'leaving' | 'stopping';

interface Outcome {
  target: string;
  ok: boolean;
  reason?: HandoffFailure | 'unknown-pull';
}

interface Totals {
  slots: number;
  peers: number;
  unchanged: number;
  targets: Set<string>;
  /** Why targets were passed over or the handoff gave up. */
  problems: string[];
  complete: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());

/** What a failed call means for the handoff. */
function classify(error: unknown): HandoffFailure | 'unknown-pull' {
  if (!(error instanceof HandoffCallError)) return 'unreachable';
  if (error.code === grpc.status.UNAVAILABLE && error.details === LEAVING_DETAILS) return 'leaving';
  if (error.code === grpc.status.FAILED_PRECONDITION) return 'unknown-pull';
  if (error.code === grpc.status.UNAUTHENTICATED || error.code === grpc.status.PERMISSION_DENIED) return 'refused';
  return 'unreachable';
}

export class Handoff implements HandoffReceiver {
  private phase: Phase;
  /** 1 = held here, owned elsewhere: to be handed off. */
  private readonly away = new Uint8Array(SLOT_COUNT);
  private awayCount = 0;
  /** 1 = pulled while joining (or pushed to us before we were a member). */
  private readonly pulled = new Uint8Array(SLOT_COUNT);
  /** 1 = handed off: its new owner snapshots it now. */
  private readonly released = new Uint8Array(SLOT_COUNT);
  /** 1 = being pushed now; `touched` = received again meanwhile (keep it, push it again). */
  private readonly inFlight = new Uint8Array(SLOT_COUNT);
  private readonly touched = new Uint8Array(SLOT_COUNT);
  /** Pull ids this process pulled completely. */
  private readonly pulls = new Set<string>();
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  /** Date.now() when `timer` fires. */
  private timerDue = 0;
  private unsubscribe: (() => void) | null = null;
  /** Slots handed off are released from the snapshots through this (SnapshotScheduler.release). */
  releaseSnapshots: ((slots: readonly number[]) => void) | undefined;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly reconcileDelayMs: number;
  private readonly retryIntervalMs: number;
  private readonly logger: Logger;

  constructor(
    private readonly deps: HandoffDeps,
    private readonly options: HandoffOptions,
  ) {
    this.phase = deps.ownership.isMember ? 'member' : 'joining';
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.retryDelayMs = options.retryDelayMs ?? 200;
    this.reconcileDelayMs = options.reconcileDelayMs ?? 5000;
    this.retryIntervalMs = options.retryIntervalMs ?? 30_000;
    this.logger = deps.logger.child({ component: 'handoff' });
  }

  /** False with a deadline of 0: nothing is pulled or pushed, pushes from others are still taken. */
  get enabled(): boolean {
    return this.options.deadlineMs > 0;
  }

  /** Slots held that belong elsewhere and were not handed off yet. */
  get pendingSlots(): number {
    return this.awayCount;
  }

  // ------------------------------------------------------------------ joining

  /**
   * Pulls the slots this swarm is about to own from their holders; call
   * before reporting ready (after a Redis restore). Never rejects: what
   * could not be pulled comes back with the peers' next announce.
   */
  async join(): Promise<void> {
    if (!this.enabled) return;
    const self = this.deps.ownership.name;
    const members = this.deps.members().filter((m) => m.name !== self);
    const plan = pullPlan(self, this.deps.ownership.joiningTable(), members.map((m) => m.name));
    if (plan.size === 0) return;
    const stats = this.deps.stats;
    const started = Date.now();
    const deadline = started + this.options.deadlineMs;
    stats.inProgress++;
    try {
      const results = await Promise.all(
        [...plan].map(([source, slots]) => this.pullFrom(members.find((m) => m.name === source)!, slots, deadline)),
      );
      const seconds = (Date.now() - started) / 1000;
      const complete = results.every((r) => r.ok);
      this.finish('join', complete, seconds);
      const fields = {
        sources: results.length,
        slots: results.reduce((n, r) => n + r.slots, 0),
        peers: results.reduce((n, r) => n + r.peers, 0),
        seconds,
        ...(complete ? {} : { failed: results.filter((r) => !r.ok).map((r) => `${r.source}: ${r.why}`) }),
      };
      // A holder not listening at all holds nothing (it is starting too, as when a whole cluster starts) or is down.
      const quiet = results.every((r) => r.ok || (r.why?.startsWith('unreachable') && r.slots === 0));
      if (complete) this.logger.info('handoff: pulled the slots this swarm is about to own', fields);
      else if (quiet) this.logger.info('handoff: some holders were not reachable (starting too, or down); their peers, if any, come back when they re-announce', fields);
      else this.logger.warn('handoff: some slots could not be pulled; their peers come back when they re-announce', fields);
    } catch (error) {
      this.deps.failures.report(error, { during: 'handoff join' });
    } finally {
      stats.inProgress--;
    }
  }

  private async pullFrom(member: Member, slots: number[], deadline: number): Promise<{ source: string; ok: boolean; slots: number; peers: number; why?: string }> {
    const { state, changes, stats } = this.deps;
    const got = new Set<number>();
    let peers = 0;
    // A holder that cannot be reached is starting too (it holds nothing yet) or down: two tries.
    const attempts = Math.min(2, this.attempts);
    let delay = this.retryDelayMs;
    for (let attempt = 1; ; attempt++) {
      const pullId = randomBytes(12).toString('base64url');
      const budget = new TurnBudget(this.options.budgetMs);
      try {
        await this.deps.dialer.peer(member).pull({ slots, pullId }, deadline, async (chunks) => {
          const r = await importChunks(state, chunks, budget, (slot, n) => {
            // Its snapshot is ours to write once we own it; and, until then, it is a copy.
            changes.mark(slot);
            this.pulled[slot] = 1;
            if (!got.has(slot)) {
              got.add(slot);
              stats.slotsPulled++;
            }
            peers += n;
            stats.peersPulled += n;
          });
          if (r.refused > 0) {
            stats.failures.import += r.refused;
            this.logger.warn('handoff: chunks refused (written by a release with another format?)', { source: member.name, refused: r.refused });
          }
        });
        this.pulls.add(pullId);
        return { source: member.name, ok: true, slots: got.size, peers };
      } catch (error) {
        if (!(error instanceof HandoffCallError)) this.deps.failures.report(error, { during: 'handoff pull', source: member.name });
        const reason = classify(error);
        const why = reason === 'unknown-pull' ? 'unreachable' : reason;
        if (why === 'refused' || attempt >= attempts || Date.now() + delay >= deadline) {
          stats.failures[why]++;
          if (Date.now() >= deadline) this.deps.deadlineHit?.inc();
          return { source: member.name, ok: false, slots: got.size, peers, why: `${why}: ${(error as Error).message}` };
        }
        await sleep(delay);
        delay *= 2;
      }
    }
  }

  // ------------------------------------------------------------------ table changes

  /** Follows the ownership from now on: each table change hands off what this swarm no longer owns. */
  start(): void {
    if (this.phase === 'joining' && this.deps.ownership.isMember) this.phase = 'member';
    this.unsubscribe ??= this.deps.ownership.onChange((previous, next) => this.tableChanged(previous, next));
  }

  private tableChanged(previous: SlotTable, next: SlotTable): void {
    if (this.phase === 'stopping') return;
    const self = this.deps.ownership.name;
    const before = this.phase;
    const was = previous.indexOf(self);
    const now = next.indexOf(self);
    if (now >= 0) this.phase = 'member';
    else if (before === 'member') this.phase = 'leaving';
    // Without handoff nothing is tracked: what this swarm no longer owns stays until it expires.
    if (!this.enabled) return;
    const joined = before === 'joining' && this.phase === 'member';
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      if (now >= 0 && next.ownerIndex(slot) === now) {
        this.setAway(slot, false);
        this.released[slot] = 0;
      } else if ((was >= 0 && previous.ownerIndex(slot) === was) || (joined && this.pulled[slot] === 1)) {
        this.setAway(slot, true);
      }
    }
    if (joined) this.pulled.fill(0);
    if (this.awayCount > 0 && this.phase !== 'joining') this.kick(0);
  }

  // ------------------------------------------------------------------ HandoffReceiver (pushes from other swarms)

  acceptsPushes(): boolean {
    return this.phase === 'joining' || this.phase === 'member';
  }

  holdsPull(pullId: string): boolean {
    return this.pulls.has(pullId);
  }

  received(slot: number): void {
    // Its snapshot is ours to write now (the sender released it).
    this.deps.changes.mark(slot);
    this.released[slot] = 0;
    if (this.inFlight[slot] === 1) this.touched[slot] = 1;
    if (this.phase === 'joining') {
      this.pulled[slot] = 1;
    } else if (this.enabled && !this.deps.ownership.owns(slot)) {
      // The sender's table differs from ours: if ours does not give it to us soon, it goes on.
      this.setAway(slot, true);
      this.kick(this.reconcileDelayMs);
    }
  }

  /**
   * Whether this swarm's snapshots write `slot`: owned and not handed off,
   * or, once stopping, held and not handed off (the final write keeps what
   * the handoff could not).
   */
  snapshotOwns(slot: number): boolean {
    if (this.released[slot] === 1) return false;
    return this.deps.ownership.owns(slot) || (this.phase === 'stopping' && this.away[slot] === 1);
  }

  // ------------------------------------------------------------------ stopping

  /**
   * Hands every slot still held to its owner under the table without this
   * swarm, within the deadline; call after the last request is answered.
   */
  async stop(): Promise<void> {
    if (this.phase === 'stopping') return;
    this.phase = 'stopping';
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.enabled) return;
    const stats = this.deps.stats;
    const started = Date.now();
    const deadline = started + this.options.deadlineMs;
    stats.inProgress++;
    try {
      if (this.running) await Promise.race([this.running, sleep(deadline - Date.now())]);
      const state = this.deps.state;
      for (let slot = 0; slot < SLOT_COUNT; slot++) {
        if (this.released[slot] === 0 && state.slotPeerCount(slot) > 0) this.setAway(slot, true);
      }
      if (this.awayCount === 0) return;
      const totals = await this.handOver(deadline, true);
      let unsent = 0;
      for (let slot = 0; slot < SLOT_COUNT; slot++) if (this.away[slot] === 1) unsent += state.slotPeerCount(slot);
      stats.unsentPeers += unsent;
      const seconds = (Date.now() - started) / 1000;
      this.finish('stop', totals.complete, seconds);
      const fields = { slots: totals.slots, peers: totals.peers, to: [...totals.targets], seconds, ...(unsent > 0 ? { unsentPeers: unsent, unsentSlots: this.awayCount, problems: totals.problems } : {}) };
      if (totals.complete) this.logger.info('handoff: handed every slot to its next owner before stopping', fields);
      else this.logger.warn('handoff: stopping with slots not handed off (the final Redis snapshot keeps them if there is one; else their peers come back when they re-announce)', fields);
    } catch (error) {
      this.deps.failures.report(error, { during: 'handoff on stop' });
    } finally {
      stats.inProgress--;
    }
  }

  // ------------------------------------------------------------------ handing over

  /** Runs a rebalance after `delayMs` (0: now, or right after the one running). */
  private kick(delayMs: number): void {
    if (!this.enabled || this.phase === 'stopping') return;
    if (delayMs > 0) {
      const due = Date.now() + delayMs;
      if (this.timer && this.timerDue <= due) return;
      if (this.timer) clearTimeout(this.timer);
      this.timerDue = due;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick(0);
      }, delayMs).unref();
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.rebalance().finally(() => {
      this.running = null;
      if (this.phase === 'stopping') return;
      if (this.again) {
        this.again = false;
        this.kick(0);
      } else if (this.awayCount > 0) {
        this.kick(this.retryIntervalMs);
      }
    });
  }

  private async rebalance(): Promise<void> {
    const stats = this.deps.stats;
    const started = Date.now();
    stats.inProgress++;
    try {
      const totals = await this.handOver(started + this.options.deadlineMs, false);
      if (totals.slots === 0 && totals.complete && totals.unchanged === 0) return;
      const seconds = (Date.now() - started) / 1000;
      this.finish('rebalance', totals.complete, seconds);
      const fields = { slots: totals.slots, peers: totals.peers, unchangedSinceTheirPull: totals.unchanged, to: [...totals.targets], seconds, ...(totals.complete ? {} : { pendingSlots: this.awayCount, problems: totals.problems }) };
      if (totals.complete) this.logger.info('handoff: handed slots this swarm no longer owns to their owners', fields);
      else this.logger.warn('handoff: some slots this swarm no longer owns were not handed off; trying again later', fields);
    } catch (error) {
      this.deps.failures.report(error, { during: 'handoff' });
    } finally {
      stats.inProgress--;
    }
  }

  /**
   * Pushes the away slots to their owners until none is left, the deadline
   * passes, or nobody is left to take them. `stopping`: owners under the
   * table without this swarm, and nothing is dropped (the process exits).
   */
  private async handOver(deadline: number, stopping: boolean): Promise<Totals> {
    const totals: Totals = { slots: 0, peers: 0, unchanged: 0, targets: new Set(), problems: [], complete: false };
    const passedOver = new Map<string, HandoffFailure>();
    const tries = new Map<string, number>();
    let delay = this.retryDelayMs;
    for (;;) {
      if (!stopping && this.phase === 'stopping') return totals; // stop() takes over
      const { groups, members } = this.targets(stopping, passedOver);
      if (this.awayCount === 0) {
        totals.complete = true;
        return totals;
      }
      if (groups.size === 0) {
        this.deps.stats.failures['no-successor']++;
        totals.problems.push(`no swarm left to take ${this.awayCount} slots${passedOver.size > 0 ? ` (passed over: ${[...passedOver].map(([n, r]) => `${n} ${r}`).join(', ')})` : ''}`);
        return totals;
      }
      if (Date.now() >= deadline) {
        this.deps.stats.failures.deadline++;
        this.deps.deadlineHit?.inc();
        totals.problems.push(`cluster.handoffDeadlineSeconds (${this.options.deadlineMs / 1000} s) passed`);
        return totals;
      }
      const outcomes = await Promise.all([...groups].map(([target, slots]) => this.pushTo(members.get(target)!, slots, deadline, stopping, totals)));
      let wait = false;
      for (const o of outcomes) {
        if (o.ok || o.reason === 'unknown-pull') continue;
        if (o.reason === 'leaving' || o.reason === 'refused') {
          passedOver.set(o.target, o.reason);
          totals.problems.push(`${o.target}: ${o.reason}`);
          continue;
        }
        const n = (tries.get(o.target) ?? 0) + 1;
        tries.set(o.target, n);
        if (n >= this.attempts) {
          passedOver.set(o.target, o.reason!);
          totals.problems.push(`${o.target}: ${o.reason} (${n} tries)`);
        } else {
          wait = true;
        }
      }
      if (wait) {
        await sleep(Math.min(delay, deadline - Date.now()));
        delay *= 2;
      }
    }
  }

  /**
   * The away slots that hold something, grouped by the swarm to push them
   * to: their owner under the current table, or, when stopping or some were
   * passed over, under the table of the ready members left.
   */
  private targets(stopping: boolean, passedOver: ReadonlyMap<string, unknown>): { groups: Map<string, number[]>; members: Map<string, Member> } {
    const self = this.deps.ownership.name;
    const state = this.deps.state;
    const members = new Map(this.deps.members().map((m) => [m.name, m]));
    const slots: number[] = [];
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      if (this.away[slot] === 0) continue;
      if (state.slotPeerCount(slot) === 0) this.setAway(slot, false); // nothing left to hand over (expired)
      else slots.push(slot);
    }
    let table = this.deps.ownership.table;
    if (stopping || passedOver.size > 0 || table.members.some((m) => !members.has(m))) {
      table = SlotTable.build([...members.keys()].filter((name) => name !== self && !passedOver.has(name)));
    }
    const groups = groupByOwner(slots, table, self);
    return { groups, members };
  }

  /** One push of `slots` to `member` (only what changed since its pull, when it pulled them). */
  private async pushTo(member: Member, slots: number[], deadline: number, stopping: boolean, totals: Totals): Promise<Outcome> {
    const { state, records, stats } = this.deps;
    const plan = records.plan(member.name, slots);
    const send = plan?.send ?? slots;
    let peers = 0;
    for (const slot of slots) this.inFlight[slot] = 1;
    try {
      const messages = exportMessages(state, send, this.options.budgetMs, {
        slotDone(_slot, n) {
          peers += n;
        },
      });
      const reply = await this.deps.dialer.peer(member).push(messages, deadline, plan?.pullId ?? '');
      if (reply.refusedChunks > 0) {
        stats.failures.import += reply.refusedChunks;
        totals.problems.push(`${member.name} refused ${reply.refusedChunks} chunks (another release's format?)`);
      }
      records.forget(member.name);
      stats.slotsPushed += send.length;
      stats.peersPushed += peers;
      stats.slotsUnchanged += plan?.skipped.length ?? 0;
      totals.slots += send.length;
      totals.peers += peers;
      totals.unchanged += plan?.skipped.length ?? 0;
      totals.targets.add(member.name);
      await this.handedOff(slots, stopping);
      return { target: member.name, ok: true };
    } catch (error) {
      const reason = classify(error);
      if (reason === 'unknown-pull') {
        records.forget(member.name);
        return { target: member.name, ok: false, reason };
      }
      if (!(error instanceof HandoffCallError)) this.deps.failures.report(error, { during: 'handoff push', target: member.name });
      stats.failures[reason]++;
      return { target: member.name, ok: false, reason };
    } finally {
      for (const slot of slots) this.inFlight[slot] = 0;
    }
  }

  /** `slots` are their new owner's now: no longer away, released from snapshots, dropped (unless stopping). */
  private async handedOff(slots: readonly number[], stopping: boolean): Promise<void> {
    const gone: number[] = [];
    for (const slot of slots) {
      if (this.touched[slot] === 1) {
        // Received again while it was being pushed: keep it away and push it again.
        this.touched[slot] = 0;
        continue;
      }
      if (this.away[slot] === 0 || (!stopping && this.deps.ownership.owns(slot))) continue;
      this.setAway(slot, false);
      this.released[slot] = 1;
      gone.push(slot);
    }
    this.releaseSnapshots?.(gone);
    if (stopping || gone.length === 0) return;
    const ownership = this.deps.ownership;
    // Checked again at each slot: the table may give one back meanwhile.
    const stillAway = function* (): Generator<number> {
      for (const slot of gone) if (!ownership.owns(slot)) yield slot;
    };
    await this.deps.state.dropSlots(stillAway(), this.options.budgetMs);
  }

  private setAway(slot: number, away: boolean): void {
    const v = away ? 1 : 0;
    if (this.away[slot] === v) return;
    this.away[slot] = v;
    this.awayCount += away ? 1 : -1;
    this.deps.stats.pendingSlots = this.awayCount;
  }

  private finish(kind: HandoffKind, complete: boolean, seconds: number): void {
    const stats = this.deps.stats;
    (complete ? stats.complete : stats.incomplete)[kind]++;
    stats.lastSeconds[kind] = seconds;
  }
}
