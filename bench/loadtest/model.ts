/**
 * The load model (BENCHMARKS.md "Load model"), free of I/O so it can be unit
 * tested and mirrored exactly by the C generator (udpgen.c).
 *
 * - Torrents: a fixed set of `torrents` info-hashes derived from the seed
 *   (torrent i's hash = 5 big-endian words mix3(seed, i, 0..4); word 0 is a
 *   bijection of i, so hashes are distinct).
 * - Popularity: Zipf(s) over the torrent index by default (s = 1.0: torrent 0
 *   is the hottest; with 10,000 torrents it draws ~10% of announces, the top
 *   100 ~53%, and the tail is long). Sampled exactly from the cumulative
 *   distribution with a binary search. Alternative: `gamma` draws
 *   g ~ Gamma(0.2, 100) and maps it to floor(max(0, (min(g, 101) - 1) / 100)
 *   * (torrents - 1)), the mapping used by aquatic's load testers (much
 *   hotter head: ~43% of draws land on torrent 0).
 * - Mix: announce : scrape = `announcesPerScrape` : 1 (0 = no scrapes); a
 *   scrape draws 1..`scrapeMaxHashes` hashes (count uniform), each from the
 *   same popularity distribution, and sends the distinct ones (a real client
 *   never repeats a hash; some trackers echo duplicates into a bencoded
 *   dictionary with duplicate keys).
 * - Peers: a fixed pool of `sources` client addresses x `portsPerSource`
 *   ports, the peer id a fixed function of (address, port), so one (address,
 *   port) is always the same peer. The default pool is 16,384 addresses x 2
 *   ports: like the Internet's peers, one address holds one or two peers of
 *   a swarm, never hundreds (a tracker that indexes or limits peers per
 *   address sees what it would see in production). Source s is the address
 *   `firstAddress` + s, all in 127.0.0.0/8 (every one of them is local on
 *   Linux, so traffic stays on loopback); the default starts at 127.1.0.1,
 *   away from the 127.0.0.1 the trackers listen on.
 * - Who sends from which address: `flowSources` gives each flow (a UDP
 *   socket or an HTTP connection slot, numbered over all workers) its own
 *   share of the addresses. A UDP flow sends each request from its next
 *   address in turn (round robin), with that address's connection id (a
 *   connection id is bound to the client address); an HTTP slot moves to its
 *   next address with every new connection; WebSocket connection c comes from
 *   address c mod sources (one each, with the default pool). The announced port is drawn
 *   uniformly from the address's ports. Each announce is a seeder (left = 0)
 *   with probability `seederShare`, a leecher otherwise; event is "none"
 *   (0), numwant `numwant`.
 */
import { mix3, type Sfc32 } from './rng.js';

export type Popularity = 'zipf' | 'gamma';

export interface LoadModelOptions {
  readonly seed: number;
  readonly torrents: number;
  readonly popularity: Popularity;
  readonly zipfExponent: number;
  readonly gammaShape: number;
  readonly gammaScale: number;
  /** announce : scrape = announcesPerScrape : 1; 0 disables scrapes. */
  readonly announcesPerScrape: number;
  readonly scrapeMaxHashes: number;
  readonly seederShare: number;
  readonly numwant: number;
  /** Number of client (source) addresses in the peer pool. */
  readonly sources: number;
  /** Address of source 0, a dotted quad in 127.0.0.0/8; source s is this address + s. */
  readonly firstAddress: string;
  /** Announced ports per address. */
  readonly portsPerSource: number;
  readonly firstPort: number;
}

export const DEFAULT_MODEL: LoadModelOptions = Object.freeze({
  seed: 1,
  torrents: 10_000,
  popularity: 'zipf',
  zipfExponent: 1.0,
  gammaShape: 0.2,
  gammaScale: 100,
  announcesPerScrape: 100,
  scrapeMaxHashes: 10,
  seederShare: 0.5,
  numwant: 50,
  sources: 16_384,
  firstAddress: '127.1.0.1',
  portsPerSource: 2,
  firstPort: 10_000,
});

