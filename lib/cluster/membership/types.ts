/**
 * Membership: who the swarm members are and where their gRPC endpoints live.
 *
 * A provider keeps two sorted lists:
 *  - members():  ready members. Only these own slots and get new requests.
 *  - draining(): members that are shutting down but still serving (Kubernetes
 *                `serving && terminating`). Keep channels to them open until
 *                their handoff ends; never route new requests to them.
 * A name is never in both lists.
 *
 * Identity is the member name (the StatefulSet pod name), never its address:
 * a pod that comes back with a new IP keeps its name and so its slots.
 *
 * Events: 'change' with the new snapshot, emitted only when either list
 * actually changed (a name or an address). The state present when start()
 * resolves is the initial state: it is visible through members()/draining()/
 * snapshot() and is not announced with a 'change'. No 'change' after stop().
 */
import { isIP } from 'node:net';
import type { EventEmitter } from 'node:events';

export interface Member {
  /** Stable identity (StatefulSet pod name). */
  readonly name: string;
  /** host:port of its gRPC endpoint; IPv6 hosts are bracketed: [::1]:7001. */
  readonly address: string;
}

export interface MembershipSnapshot {
  /** 0 before start(); then +1 for the initial state and for every 'change'. Usable as a SlotTable epoch. */
  readonly version: number;
  /** Ready members, sorted by name. */
  readonly members: readonly Member[];
  /** Serving && terminating members, sorted by name. */
  readonly draining: readonly Member[];
}

export type MembershipEvents = {
  change: [snapshot: MembershipSnapshot];
};

export type ChangeListener = (snapshot: MembershipSnapshot) => void;

export interface MembershipProvider extends Pick<EventEmitter<MembershipEvents>, 'on' | 'off' | 'once' | 'listenerCount'> {
  /** Short name for logs: 'static', 'kubernetes'. */
  readonly kind: string;
  /** Resolves once members() reflects the source. Idempotent while running. */
  start(): Promise<void>;
  /** Stops for good: no more 'change' events, no more work. Idempotent. */
  stop(): Promise<void>;
  /** Ready members, sorted by name. */
  members(): readonly Member[];
  /** Serving && terminating members, sorted by name. */
  draining(): readonly Member[];
  /** Both lists and the version, consistent with each other. */
  snapshot(): MembershipSnapshot;
}

export const EMPTY_SNAPSHOT: MembershipSnapshot = Object.freeze({
  version: 0,
  members: Object.freeze([]) as readonly Member[],
  draining: Object.freeze([]) as readonly Member[],
});

function byName(a: Member, b: Member): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Frozen copy of `members` sorted by name (UTF-16 code units, like SlotTable). */
export function sortMembers(members: Iterable<Member>): readonly Member[] {
  const out = [...members].map((m) => Object.freeze({ name: m.name, address: m.address })).sort(byName);
  return Object.freeze(out);
}

/** True when both sorted lists hold the same names with the same addresses. */
export function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].name !== b[i].name || a[i].address !== b[i].address) return false;
  }
  return true;
}

const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const HOST_LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME_RE = new RegExp(`^${HOST_LABEL}(\\.${HOST_LABEL})*\\.?$`);

/** Throws a descriptive error unless `name` is a usable member name. */
export function validateMemberName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new Error('member name is empty');
  if (name.length > 253) throw new Error(`member name ${JSON.stringify(name)} is longer than 253 characters`);
  if (!NAME_RE.test(name)) {
    throw new Error(`member name ${JSON.stringify(name)} is invalid: use letters, digits, '.', '_' and '-', starting and ending with a letter or digit (e.g. swarm-0)`);
  }
}

/** host:port, bracketing IPv6 hosts. */
export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses and validates host:port ([v6]:port for IPv6). Throws a descriptive error. */
export function parseHostPort(address: string): { host: string; port: number } {
  if (typeof address !== 'string' || address.length === 0) throw new Error('address is empty');
  let host: string;
  let portText: string;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0 || address[close + 1] !== ':') throw new Error(`address ${JSON.stringify(address)} is invalid: expected [ipv6]:port`);
    host = address.slice(1, close);
    portText = address.slice(close + 2);
    if (isIP(host) !== 6) throw new Error(`address ${JSON.stringify(address)} is invalid: ${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = address.lastIndexOf(':');
    if (colon < 0) throw new Error(`address ${JSON.stringify(address)} has no port: expected host:port`);
    host = address.slice(0, colon);
    portText = address.slice(colon + 1);
    if (host.includes(':')) throw new Error(`address ${JSON.stringify(address)} is invalid: bracket IPv6 hosts, e.g. [::1]:7001`);
    if (host.length === 0) throw new Error(`address ${JSON.stringify(address)} has no host`);
    const looksNumeric = /^[0-9.]+$/.test(host);
    if (looksNumeric ? isIP(host) !== 4 : !HOSTNAME_RE.test(host)) {
      throw new Error(`address ${JSON.stringify(address)} is invalid: ${JSON.stringify(host)} is not an IPv4 address or hostname`);
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw new Error(`address ${JSON.stringify(address)} has an invalid port ${JSON.stringify(portText)}`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new Error(`address ${JSON.stringify(address)} has port ${port} outside 1..65535`);
  return { host, port };
}

/**
 * Validates a whole member list: names and addresses well formed, no
 * duplicate names, no two members on the same address. Returns it sorted.
 */
export function validateMembers(members: readonly Member[], what = 'member list'): readonly Member[] {
  const names = new Map<string, string>();
  const addresses = new Map<string, string>();
  for (const m of members) {
    try {
      validateMemberName(m.name);
      parseHostPort(m.address);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
    const prev = names.get(m.name);
    if (prev !== undefined) throw new Error(`${what}: duplicate member name ${JSON.stringify(m.name)} (${prev} and ${m.address})`);
    names.set(m.name, m.address);
    const owner = addresses.get(m.address);
    if (owner !== undefined) throw new Error(`${what}: members ${JSON.stringify(owner)} and ${JSON.stringify(m.name)} share address ${m.address}`);
    addresses.set(m.address, m.name);
  }
  return sortMembers(members);
}
