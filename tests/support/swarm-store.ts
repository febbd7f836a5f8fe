/**
 * Test support for the swarm store: an injectable clock, endpoint builders and
 * announce helpers. (Seeded randomness is in seeded-random.ts.)
 */
import { AnnounceEvent } from '../../lib/tracker/events.js';
import type { AnnounceReply, AnnounceRequest } from '../../lib/tracker/announce.js';
import type { SwarmReply } from '../../lib/tracker/swarm.js';
import { SwarmStore, type StoreConfig, type StoreOptions } from '../../services/swarm/store/swarm-store.js';

export const CONFIG: StoreConfig = {
  intervalSeconds: 1800,
  minIntervalSeconds: 900,
  intervalJitterSeconds: 0,
  numwantDefault: 50,
  numwantMax: 200,
  peerTimeoutSeconds: 3600,
  // Limits out of the way unless a test sets them.
  maxTorrents: 1e9,
  maxPeers: 1e9,
  maxPeersPerAddressPerTorrent: 1e9,
  maxPeersPerAddressPerReply: 1e9,
};

export interface TestClock {
  t: number;
  now: () => number;
}

export function clock(start = 1_000_000): TestClock {
  const c: TestClock = { t: start, now: () => c.t };
  return c;
}

export function makeStore(config: Partial<StoreConfig> = {}, options: StoreOptions = {}): SwarmStore {
  return new SwarmStore({ ...CONFIG, ...config }, options);
}

/** A distinct 20-byte info-hash (latin1 string) per integer. */
export function hash(n: number): string {
  let s = String.fromCharCode((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  for (let i = 4; i < 20; i++) s += String.fromCharCode((i * 37 + n * 11) & 0xff);
  return s;
}

/** IPv4 endpoint 10.x.y.z:port from an integer. */
export function v4(n: number, port = 6881): Uint8Array {
  return Uint8Array.of(10, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, port >>> 8, port & 0xff);
}

/** IPv6 endpoint 2001:db8:nnnn:nnnn::1:port: distinct n are distinct /64s (the store's unit of "one address"). */
export function v6(n: number, port = 6881): Uint8Array {
  const b = new Uint8Array(18);
  b[0] = 0x20;
  b[1] = 0x01;
  b[2] = 0x0d;
  b[3] = 0xb8;
  b[4] = (n >>> 24) & 0xff;
  b[5] = (n >>> 16) & 0xff;
  b[6] = (n >>> 8) & 0xff;
  b[7] = n & 0xff;
  b[15] = 1;
  b[16] = port >>> 8;
  b[17] = port & 0xff;
  return b;
}

export interface AnnounceOpts {
  left?: number;
  event?: AnnounceEvent;
  numwant?: number;
  peerId?: string;
}

export function req(infoHash: string, endpoint: Uint8Array, o: AnnounceOpts = {}): AnnounceRequest {
  return {
    type: 'announce',
    infoHash,
    peerId: o.peerId ?? '-TS0001-000000000000',
    endpoint,
    event: o.event ?? AnnounceEvent.None,
    left: o.left ?? 100,
    numwant: o.numwant ?? 0,
  };
}

export function asAnnounce(r: SwarmReply | undefined): AnnounceReply {
  if (!r || r.type !== 'announce') throw new Error(`expected an announce reply, got ${JSON.stringify(r)}`);
  return r;
}

export function announce(store: SwarmStore, infoHash: string, endpoint: Uint8Array, o: AnnounceOpts = {}): AnnounceReply {
  return asAnnounce(store.handle([req(infoHash, endpoint, o)])[0]);
}

/** Splits a compact peer list into hex strings, one per endpoint. */
export function split(peers: Uint8Array, width: number): string[] {
  const out: string[] = [];
  for (let o = 0; o < peers.length; o += width) out.push(Buffer.from(peers.subarray(o, o + width)).toString('hex'));
  return out;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