export function validateModel(m: LoadModelOptions): string | null {
  if (!Number.isInteger(m.seed) || m.seed < 0 || m.seed > 0xffff_ffff) return 'seed must be an integer 0..2^32-1';
  if (!Number.isInteger(m.torrents) || m.torrents < 1 || m.torrents > 50_000_000) return 'torrents must be 1..5e7';
  if (m.popularity !== 'zipf' && m.popularity !== 'gamma') return 'popularity must be zipf or gamma';
  if (!(m.zipfExponent >= 0) || m.zipfExponent > 10) return 'zipf exponent must be 0..10';
  if (!(m.gammaShape > 0) || !(m.gammaScale > 0)) return 'gamma shape and scale must be > 0';
  if (!(m.announcesPerScrape >= 0)) return 'announces per scrape must be >= 0';
  if (!Number.isInteger(m.scrapeMaxHashes) || m.scrapeMaxHashes < 1 || m.scrapeMaxHashes > 74) {
    return 'scrape hashes must be 1..74';
  }
  if (!(m.seederShare >= 0 && m.seederShare <= 1)) return 'seeder share must be 0..1';
  if (!Number.isInteger(m.numwant) || m.numwant < -1 || m.numwant > 1000) return 'numwant must be -1..1000';
  if (!Number.isInteger(m.sources) || m.sources < 1 || m.sources > MAX_SOURCES) return `sources must be 1..${MAX_SOURCES}`;
  const first = parseLoopbackV4(m.firstAddress);
  if (first === null) return 'the first source address must be a dotted quad in 127.0.0.0/8';
  if (first + m.sources - 1 > LAST_LOOPBACK) return 'source addresses must stay within 127.0.0.0/8 (below 127.255.255.255)';
  if (!Number.isInteger(m.portsPerSource) || m.portsPerSource < 1) return 'ports per source must be >= 1';
  if (m.sources * m.portsPerSource > MAX_POOL) return `the peer pool (sources x ports per source) must be at most ${MAX_POOL}`;
  if (!Number.isInteger(m.firstPort) || m.firstPort < 1 || m.firstPort + m.portsPerSource - 1 > 65535) {
    return 'announced ports must stay within 1..65535';
  }
  return null;
}

// ---------------------------------------------------------------- identifiers

function wordToLatin1(w: number): string {
  return String.fromCharCode(w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff);
}

/** Info-hash of torrent `index` as a 20-char latin1 string. */
export function torrentHash(seed: number, index: number): string {
  let s = '';
  for (let j = 0; j < 5; j++) s += wordToLatin1(mix3(seed, index, j));
  return s;
}

/** Info-hash of torrent `index` as 40 lower-case hex chars (whitelists, logs). */
export function torrentHashHex(seed: number, index: number): string {
  let s = '';
  for (let j = 0; j < 5; j++) s += mix3(seed, index, j).toString(16).padStart(8, '0');
  return s;
}

const PEER_ID_PREFIX = '-LG0001-';
const HEX = '0123456789abcdef';
/** Stream constant separating peer-id words from torrent-hash words. */
const PEER_SALT = 0x5eed_9ee2;

/** Peer id of pool entry (source, portIndex): "-LG0001-" + 12 lower-case hex chars. Printable. */
export function peerId(seed: number, source: number, portIndex: number, portsPerSource: number): string {
  const n = source * portsPerSource + portIndex;
  const a = mix3(seed ^ PEER_SALT, n, 0);
  const b = mix3(seed ^ PEER_SALT, n, 1);
  let s = PEER_ID_PREFIX;
  for (let i = 28; i >= 0; i -= 4) s += HEX[(a >>> i) & 15];
  for (let i = 28; i >= 16; i -= 4) s += HEX[(b >>> i) & 15];
  return s;
}

/** The BEP 15 / HTTP "key" of a pool peer (stable per peer). */
export function peerKey(seed: number, source: number, portIndex: number, portsPerSource: number): number {
  return mix3(seed ^ PEER_SALT, source * portsPerSource + portIndex, 2);
}

