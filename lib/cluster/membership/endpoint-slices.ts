/**
 * EndpointSlices (discovery.k8s.io/v1) -> membership. Pure, no I/O.
 *
 * Condition semantics follow the API reference for EndpointConditions:
 *  - ready:       nil means "unknown, interpret as ready".
 *  - serving:     nil means "defer to ready".
 *  - terminating: nil means "not terminating".
 * and the EndpointSlice controller sets, for pods,
 *   serving = pod Ready, terminating = deletionTimestamp set,
 *   ready = publishNotReadyAddresses || (serving && !terminating).
 *
 * Rules (per endpoint copy):
 *  - routable  = ready && serving && !terminating. For a normal Service this
 *    is exactly "ready is true (or nil)". Also requiring serving && !terminating
 *    keeps the intended meaning when the Service sets publishNotReadyAddresses
 *    (common on StatefulSet headless Services), where `ready` is always true.
 *  - draining  = serving && terminating: a terminating pod that still serves
 *    (its handoff may be running). Terminating and not serving: dropped.
 *  - anything else (ready=false, serving=false): dropped.
 *
 * Identity: targetRef.name (the pod name), falling back to hostname (the pod
 * name for StatefulSet pods behind a headless Service); an endpoint with
 * neither is skipped. The gRPC port comes from the slice's port with
 * `portName` ('' matches an unnamed port); a slice without it is skipped.
 * The address is addresses[0] (the API says all addresses are fungible).
 *
 * Dedupe: a pod can appear in several slices (the controller moves endpoints
 * between slices; dual-stack Services have an IPv4 and an IPv6 slice).
 * Copies are merged by pod name: if any copy says terminating, the pod is
 * terminating (terminating never reverts) and drains if a terminating copy
 * is serving; otherwise it is a member if any copy is routable. Its address is
 * taken from a qualifying copy, preferring IPv4, then IPv6, then FQDN, then the
 * smallest address string, so the result never depends on slice order.
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { joinHostPort, sortMembers, type Member } from './types.js';

export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';

export interface EndpointSliceRules {
  /** Name of the gRPC port in the slices ('' = the unnamed port). */
  portName: string;
  /** Only use slices of this address type (dual-stack). Default: all, IPv4 preferred. */
  addressType?: AddressType;
}

export interface EndpointSliceMembership {
  members: readonly Member[];
  draining: readonly Member[];
  /** Human-readable reasons for skipped slices/endpoints (for debug logs). */
  skipped: string[];
}

interface Copy {
  address: string;
  rank: number;
  routable: boolean;
  serving: boolean;
  terminating: boolean;
}

const TYPE_RANK: Record<string, number> = { IPv4: 0, IPv6: 1, FQDN: 2 };

function better(a: Copy, b: Copy): Copy {
  if (a.rank !== b.rank) return a.rank < b.rank ? a : b;
  return a.address <= b.address ? a : b;
}

function pick(copies: readonly Copy[], ok: (c: Copy) => boolean): Copy | undefined {
  let best: Copy | undefined;
  for (const c of copies) if (ok(c)) best = best === undefined ? c : better(best, c);
  return best;
}

export function membershipFromEndpointSlices(slices: readonly V1EndpointSlice[], rules: EndpointSliceRules): EndpointSliceMembership {
  const skipped: string[] = [];
  const byPod = new Map<string, Copy[]>();
  for (const slice of slices) {
    const sliceName = slice.metadata?.name ?? '?';
    const type = slice.addressType;
    if (rules.addressType !== undefined && type !== rules.addressType) continue;
    const port = slice.ports?.find((p) => (p.name ?? '') === rules.portName)?.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      skipped.push(`slice ${sliceName}: no port named ${JSON.stringify(rules.portName)}`);
      continue;
    }
    const rank = TYPE_RANK[type] ?? 3;
    for (const ep of slice.endpoints ?? []) {
      const name = ep.targetRef?.name || ep.hostname;
      const host = ep.addresses?.[0];
      if (!name) {
        skipped.push(`slice ${sliceName}: endpoint ${host ?? '?'} has neither targetRef.name nor hostname`);
        continue;
      }
      if (!host) {
        skipped.push(`slice ${sliceName}: endpoint ${name} has no address`);
        continue;
      }
      const c = ep.conditions ?? {};
      const ready = c.ready !== false;
      const serving = c.serving ?? ready;
      const terminating = c.terminating === true;
      const copy: Copy = { address: joinHostPort(host, port), rank, routable: ready && serving && !terminating, serving, terminating };
      const list = byPod.get(name);
      if (list === undefined) byPod.set(name, [copy]);
      else list.push(copy);
    }
  }

  const members: Member[] = [];
  const draining: Member[] = [];
  for (const [name, copies] of byPod) {
    if (copies.some((c) => c.terminating)) {
      const d = pick(copies, (c) => c.terminating && c.serving);
      if (d !== undefined) draining.push({ name, address: d.address });
    } else {
      const r = pick(copies, (c) => c.routable);
      if (r !== undefined) members.push({ name, address: r.address });
    }
  }
  return { members: sortMembers(members), draining: sortMembers(draining), skipped };
}
