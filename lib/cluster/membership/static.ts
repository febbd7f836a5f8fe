/**
 * Static membership from flags/env, for local clusters and tests:
 *   "swarm-0=127.0.0.1:7001,swarm-1=127.0.0.1:7002"
 * Entries are separated by commas (whitespace and newlines around entries are
 * ignored); each entry is name=host:port, IPv6 hosts bracketed
 * ("swarm-2=[::1]:7003"). Duplicate names, two members on one address, empty
 * entries and an empty list are rejected with an error naming the entry.
 *
 * The source is mutable: update() replaces the list (e.g. on SIGHUP) and
 * emits 'change' when the list really changed. Static members never drain
 * unless update() is given a draining list.
 */
import { EventEmitter } from 'node:events';
import {
  sameMembers,
  validateMembers,
  type Member,
  type MembershipEvents,
  type MembershipProvider,
  type MembershipSnapshot,
} from './types.js';

/** Parses "name=host:port,name=host:port". Throws a descriptive Error on bad input. */
export function parseMemberList(spec: string): Member[] {
  if (typeof spec !== 'string' || spec.trim().length === 0) {
    throw new Error('static member list is empty: expected name=host:port[,name=host:port...], e.g. swarm-0=127.0.0.1:7001');
  }
  const entries = spec.split(',');
  const out: Member[] = [];
  entries.forEach((raw, i) => {
    const entry = raw.trim();
    const where = `static member list entry ${i + 1}`;
    if (entry.length === 0) throw new Error(`${where} is empty (stray comma?) in ${JSON.stringify(spec)}`);
    const eq = entry.indexOf('=');
    if (eq < 0) throw new Error(`${where} ${JSON.stringify(entry)} has no '=': expected name=host:port`);
    const name = entry.slice(0, eq).trim();
    const address = entry.slice(eq + 1).trim();
    if (name.length === 0) throw new Error(`${where} ${JSON.stringify(entry)} has no name before '='`);
    if (address.length === 0) throw new Error(`${where} ${JSON.stringify(entry)} has no address after '='`);
    try {
      validateMembers([{ name, address }], where);
    } catch (err) {
      throw new Error(`${(err as Error).message} (in ${JSON.stringify(entry)})`);
    }
    out.push({ name, address });
  });
  validateMembers(out, 'static member list');
  return out;
}

/** Formats members back into the flag syntax (sorted by name). */
export function formatMemberList(members: readonly Member[]): string {
  return validateMembers(members).map((m) => `${m.name}=${m.address}`).join(',');
}

export class StaticMembership extends EventEmitter<MembershipEvents> implements MembershipProvider {
  readonly kind = 'static';
  private current: MembershipSnapshot;
  private started = false;
  private stopped = false;

  /** `source`: a spec string (see parseMemberList) or a member array; validated now. */
  constructor(source: string | readonly Member[], draining: readonly Member[] = []) {
    super();
    const { members, drain } = StaticMembership.check(source, draining);
    this.current = Object.freeze({ version: 0, members, draining: drain });
  }

  private static check(source: string | readonly Member[], draining: readonly Member[]): { members: readonly Member[]; drain: readonly Member[] } {
    const members = validateMembers(typeof source === 'string' ? parseMemberList(source) : source, 'static member list');
    const drain = validateMembers(draining, 'static draining list');
    for (const d of drain) {
      if (members.some((m) => m.name === d.name)) throw new Error(`static membership: ${JSON.stringify(d.name)} is both a member and draining`);
    }
    return { members, drain };
  }

  async start(): Promise<void> {
    if (this.stopped) throw new Error('static membership: start() after stop()');
    if (this.started) return;
    this.started = true;
    this.current = Object.freeze({ ...this.current, version: 1 });
  }

  async stop(): Promise<void> {
    this.stopped = true;
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

  /**
   * Replaces the member list (validated first: on error nothing changes).
   * Emits 'change' synchronously and returns true when the lists changed and
   * the provider is running; before start() it only replaces the lists;
   * after stop() it changes nothing.
   */
  update(source: string | readonly Member[], draining: readonly Member[] = []): boolean {
    const { members, drain } = StaticMembership.check(source, draining);
    if (this.stopped) return false;
    if (sameMembers(members, this.current.members) && sameMembers(drain, this.current.draining)) return false;
    const running = this.started && !this.stopped;
    this.current = Object.freeze({ version: this.current.version + (running ? 1 : 0), members, draining: drain });
    if (running) this.emit('change', this.current);
    return running;
  }
}