/** 127.255.255.255 is the loopback network's broadcast address: the last source must stay below it. */
const LAST_LOOPBACK = 0x7fff_fffe;
/** Most source addresses (each UDP flow keeps a connection id per address it sends from). */
export const MAX_SOURCES = 1 << 20;
/** Most peers in the pool (peer ids are cached per peer). */
export const MAX_POOL = 1 << 24;

/** A dotted quad in 127.0.0.0/8 as a uint32, or null. */
export function parseLoopbackV4(text: string): number | null {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return null;
  const [b, c, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (b > 255 || c > 255 || d > 255) return null;
  return ((127 << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** Dotted quad of source `source`: the model's first address + source. */
export function sourceAddress(m: LoadModelOptions, source: number): string {
  const a = ((parseLoopbackV4(m.firstAddress) ?? 0) + source) >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** The peer pool in words, for benchmark reports ("16,384 client addresses x 2 ports (...): ..."). */
export function describePeerPool(m: LoadModelOptions): string {
  const plural = (n: number, what: string): string => `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : what.endsWith('s') ? 'es' : 's'}`;
  return (
    `${plural(m.sources, 'client address')} x ${plural(m.portsPerSource, 'port')} ` +
    `(${sourceAddress(m, 0)}-${sourceAddress(m, m.sources - 1)}, ports ${m.firstPort}+): one address holds at most ` +
    `${plural(m.portsPerSource, 'peer')} of a swarm, as on the Internet (before 2026-12-02 the model had 8 addresses x 4096 ports: ` +
    'figures from it are not comparable)'
  );
}

/** The source addresses of one flow: first, first + step, ... (`count` of them). */
export interface FlowSources {
  readonly first: number;
  readonly step: number;
  readonly count: number;
}

/**
 * The addresses flow `k` of `flows` (UDP sockets or HTTP connection slots,
 * numbered over all workers) sends from: sources k, k + flows, k + 2 flows,
 * ... below `sources`, so with at least as many addresses as flows every
 * address belongs to exactly one flow (16,384 addresses over 64 flows: 256
 * each). With fewer addresses than flows, flow k uses address k mod sources
 * alone, shared with other flows. udpgen.c's flow_sources is the same rule.
 */
export function flowSources(sources: number, flows: number, k: number): FlowSources {
  if (sources <= flows) return { first: k % sources, step: flows, count: 1 };
  return { first: k, step: flows, count: Math.floor((sources - 1 - k) / flows) + 1 };
}

// ---------------------------------------------------------------- popularity

export interface PopularitySampler {
  /** A torrent index in [0, torrents). */
  sample(rng: Sfc32): number;
}

/**
 * Zipf(s) over ranks 1..n, exact inverse-CDF sampling. `cdf[k]` holds the
 * unnormalised cumulative weight of ranks 1..k+1 summed in increasing order
 * (the C generator sums in the same order, so both pick the same index for
 * the same uniform draw).
 */
export class ZipfSampler implements PopularitySampler {
  readonly cdf: Float64Array;
  readonly total: number;

  constructor(n: number, s: number) {
    const cdf = new Float64Array(n);
    let acc = 0;
    for (let k = 0; k < n; k++) {
      acc += s === 1 ? 1 / (k + 1) : Math.pow(k + 1, -s);
      cdf[k] = acc;
    }
    this.cdf = cdf;
    this.total = acc;
  }

  /** Smallest k with cdf[k] > u * total. */
  indexFor(u: number): number {
    const target = u * this.total;
    const cdf = this.cdf;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  sample(rng: Sfc32): number {
    return this.indexFor(rng.next());
  }

  /** Probability of index k (for tests and docs). */
  probability(k: number): number {
    return (this.cdf[k] - (k > 0 ? this.cdf[k - 1] : 0)) / this.total;
  }
}

/** Gamma(shape, scale) mapped onto the index range (see the file comment). */
export class GammaSampler implements PopularitySampler {
  constructor(
    readonly n: number,
    readonly shape: number,
    readonly scale: number,
  ) {}

  indexFor(g: number): number {
    const p = (Math.min(g, 101) - 1) / 100;
    if (!(p > 0)) return 0;
    const i = Math.floor(p * (this.n - 1));
    return i < this.n ? i : this.n - 1;
  }

  sample(rng: Sfc32): number {
    return this.indexFor(rng.gamma(this.shape, this.scale));
  }
}

export function createSampler(m: LoadModelOptions): PopularitySampler {
  return m.popularity === 'gamma'
    ? new GammaSampler(m.torrents, m.gammaShape, m.gammaScale)
    : new ZipfSampler(m.torrents, m.zipfExponent);
}

// ---------------------------------------------------------------- requests

/**
 * One planned request, filled in place by `LoadModel.plan` (no allocation per
 * request). For an announce: `torrent`, `portIndex`, `seeder`. For a scrape:
 * the first `scrapeCount` entries of `scrapeTorrents`.
 */
export interface PlannedRequest {
  kind: 'announce' | 'scrape';
  torrent: number;
  portIndex: number;
  seeder: boolean;
  scrapeCount: number;
  readonly scrapeTorrents: Int32Array;
}

export function newPlannedRequest(): PlannedRequest {
  return { kind: 'announce', torrent: 0, portIndex: 0, seeder: false, scrapeCount: 0, scrapeTorrents: new Int32Array(74) };
}

/** Bytes "left" announced by leechers (any non-zero value; seeders announce 0). */
export const LEECHER_LEFT = 1_000_000_000;

/**
 * The model with its precomputed tables. Hash strings are built lazily and
 * cached (a 1,000,000-torrent set costs ~50 MB of strings only if all are
 * touched).
 */
export class LoadModel {
  readonly options: LoadModelOptions;
  readonly sampler: PopularitySampler;
  private readonly scrapeThreshold: number;
  private readonly hashes: (string | undefined)[];
  private readonly peerIds: (string | undefined)[];

  constructor(options: LoadModelOptions) {
    const err = validateModel(options);
    if (err) throw new RangeError(err);
    this.options = options;
    this.sampler = createSampler(options);
    this.scrapeThreshold = options.announcesPerScrape > 0 ? 1 / (options.announcesPerScrape + 1) : 0;
    this.hashes = new Array(options.torrents);
    this.peerIds = new Array(options.sources * options.portsPerSource);
  }

  /** Fill `out` with the next request of a flow (rng: its stream). Draw order: kind, then fields. */
  plan(rng: Sfc32, out: PlannedRequest): PlannedRequest {
    const m = this.options;
    if (rng.next() < this.scrapeThreshold) {
      out.kind = 'scrape';
      const n = 1 + rng.below(m.scrapeMaxHashes);
      const ts = out.scrapeTorrents;
      let count = 0;
      for (let i = 0; i < n; i++) {
        const t = this.sampler.sample(rng);
        let dup = false;
        for (let j = 0; j < count; j++) if (ts[j] === t) dup = true;
        if (!dup) ts[count++] = t;
      }
      out.scrapeCount = count;
    } else {
      out.kind = 'announce';
      out.torrent = this.sampler.sample(rng);
      out.portIndex = rng.below(m.portsPerSource);
      out.seeder = rng.next() < m.seederShare;
    }
    return out;
  }

  hash(index: number): string {
    let h = this.hashes[index];
    if (h === undefined) {
      h = torrentHash(this.options.seed, index);
      this.hashes[index] = h;
    }
    return h;
  }

  peerId(source: number, portIndex: number): string {
    const n = source * this.options.portsPerSource + portIndex;
    let id = this.peerIds[n];
    if (id === undefined) {
      id = peerId(this.options.seed, source, portIndex, this.options.portsPerSource);
      this.peerIds[n] = id;
    }
    return id;
  }

  peerKey(source: number, portIndex: number): number {
    return peerKey(this.options.seed, source, portIndex, this.options.portsPerSource);
  }

  port(portIndex: number): number {
    return this.options.firstPort + portIndex;
  }

  /** All hashes as hex lines (an opentracker whitelist). */
  whitelist(): string {
    const lines = new Array<string>(this.options.torrents);
    for (let i = 0; i < lines.length; i++) lines[i] = torrentHashHex(this.options.seed, i);
    return lines.join('\n') + '\n';
  }
}
