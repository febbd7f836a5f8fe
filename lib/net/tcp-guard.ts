/**
 * The JS side of native/tcp-guard: counts and caps the TCP connections that
 * uWebSockets.js accepts, and keeps its accept loop from spinning when file
 * descriptors run out (see native/tcp-guard/src/guard.h for how).
 *
 * The guard is one per process: it patches the one loaded uWebSockets.js
 * module, so every uWS listener in the process shares its caps and counts.
 * Installing twice is harmless.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { loadAddon } from './native-addon-loader.js';
import type { Cidr } from '../runtime/cidr.js';

export interface TcpGuardStats {
  /** Connections accepted and not closed yet. */
  open: number;
  /** Distinct IPv4 addresses and IPv6 /64s among them (exempt ones not included). */
  addresses: number;
  /** Connections reset because the total cap was reached. */
  refusedTotal: number;
  /** Connections reset because their address was at its cap. */
  refusedPerAddress: number;
  /** accept failures for lack of descriptors: this process's (EMFILE), the system's (ENFILE). */
  emfile: number;
  enfile: number;
}

export interface TcpGuardCaps {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Sources exempt from the per-address cap (reverse proxies). */
  exempt: readonly Cidr[];
}

export interface FdLimit {
  soft: number;
  hard: number;
  /** The soft limit before it was raised to the hard one. */
  before: number;
}

/** Verdicts of ConnTable.admit, as the C code returns them. */
export const enum Admit {
  Admitted = 0,
  OverTotal = 1,
  OverPerAddress = 2,
  NoMemory = 3,
}

/** The guard's bookkeeping alone (conn_table.c), for tests. Addresses are 16 bytes in the IPv6 space. */
export interface ConnTable {
  admit(fd: number, address: Uint8Array | null): Admit;
  release(fd: number): void;
  count(address: Uint8Array): number;
  stats(): { open: number; addresses: number };
}

interface NativeTcpGuard {
  abiVersion: number;
  raiseFdLimit(): FdLimit;
  hook(modulePath: string): void;
  configure(maxTotal: number, maxPerAddress: number, rules: Uint8Array): void;
  stats(): TcpGuardStats & { hooked: number };
  ConnTable: new (maxTotal: number, maxPerAddress: number, rules: Uint8Array) => ConnTable;
}

const ADDON_ABI = 1;
const requireHere = createRequire(import.meta.url);

let loaded: { addon: NativeTcpGuard } | { error: string } | undefined;

function load(): { addon: NativeTcpGuard } | { error: string } {
  if (loaded) return loaded;
  const result = loadAddon<NativeTcpGuard>({ dir: 'tcp-guard', target: 'tcp_guard', abi: ADDON_ABI });
  loaded = 'error' in result ? { error: result.path ? `cannot load ${result.path}: ${result.error}` : result.error } : { addon: result.module };
  return loaded;
}

function addonOrThrow(): NativeTcpGuard {
  const result = load();
  if ('error' in result) throw new Error(result.error);
  return result.addon;
}

/** The native module uWebSockets.js loads (its src/uws.js picks it by platform, arch and Node ABI). */
export function uwsNativeModulePath(): string {
  const entry = requireHere.resolve('uWebSockets.js');
  const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return path.join(path.dirname(entry), '..', 'binaries', file);
}

/**
 * Raises the soft RLIMIT_NOFILE to the hard limit (Node does this at
 * start-up too) and returns the limits; without the addon, reads them from
 * /proc/self/limits. Undefined when neither works.
 */
export function raiseFdLimit(): FdLimit | undefined {
  const result = load();
  if ('addon' in result) return result.addon.raiseFdLimit();
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line?.slice('Max open files'.length).trim().split(/\s+/) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    if (soft === undefined || hard === undefined || Number.isNaN(soft) || Number.isNaN(hard)) return undefined;
    return { soft, hard, before: soft };
  } catch {
    return undefined;
  }
}

/** 17 bytes per rule: the network in the IPv6 space, then the prefix length. */
function encodeRules(rules: readonly Cidr[]): Uint8Array {
  const out = new Uint8Array(rules.length * 17);
  rules.forEach((rule, i) => {
    out.set(rule.network, i * 17);
    out[i * 17 + 16] = rule.prefix;
  });
  return out;
}

export class TcpGuard {
  private constructor(private readonly addon: NativeTcpGuard) {}

  /**
   * Sets the caps and patches uWebSockets.js's native module (once per
   * process). Throws an Error saying why the guard cannot run: the addon is
   * missing, uWebSockets.js runs its JavaScript fallback, or its build does
   * not call accept4/close the way this one expects.
   */
  static install(caps: TcpGuardCaps): TcpGuard {
    const addon = addonOrThrow();
    const guard = new TcpGuard(addon);
    guard.configure(caps); // caps first: the hook must never run without them
    requireHere('uWebSockets.js'); // loaded already by the TCP server; the hook needs it in memory
    try {
      addon.hook(uwsNativeModulePath());
    } catch (error) {
      throw new Error(`cannot hook uWebSockets.js's native module ${(error as Error).message}`);
    }
    return guard;
  }

  configure(caps: TcpGuardCaps): void {
    this.addon.configure(caps.maxConnections, caps.maxConnectionsPerAddress, encodeRules(caps.exempt));
  }

  stats(): TcpGuardStats {
    return this.addon.stats();
  }
}

/** A fresh ConnTable (tests of the bookkeeping rules); throws if the addon is not available. */
export function createConnTable(maxTotal: number, maxPerAddress: number, exempt: readonly Cidr[] = []): ConnTable {
  return new (addonOrThrow().ConnTable)(maxTotal, maxPerAddress, encodeRules(exempt));
}

/** Why the addon cannot be used here, or undefined when it can. */
export function tcpGuardUnavailable(): string | undefined {
  const result = load();
  return 'error' in result ? result.error : undefined;
}
