/**
 * Runtime configuration: the schema.
 *
 * SCHEMA below defines every key exactly once (type, default, bounds or allowed
 * values, one-line doc). Everything else is derived from it: here the `Config`
 * type, the defaults, each value's validation and the checks between keys;
 * in config-loader.ts, which reads YAML files, the environment and flags, the
 * environment-variable and flag names, `--help` text and the commented YAML.
 */
import { existsSync } from 'node:fs';
import { parseCidrList } from './cidr.js';
import { parseMemberList } from '../cluster/membership/static.js';

// ---------------------------------------------------------------------------
// Field descriptors

export type Coerced<T> = { ok: true; value: T } | { ok: false; detail?: string };

export class Field<T> {
  constructor(
    readonly kind: 'string' | 'integer' | 'boolean' | 'enum' | 'list',
    readonly defaultValue: T,
    readonly doc: string,
    /** What is allowed, phrased to follow "must be": "an integer between 1 and 1000". */
    readonly allowed: string,
    /** raw is a string (env, flag) or any YAML value. */
    readonly coerce: (raw: unknown) => Coerced<T>,
    readonly secret = false,
  ) {}
}

function integer(defaultValue: number, min: number, max: number, doc: string): Field<number> {
  const allowed = `an integer between ${min} and ${max}`;
  return new Field<number>('integer', defaultValue, doc, allowed, (raw) => {
    let n: number;
    if (typeof raw === 'number') n = raw;
    else if (typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw)) n = Number(raw);
    else return { ok: false };
    if (!Number.isSafeInteger(n) || n < min || n > max) return { ok: false };
    return { ok: true, value: n };
  });
}

export const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
export const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

function boolean(defaultValue: boolean, doc: string): Field<boolean> {
  return new Field<boolean>('boolean', defaultValue, doc, 'true or false', (raw) => {
    if (typeof raw === 'boolean') return { ok: true, value: raw };
    if (typeof raw === 'string') {
      const word = raw.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (FALSE_WORDS.has(word)) return { ok: true, value: false };
    }
    return { ok: false };
  });
}

function oneOf<const V extends readonly [string, ...string[]]>(values: V, defaultValue: V[number], doc: string): Field<V[number]> {
  const allowed = `one of ${values.map((v) => `"${v}"`).join(', ')}`;
  return new Field<V[number]>('enum', defaultValue, doc, allowed, (raw) => {
    if (typeof raw !== 'string') return { ok: false };
    const value = raw.trim();
    return (values as readonly string[]).includes(value) ? { ok: true, value: value as V[number] } : { ok: false };
  });
}

interface TextOptions {
  allowed?: string;
  /** Applied before `check`; the normalized value is what the config holds. */
  normalize?: (value: string) => string;
  /** Returns a reason when the value is not acceptable. */
  check?: (value: string) => string | undefined;
  secret?: boolean;
}

function text(defaultValue: string, doc: string, options: TextOptions = {}): Field<string> {
  return new Field<string>(
    'string',
    defaultValue,
    doc,
    options.allowed ?? 'a string',
    (raw) => {
      if (typeof raw !== 'string') {
        if (typeof raw === 'number' || typeof raw === 'boolean') return { ok: false, detail: 'quote it in YAML' };
        if (raw === null) return { ok: false, detail: 'write "" for an empty value' };
        return { ok: false };
      }
      const value = options.normalize ? options.normalize(raw) : raw;
      const problem = options.check?.(value);
      return problem === undefined ? { ok: true, value } : { ok: false, detail: problem };
    },
    options.secret ?? false,
  );
}

function list(defaultValue: string[], doc: string, allowed: string, check?: (items: string[]) => string | undefined): Field<string[]> {
  return new Field<string[]>('list', defaultValue, doc, allowed, (raw) => {
    let items: string[];
    if (typeof raw === 'string') items = raw.split(',');
    else if (Array.isArray(raw) && raw.every((item) => typeof item === 'string')) items = raw as string[];
    else if (raw === null) items = [];
    else return { ok: false };
    items = items.map((item) => item.trim()).filter((item) => item !== '');
    const problem = check?.(items);
    return problem === undefined ? { ok: true, value: items } : { ok: false, detail: problem };
  });
}

// Value checks -------------------------------------------------------------

function checkHost(value: string): string | undefined {
  if (value.trim() === '') return 'it is empty';
  if (/\s/.test(value)) return 'it contains whitespace';
  if (value.startsWith('[')) return 'write IPv6 addresses without brackets';
  return undefined;
}

function checkHexKey(value: string): string | undefined {
  if (value === '') return undefined;
  if (!/^[0-9a-fA-F]*$/.test(value)) return 'it contains characters other than 0-9 and a-f';
  if (value.length % 2 !== 0) return `it has an odd number of hex digits (${value.length})`;
  if (value.length < 32 || value.length > 128) return `it has ${value.length} hex digits`;
  return undefined;
}

function checkMemberList(value: string): string | undefined {
  if (value.trim() === '') return undefined;
  try {
    parseMemberList(value);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function checkNodeName(value: string): string | undefined {
  if (value === '') return undefined;
  return /^[A-Za-z0-9._-]{1,253}$/.test(value) ? undefined : 'it must be 1-253 letters, digits, ".", "-" or "_"';
}

function checkReadableFile(value: string): string | undefined {
  if (value === '') return undefined;
  return existsSync(value) ? undefined : 'no such file';
}

function checkAuthToken(value: string): string | undefined {
  if (value === '' || value.length >= 32) return undefined;
  return `it has ${value.length} characters; use e.g. \`openssl rand -hex 32\``;
}

function checkCertificateName(value: string): string | undefined {
  return /\s/.test(value) ? 'it contains whitespace' : undefined;
}

function checkHeaderName(value: string): string | undefined {
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(value)) return 'it is not a valid HTTP header name';
  return undefined;
}

/** Redis URLs for snapshot.redisUrl; never echoes an item, as it may carry a password. */
function checkRedisUrls(value: string): string | undefined {
  const items = splitRedisUrls(value);
  let first: URL | undefined;
  for (let i = 0; i < items.length; i++) {
    const which = items.length === 1 ? 'the URL' : `URL ${i + 1}`;
    let url: URL;
    try {
      url = new URL(items[i]);
    } catch {
      return `${which} is not a URL; write redis://[user:password@]host:port[/db] (rediss:// for TLS)`;
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return `${which} must start with redis:// or rediss://`;
    if (url.hostname === '') return `${which} has no host`;
    if (!/^\/?\d*$/.test(url.pathname)) return `${which} has a path other than a database number`;
    first ??= url;
    if (url.protocol !== first.protocol || url.username !== first.username || url.password !== first.password) {
      return `${which} differs from URL 1 in scheme, user or password; every node must be reached the same way`;
    }
  }
  return undefined;
}

/** The comma-separated items of snapshot.redisUrl. */
export function splitRedisUrls(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** database.url; never echoes the value, as it carries a password. */
function checkMysqlUrl(value: string): string | undefined {
  if (value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'it is not a URL; write mysql://user:password@host:port/database';
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') return 'it must start with mysql:// (or mariadb://)';
  if (url.hostname === '') return 'it has no host';
  if (!/^\/[^/]+$/.test(url.pathname)) return 'it must name the database: mysql://user:password@host:port/database';
  return undefined;
}

function checkCidrs(items: string[]): string | undefined {
  try {
    parseCidrList(items);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The request hooks an edge can run (services/edge/hooks/), by their name in hooks.order. */
export const HOOK_NAMES = ['torrentApproval', 'clientApproval', 'jwt', 'intervalVariation', 'announceRate', 'sameSubnet'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

function checkHookOrder(items: string[]): string | undefined {
  const seen = new Set<string>();
  for (const item of items) {
    if (!(HOOK_NAMES as readonly string[]).includes(item)) return `unknown hook "${item}"; hooks are ${HOOK_NAMES.join(', ')}`;
    if (seen.has(item)) return `hook "${item}" is listed twice`;
    seen.add(item);
  }
  return undefined;
}

function checkPeerIdPrefixes(items: string[]): string | undefined {
  for (const item of items) {
    if (item.length > 20 || /[^\x00-\xff]/.test(item)) return `prefix ${JSON.stringify(item)} is not 1-20 one-byte characters`;
  }
  return undefined;
}

function checkJwtAlgorithms(items: string[]): string | undefined {
  for (const item of items) if (item !== 'RS256' && item !== 'ES256' && item !== 'EdDSA') return `algorithm "${item}" is not one of RS256, ES256, EdDSA`;
  return items.length === 0 ? 'it is empty' : undefined;
}

function checkHttpUrl(value: string): string | undefined {
  if (value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'it is not a URL';
  }
  return url.protocol === 'https:' || url.protocol === 'http:' ? undefined : 'it must start with https:// or http://';
}

function checkParameterName(value: string): string | undefined {
  return /^[A-Za-z0-9._~-]{1,64}$/.test(value) ? undefined : 'it must be 1-64 letters, digits, ".", "_", "~" or "-"';
}

// ---------------------------------------------------------------------------
// The schema: every key, once.

const MiB = 1024 * 1024;

const SCHEMA = {
  host: text('::', 'Address for UDP, HTTP and WebSocket; "::" listens on IPv6 and IPv4 (dual-stack).', {
    allowed: 'a host name or IP address',
    check: checkHost,
  }),
  port: integer(6969, 0, 65535, 'Port for UDP and TCP (HTTP and WebSocket share it); 0 picks a free port.'),
  udp: {
    enabled: boolean(true, 'Serve the UDP tracker protocol (BEP 15).'),
    connectionIdKey: text(
      '',
      'Key for UDP connection ids, hex; the same on every edge. "" = random per process (fine for one process only).',
      {
        allowed: 'empty or an even number (32 to 128) of hex digits',
        normalize: (value) => value.trim(),
        check: checkHexKey,
        secret: true,
      },
    ),
    connectionIdTtlSeconds: integer(120, 1, 3600, 'How long a UDP connection id stays valid (BEP 15 says 2 minutes).'),
    connectionIdSlackSeconds: integer(60, 0, 3600, 'Extra time a connection id is still accepted after it expires.'),
    connectionIdFutureSkewSeconds: integer(5, 0, 300, 'Clock skew tolerated between edges for ids issued "in the future".'),
    maxScrapeHashes: integer(70, 1, 256, 'Most info-hashes answered in one UDP scrape; extra hashes are ignored.'),
    socketBufferBytes: integer(8 * MiB, 0, 1024 * MiB, 'UDP socket send and receive buffer size; 0 keeps the OS default.'),
    batchedIo: oneOf(['auto', 'required', 'off'], 'auto', 'Batched UDP I/O (recvmmsg/sendmmsg, native/udp-batch): auto falls back to node:dgram with a warning; required refuses to start without it; off uses node:dgram.'),
  },
  http: {
    enabled: boolean(true, 'Serve HTTP announce/scrape (BEP 3/23/7/48).'),
    trustedProxies: list(
      [],
      'Proxies (CIDRs or addresses) whose client-address header is believed; [] = use the socket address.',
      'a list of IPv4/IPv6 CIDRs or addresses',
      checkCidrs,
    ),
    clientAddressHeader: text('x-forwarded-for', 'Header carrying the client address when the peer is a trusted proxy.', {
      allowed: 'an HTTP header name',
      normalize: (value) => value.trim().toLowerCase(),
      check: checkHeaderName,
    }),
    maxQueryBytes: integer(4096, 256, 65536, 'Longest accepted request target (path + query) in bytes.'),
    maxScrapeHashes: integer(100, 1, 1000, 'Most info-hashes answered in one HTTP scrape.'),
    maxConnections: integer(100000, 1, 10_000_000, 'Open TCP connections on the tracker port (HTTP and WebSocket); more are reset at once. Capped below the file-descriptor limit.'),
    maxConnectionsPerAddress: integer(1024, 1, 10_000_000, 'Open tracker-port connections from one IPv4 address or IPv6 /64 (trustedProxies exempt); more are reset at once.'),
    connectionGuard: oneOf(
      ['auto', 'required', 'off'],
      'auto',
      'Count and cap tracker-port connections in native code (native/tcp-guard): auto = if it loads (else a warning), required = refuse to start without it, off = no caps and no file-descriptor exhaustion handling.',
    ),
  },
  webtorrent: {
    enabled: boolean(true, 'Serve WebTorrent tracking over WebSocket (ws:// on the TCP port; wss:// behind a TLS proxy).'),
    intervalSeconds: integer(120, 10, 3600, 'Announce interval sent to WebTorrent clients.'),
    peerTimeoutSeconds: integer(300, 10, 86400, 'A WebTorrent peer whose socket stays silent this long is dropped (closed sockets leave at once).'),
    offerTtlSeconds: integer(60, 1, 600, 'How long a relayed offer can be answered.'),
    maxPendingOffers: integer(200000, 100, 10_000_000, 'Offers awaiting an answer, across all sockets (per swarm process); at the bound new offers are not relayed.'),
    maxMessageBytes: integer(64 * 1024, 1024, 16 * MiB, 'Largest WebSocket message accepted; bigger ones close the socket.'),
    maxOffersPerAnnounce: integer(10, 0, 100, 'Offers relayed from one announce; extra offers are ignored.'),
    maxTorrentsPerSocket: integer(256, 1, 100000, 'Peers (torrent + peer_id) one WebSocket may announce; more get a failure reply.'),
    maxScrapeHashes: integer(100, 1, 1000, 'Most info-hashes answered in one WebTorrent scrape.'),
    idleTimeoutSeconds: integer(360, 11, 86400, 'Close a WebSocket that sends no tracker message for this long (pings do not count); longer than intervalSeconds.'),
    maxBackpressureBytes: integer(1 * MiB, 16 * 1024, 256 * MiB, 'Unsent bytes queued for one slow socket before messages to it are dropped and it is closed.'),
    maxPendingOffersPerSocket: integer(1000, 10, 1_000_000, 'Offers from one socket awaiting an answer; past it that socket\'s own oldest are forgotten.'),
    maxTorrents: integer(100_000, 1, 100_000_000, 'WebTorrent torrents held (per swarm process); announces that would add one get a failure.'),
    maxPeers: integer(500_000, 1, 100_000_000, 'WebTorrent peers held (per swarm process); announces that would add one get a failure.'),
    maxSocketsPerAddress: integer(100, 1, 1_000_000, 'Open WebSockets per client address (IPv6: per /64) on one edge; more are refused with HTTP 429.'),
    maxPeersPerAddress: integer(1000, 1, 10_000_000, 'Peers (torrent + peer_id) announced from one client address (IPv6: per /64) on one edge; more get a failure reply.'),
    maxMessagesPerSecond: integer(20, 1, 1_000_000, 'Messages one WebSocket may send per second on average; a socket over its budget is closed (1008).'),
    messageBurst: integer(300, 1, 10_000_000, 'Messages one WebSocket may send at once above maxMessagesPerSecond (e.g. a page opening many torrents).'),
  },
  tls: {
    certFile: text('', 'PEM certificate chain: serve https:// and wss:// directly. "" = plain TCP (terminate TLS at a proxy or ingress).', {
      allowed: 'empty or an existing file',
      check: checkReadableFile,
    }),
    keyFile: text('', 'PEM private key for tls.certFile.', { allowed: 'empty or an existing file', check: checkReadableFile }),
  },
  node: {
    name: text('', 'This process\'s stable name: the edge id of an edge, the member name of a swarm. "" = the host name (a StatefulSet pod\'s name).', {
      allowed: 'a name of letters, digits, dot, dash or underscore',
      check: checkNodeName,
    }),
  },
  cluster: {
    membership: oneOf(['static', 'kubernetes', 'file'], 'static', 'How edges and swarms find the swarms: a static list, the swarm Service\'s EndpointSlices, or a watched file (cluster.membersFile).'),
    members: text('', 'Static swarm list: name=host:port,... (e.g. swarm-0=127.0.0.1:7000,swarm-1=127.0.0.1:7001).', {
      allowed: 'empty or a list name=host:port,...',
      check: checkMemberList,
    }),
    membersFile: text('', 'With cluster.membership=file: a file of name=host:port lines (a trailing "draining" marks one leaving), re-read when it changes.', {
      allowed: 'empty or an existing file',
      check: checkReadableFile,
    }),
    kubernetesNamespace: text('', 'Namespace of the swarm Service; "" = the pod\'s own namespace.', { allowed: 'a Kubernetes namespace' }),
    kubernetesService: text('tracker-swarm', 'Name of the swarm Service whose EndpointSlices list the swarms.', { allowed: 'a Kubernetes Service name' }),
    kubernetesPortName: text('grpc', 'Name of the gRPC port in the swarm Service.', { allowed: 'a port name' }),
    kubeconfig: text('', 'Kubeconfig file for the membership watch; "" = in-cluster service account.', { allowed: 'a file path' }),
    requestTimeoutMs: integer(2000, 50, 60000, 'An edge answers a request with a failure if its swarm has not replied within this long.'),
    maxBatch: integer(256, 1, 10000, 'Requests an edge sends to one swarm in one message at most.'),
    maxMessagesInFlight: integer(64, 1, 10000, 'Messages awaiting replies per swarm; requests arriving meanwhile wait and travel together in the next ones.'),
    maxQueuedRequests: integer(65536, 1, 10_000_000, 'Requests waiting per swarm for a message slot (maxMessagesInFlight), at most; more get a "swarm overloaded" failure at once.'),
    maxMovedHops: integer(3, 0, 16, 'Times an edge sends one request again after swarms answer "moved" (they own other slots than the edge thought); one more is answered unavailable.'),
    movedWaitMs: integer(500, 0, 10000, 'How long a moved request waits for the edge\'s membership to change when nothing else tells it where to go, before it is routed by the edge\'s table again.'),
    handoffDeadlineSeconds: integer(30, 0, 3600, 'Swarm: how long it may take to pull the slots it is about to own before it reports ready, and to hand slots to their next owner after a membership change or on SIGTERM (then inside terminationGracePeriodSeconds); 0 = no handoff (moved peers come back from Redis or with their next announce).'),
    handoffBudgetMs: integer(4, 1, 1000, 'Swarm: longest a handoff export or import step may block the event loop.'),
    authToken: text('', 'Shared secret by which edges prove their identity to swarms (an HMAC per stream; the token never travels); the same on every edge and swarm. "" = none.', {
      allowed: 'empty or at least 32 characters',
      normalize: (value) => value.trim(),
      check: checkAuthToken,
      secret: true,
    }),
    authTokenFile: text('', 'File holding cluster.authToken (e.g. a mounted Kubernetes Secret), read at start.', { allowed: 'empty or an existing file', check: checkReadableFile }),
    tls: {
      certFile: text('', 'PEM certificate chain for edge <-> swarm gRPC: a swarm serves TLS with it, an edge presents it as its client certificate. "" = none.', {
        allowed: 'empty or an existing file',
        check: checkReadableFile,
      }),
      keyFile: text('', 'PEM private key for cluster.tls.certFile.', { allowed: 'empty or an existing file', check: checkReadableFile }),
      caFile: text('', 'PEM CA bundle: an edge verifies swarms with it (TLS is on when set); a swarm requires edges to present a certificate it signed (mutual TLS).', {
        allowed: 'empty or an existing file',
        check: checkReadableFile,
      }),
      serverName: text('{name}', 'Edge: the name a swarm\'s certificate must carry; {name} = the swarm\'s member name (e.g. "{name}.tracker-swarm.ns.svc"). "" = the host of its address.', {
        allowed: 'a host name, optionally with {name}',
        check: checkCertificateName,
      }),
      edgeName: text('{id}', 'Swarm with mutual TLS: the name an edge\'s certificate must carry for the edge id it claims; {id} = that edge id.', {
        allowed: 'a host name, optionally with {id}',
        check: (value) => (value === '' ? 'it is empty' : checkCertificateName(value)),
      }),
    },
  },
  swarm: {
    grpcHost: text('::', 'Address the swarm\'s gRPC server listens on.', { allowed: 'a host name or IP address', check: checkHost }),
    grpcPort: integer(7000, 0, 65535, 'Port of the swarm\'s gRPC server (edges connect here).'),
    maxPendingRelaysPerEdge: integer(10000, 1, 10_000_000, 'WebTorrent offers/answers queued for one edge whose stream is not taking them, at most; more are dropped.'),
  },
  announce: {
    intervalSeconds: integer(1800, 1, 86400, 'Announce interval sent to clients.'),
    minIntervalSeconds: integer(900, 1, 86400, 'Minimum announce interval sent to clients; at most intervalSeconds.'),
    intervalJitterSeconds: integer(180, 0, 3600, 'Random variation added to the interval to spread re-announces.'),
    numwantDefault: integer(50, 1, 1000, 'Peers returned when the client does not say how many it wants.'),
    numwantMax: integer(200, 1, 1000, 'Most peers returned in one announce.'),
    peerTimeoutSeconds: integer(2700, 1, 86400, 'A peer that has not announced for this long is dropped.'),
  },
  store: {
    sweepIntervalMs: integer(1000, 10, 60000, 'How often the expiry sweep runs.'),
    sweepBudgetMs: integer(4, 1, 1000, 'Longest one sweep step may block the event loop.'),
    sweepMaxDutyPercent: integer(50, 0, 100, 'While much is overdue, sweep steps follow each other (I/O served between two) up to this share of each interval; 0 = one step per interval.'),
    maxTorrents: integer(10_000_000, 1, 100_000_000, 'Torrents held at most; an announce that would add one more gets "tracker is full" (about 100 bytes each).'),
    maxPeers: integer(50_000_000, 1, 100_000_000, 'UDP/HTTP peers held at most; new peers get "tracker is full", peers already held are always served (about 60 bytes each).'),
    maxPeersPerAddressPerTorrent: integer(32, 1, 1024, 'Peers one address (an IPv6 /64 counts as one) may have in one torrent; more get an error (NAT: several clients share an address).'),
    maxPeersPerAddressPerReply: integer(8, 1, 1000, 'Places one address (an IPv6 /64 counts as one) may take in one announce reply.'),
    newTorrentsPerSecond: integer(5, 0, 1_000_000, 'New torrents one source prefix may create per second, sustained; more get "try again later". 0 = no limit.'),
    newTorrentsBurst: integer(500, 1, 1_000_000, 'New torrents a source prefix that has been quiet may create at once.'),
    newTorrentsPrefixV4: integer(32, 8, 32, 'IPv4 prefix length that counts as one source for newTorrentsPerSecond.'),
    newTorrentsPrefixV6: integer(64, 16, 64, 'IPv6 prefix length that counts as one source for newTorrentsPerSecond.'),
    maxNewTorrentPrefixes: integer(100_000, 100, 10_000_000, 'Source prefixes whose new-torrent rate is tracked at once; when all are busy, new prefixes cannot create torrents.'),
  },
  snapshot: {
    redisUrl: text(
      '',
      'Redis for peer snapshots: redis://[user:password@]host:port[/db] (rediss:// = TLS); sentinels or cluster seed nodes comma-separated. "" = no snapshots.',
      { allowed: 'empty or redis:// / rediss:// URLs, comma-separated', normalize: (value) => value.trim(), check: checkRedisUrls, secret: true },
    ),
    redisMode: oneOf(['standalone', 'sentinel', 'cluster'], 'standalone', 'standalone: one Redis server; sentinel: redisUrl lists the sentinels; cluster: redisUrl lists seed nodes.'),
    redisSentinelName: text('mymaster', 'Sentinel mode: the name of the monitored master group.', { allowed: 'a master group name', check: (v) => (v.trim() === '' ? 'it is empty' : undefined) }),
    redisSentinelPassword: text('', 'Sentinel mode: password of the sentinels themselves ("" = none); the master\'s is in redisUrl.', { secret: true }),
    keyPrefix: text('tracker:', 'Prefix of every snapshot key (<prefix>slot:<0000-ffff>); trackers sharing a Redis need different ones.', { allowed: 'a string' }),
    intervalSeconds: integer(30, 1, 3600, 'How often slots changed since the last pass are written to Redis.'),
    commandTimeoutMs: integer(2000, 50, 60000, 'A Redis command not answered within this long fails (and is retried at the next pass).'),
    maxBytesInFlight: integer(8 * MiB, 64 * 1024, 1024 * MiB, 'Snapshot bytes exported and not yet acknowledged by Redis, at most (one bigger slot still goes alone).'),
    exportBudgetMs: integer(4, 1, 1000, 'Longest the snapshot export may block the event loop in one step.'),
    restoreDeadlineSeconds: integer(10, 1, 600, 'At start, how long a swarm waits for Redis and reads its slots before it reports ready anyway.'),
    shutdownDeadlineSeconds: integer(5, 1, 600, 'On shutdown, how long writing every owned slot may take; keep it inside terminationGracePeriodSeconds.'),
  },
  accessList: {
    mode: oneOf(['off', 'allow', 'deny'], 'off', 'off: serve every torrent; allow: only listed info-hashes; deny: all but listed ones.'),
    file: text('', 'Access list file: one 40-hex info-hash per line, # comments. Required unless mode is off.', {
      allowed: 'a file path',
    }),
    watch: boolean(true, 'Reload the access list when the file (or its ConfigMap mount) changes.'),
  },
  private: {
    enabled: boolean(false, 'Private tracker mode: users, torrents and approved clients from MariaDB (database.*), passkeys in the URL, transfer accounting. Off = a public tracker; nothing below is used.'),
    udp: oneOf(['off', 'bep41'], 'off', 'UDP in private mode: off refuses it; bep41 takes the passkey from BEP 41 URL data (udp://host:port/<passkey>/announce), as chihaya does.'),
    scrape: boolean(true, 'Serve /<passkey>/scrape (kuroneko\'s "scrape" switch).'),
    strictPort: boolean(false, 'Refuse announces whose port is outside 1024-65535 (kuroneko\'s strict_port).'),
    numwantDefault: integer(25, 1, 1000, 'Peers returned when a private client does not say how many it wants.'),
    numwantMax: integer(50, 1, 1000, 'Most peers returned in one private announce.'),
    intervalSeconds: integer(1800, 60, 86400, 'Announce interval sent to private clients, before drift.'),
    intervalDriftSeconds: integer(300, 0, 3600, 'Random 0..this seconds added to each interval, so re-announces spread out.'),
    minIntervalSeconds: integer(900, 1, 86400, 'Minimum announce interval sent to private clients; at most private.intervalSeconds.'),
    peerInactivitySeconds: integer(3900, 60, 86400, 'A private peer silent this long is purged and its transfer_history row marked active = 0; longer than interval + drift.'),
    recordEvents: boolean(false, 'Append every successful private announce to an hourly file <recordFolder>/events_YYYY-MM-DDTHH.json (kuroneko\'s recorder).'),
    recordFolder: text('events', 'Folder of the event recorder\'s hourly files (created if missing).', { allowed: 'a folder path', check: (v) => (v.trim() === '' ? 'it is empty' : undefined) }),
    recordBufferBytes: integer(4 * MiB, 64 * 1024, 1024 * MiB, 'Recorder lines waiting for the disk, at most; more are dropped and counted (the announce is never delayed).'),
  },
  database: {
    url: text('', 'MariaDB/MySQL for private mode: mysql://user:password@host:port/database. "" = the host, port, socket, user, password and name keys below.', {
      allowed: 'empty or a mysql:// URL',
      normalize: (value) => value.trim(),
      check: checkMysqlUrl,
      secret: true,
    }),
    host: text('127.0.0.1', 'Database server host (when database.url is "").', { allowed: 'a host name or IP address', check: checkHost }),
    port: integer(3306, 1, 65535, 'Database server port (when database.url is "").'),
    socket: text('', 'Unix socket of the database server; "" = TCP to host:port.', {
      allowed: 'empty or an absolute path',
      check: (v) => (v === '' || v.startsWith('/') ? undefined : 'it is not an absolute path'),
    }),
    user: text('tracker', 'Database user (when database.url is "").', { allowed: 'a user name', check: (v) => (v.trim() === '' ? 'it is empty' : undefined) }),
    password: text('', 'Database password (when database.url is ""); prefer database.passwordFile.', { secret: true }),
    passwordFile: text('', 'File holding the database password (e.g. a mounted Kubernetes Secret), read at start.', { allowed: 'empty or an existing file', check: checkReadableFile }),
    name: text('tracker', 'Database (schema) name (when database.url is "").', {
      allowed: 'a database name (letters, digits, "_", "$", "-")',
      check: (v) => (/^[\w$-]{1,64}$/.test(v) ? undefined : 'it is not a plain database name'),
    }),
    poolSize: integer(4, 1, 100, 'Connections in the pool (catalog reloads and flushes share it).'),
    connectTimeoutMs: integer(5000, 100, 120_000, 'A connection attempt not answered within this long fails (and is retried at the next reload or flush).'),
    queryTimeoutMs: integer(30_000, 100, 600_000, 'A query not answered within this long fails; a catalog reload or flush is retried later.'),
    reloadSeconds: integer(45, 1, 86400, 'How often users, torrents, freeleech and approved clients are reloaded in the background.'),
    flushSeconds: integer(3, 1, 3600, 'How often queued rows are written (a queue that reaches database.batchRows is written at once).'),
    batchRows: integer(1000, 1, 100_000, 'Rows per INSERT statement; a queue this long is flushed without waiting for database.flushSeconds.'),
    usersQueue: integer(100_000, 1, 100_000_000, 'Distinct users_main rows waiting to be written, at most; more updates are dropped and counted.'),
    torrentsQueue: integer(100_000, 1, 100_000_000, 'Distinct torrents rows waiting to be written, at most; more updates are dropped and counted.'),
    transferHistoryQueue: integer(200_000, 1, 100_000_000, 'Distinct transfer_history rows (user, torrent) waiting to be written, at most; more updates are dropped and counted.'),
    transferIpsQueue: integer(200_000, 1, 100_000_000, 'Distinct transfer_ips rows waiting to be written, at most; more updates are dropped and counted.'),
    snatchesQueue: integer(50_000, 1, 100_000_000, 'Snatches waiting to be written, at most; more are dropped and counted.'),
    deadlockRetries: integer(5, 0, 100, 'Times a write that hit a deadlock (1213) or lock-wait timeout (1205) is retried before the rows wait for the next flush.'),
    deadlockPauseMs: integer(1000, 0, 600_000, 'Pause before retry n of a deadlocked write: n x this.'),
  },
  hooks: {
    order: list(
      ['torrentApproval'],
      'Request hooks an edge runs on every announce, in this order (each is configured in its own section below); [] = none. torrentApproval does nothing while accessList.mode is off.',
      `a list of hook names from ${HOOK_NAMES.join(', ')}, each once`,
      checkHookOrder,
    ),
    clientApproval: {
      mode: oneOf(['allow', 'deny'], 'allow', 'allow: only clients whose peer_id starts with one of the prefixes may announce; deny: every client but those.'),
      prefixes: list([], 'peer_id prefixes, e.g. -qB (qBittorrent), -TR (Transmission), -lt (libtorrent), -DE (Deluge), -UT (uTorrent), -WW (WebTorrent); see README.', 'a list of 1-20 one-byte characters each', checkPeerIdPrefixes),
    },
    jwt: {
      issuer: text('', 'The `iss` every token must carry.', { allowed: 'a string' }),
      audience: text('', 'The `aud` every token must carry (or list).', { allowed: 'a string' }),
      jwksFile: text('', 'JWK Set file of the public keys tokens are signed with, re-read when it changes; or set jwksUrl.', { allowed: 'empty or an existing file', check: checkReadableFile }),
      jwksUrl: text('', 'JWK Set URL (https://...), fetched at start (the edge does not start without it) and every refreshSeconds.', { allowed: 'empty or an http(s) URL', normalize: (value) => value.trim(), check: checkHttpUrl }),
      refreshSeconds: integer(300, 5, 86400, 'How often the JWK Set is fetched or re-read; new keys (rotation) are used from then on.'),
      algorithms: list(['RS256', 'ES256', 'EdDSA'], 'Signature algorithms accepted; "none" and shared secrets never are.', 'a list of RS256, ES256, EdDSA', checkJwtAlgorithms),
      parameter: text('jwt', 'Announce URL parameter holding the token (HTTP query, UDP BEP 41 URL data, WebTorrent message key or socket URL).', { allowed: 'a query parameter name', check: checkParameterName }),
      requireExpiry: boolean(true, 'Refuse tokens without `exp` (set false for issuers that write none).'),
      clockSkewSeconds: integer(30, 0, 3600, 'Slack allowed on `exp` and `nbf` for clocks that disagree.'),
      cacheSize: integer(100_000, 0, 10_000_000, 'Verified tokens remembered (about 300 bytes each), so re-announces cost no signature check; past it the oldest is forgotten.'),
      maxVerificationsPerSecond: integer(2000, 1, 1_000_000, 'Signatures an edge verifies per second at most (tokens it has not seen); more are told to announce again later.'),
    },
    intervalVariation: {
      probabilityPercent: integer(50, 1, 100, 'Share of announce replies whose interval is lengthened (chihaya varinterval).'),
      maxIncreaseSeconds: integer(60, 1, 3600, 'Seconds added at most (1 to this, uniformly).'),
      modifyMinInterval: boolean(false, 'Lengthen the min interval by the same amount.'),
    },
    announceRate: {
      minSeconds: integer(60, 1, 86400, 'A peer\'s regular announces (no event) to one torrent sooner than this after its last one get a failure; at most announce.minIntervalSeconds.'),
    },
    sameSubnet: {
      prefixV4: integer(24, 1, 32, 'IPv4 prefix length: peers in the announcer\'s /N come first in its reply.'),
      prefixV6: integer(64, 1, 128, 'IPv6 prefix length: peers in the announcer\'s /M come first in its reply.'),
    },
  },
  metrics: {
    enabled: boolean(true, 'Serve Prometheus metrics at /metrics on their own port.'),
    host: text('::', 'Address for the metrics endpoint.', { allowed: 'a host name or IP address', check: checkHost }),
    port: integer(9000, 0, 65535, 'Port for the metrics endpoint (TCP); 0 picks a free port.'),
    maxConnections: integer(64, 1, 10000, 'Open connections to the metrics port; more are closed at once, so it cannot use up file descriptors.'),
  },
  log: {
    level: oneOf(['debug', 'info', 'warn', 'error'], 'info', 'Lowest level written; logs are JSON lines.'),
  },
  shutdown: {
    drainDelaySeconds: integer(
      5,
      0,
      600,
      'On SIGTERM, keep serving this long with /readyz failing before stopping, so load balancers take the process out first. SIGINT (Ctrl-C) skips it.',
    ),
    graceSeconds: integer(10, 0, 600, 'After the drain delay (or on SIGINT): time allowed to answer what is in flight and hand off before exiting.'),
  },
};

export const SECTION_DOCS: Record<string, string> = {
  udp: 'UDP tracker (BEP 15).',
  http: 'HTTP tracker, on the same TCP port as WebSockets.',
  webtorrent: 'WebTorrent tracking over WebSocket, on the TCP port.',
  tls: 'TLS on the TCP port (HTTPS and WSS). Both files or neither.',
  node: 'Identity of this process in a cluster.',
  cluster: 'A cluster: how edges find swarms and talk to them over gRPC, and how swarms trust edges.',
  'cluster.tls': 'TLS between edges and swarms (both roles), re-read when the files change. Default: plain gRPC.',
  swarm: 'Swarm side of a cluster.',
  announce: 'Announce replies.',
  store: 'In-memory peer store (swarm role).',
  snapshot: 'Optional Redis snapshots of the swarm\'s peers, restored at start (swarm role).',
  accessList: 'Which torrents are served. Reload with SIGHUP or by changing the file.',
  private: 'Private tracker mode (kuroneko-compatible): passkeys, users and torrents from MariaDB, transfer accounting.',
  database: 'MariaDB/MySQL for private mode (loaded only when private.enabled).',
  hooks: 'Request hooks (edge role): checks and changes every announce goes through, whatever its protocol, in hooks.order. Each is off unless listed.',
  'hooks.clientApproval': 'clientApproval: which BitTorrent clients may announce, by peer_id prefix.',
  'hooks.jwt': 'jwt: announces must carry a signed token naming the torrent (chihaya jwt). Keys reload with SIGHUP too.',
  'hooks.intervalVariation': 'intervalVariation: lengthens some replies\' interval at random, so clients that started together drift apart.',
  'hooks.announceRate': 'announceRate: a floor on how often one peer may announce one torrent.',
  'hooks.sameSubnet': 'sameSubnet: replies list the peers in the announcer\'s subnet first.',
  metrics: 'Prometheus metrics.',
  log: 'Logging.',
  shutdown: 'Shutdown.',
};

// ---------------------------------------------------------------------------
// Types derived from the schema

type ConfigOf<S> = { -readonly [K in keyof S]: S[K] extends Field<infer T> ? T : ConfigOf<S[K]> };

/** The whole runtime configuration; its shape is derived from SCHEMA. */
export interface Config extends ConfigOf<typeof SCHEMA> {}

export type AccessListMode = Config['accessList']['mode'];
export type ConfigLogLevel = Config['log']['level'];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The config key (e.g. "announce.numwantMax"), or "config" for problems with the config file itself. */
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.key = key;
  }
}

// ---------------------------------------------------------------------------
// Key tables

export interface SchemaKey {
  /** Dotted path, e.g. "announce.numwantMax". */
  key: string;
  path: string[];
  field: Field<unknown>;
}

/** Every key, in schema order. */
export const SCHEMA_KEYS: SchemaKey[] = [];
/** Every section's dotted path (e.g. "cluster", "cluster.tls"). */
export const SCHEMA_SECTIONS = new Set<string>();

(function collect(section: Record<string, unknown>, path: string[]): void {
  for (const [name, value] of Object.entries(section)) {
    const here = [...path, name];
    if (value instanceof Field) {
      SCHEMA_KEYS.push({ key: here.join('.'), path: here, field: value as Field<unknown> });
    } else {
      SCHEMA_SECTIONS.add(here.join('.'));
      collect(value as Record<string, unknown>, here);
    }
  }
})(SCHEMA, []);

export function getPath(config: unknown, path: readonly string[]): unknown {
  let node = config as Record<string, unknown>;
  for (const part of path) node = node[part] as Record<string, unknown>;
  return node;
}

export function setPath(config: unknown, path: readonly string[], value: unknown): void {
  let node = config as Record<string, unknown>;
  for (let i = 0; i < path.length - 1; i++) node = (node[path[i]] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]] = value;
}

export function clone<T>(value: T): T {
  return Array.isArray(value) ? (value.slice() as T) : value;
}

/** A fresh Config holding every default. */
export function defaultConfig(): Config {
  const config: Record<string, unknown> = {};
  for (const info of SCHEMA_KEYS) setPath(config, info.path, clone(info.field.defaultValue));
  return config as unknown as Config;
}

// ---------------------------------------------------------------------------
// Cross-field checks

/** What the hooks listed in hooks.order need, and hook settings that do nothing. */
function checkHooks(loader: ConfigSources, warnings: string[]): void {
  const c = loader.config;
  const hooks = c.hooks;
  const on = new Set<string>(hooks.order);
  const from = (key: string): string => (loader.source(key) === 'default' ? 'default' : `from ${loader.source(key)}`);
  const need = (hook: string, key: string, what: string): never => {
    throw new ConfigError(key, `config key "${key}": hook ${hook} is in hooks.order (${from('hooks.order')}) and needs ${what}`);
  };
  if (c.accessList.mode !== 'off' && !on.has('torrentApproval')) {
    throw new ConfigError(
      'hooks.order',
      `config key "hooks.order": accessList.mode is "${c.accessList.mode}" (${from('accessList.mode')}) but hooks.order (${from('hooks.order')}) does not list torrentApproval, which enforces it; add it where it should run (e.g. torrentApproval,${hooks.order.join(',') || 'jwt'}) or set accessList.mode=off`,
    );
  }
  if (on.has('clientApproval') && hooks.clientApproval.mode === 'allow' && hooks.clientApproval.prefixes.length === 0) {
    need('clientApproval', 'hooks.clientApproval.prefixes', 'at least one prefix in mode allow (else no client could announce)');
  }
  if (on.has('jwt')) {
    if (hooks.jwt.issuer === '') need('jwt', 'hooks.jwt.issuer', 'the issuer tokens carry (iss)');
    if (hooks.jwt.audience === '') need('jwt', 'hooks.jwt.audience', 'the audience tokens carry (aud)');
    if ((hooks.jwt.jwksFile === '') === (hooks.jwt.jwksUrl === '')) {
      const key = hooks.jwt.jwksFile === '' ? 'hooks.jwt.jwksFile' : 'hooks.jwt.jwksUrl';
      throw new ConfigError(key, `config key "${key}": hook jwt needs exactly one of hooks.jwt.jwksFile and hooks.jwt.jwksUrl, got ${hooks.jwt.jwksFile === '' ? 'neither' : 'both'}`);
    }
  }
  if (on.has('announceRate')) {
    const floor = hooks.announceRate.minSeconds;
    for (const key of ['announce.minIntervalSeconds', 'webtorrent.intervalSeconds']) {
      const interval = getPath(c, key.split('.')) as number;
      if (floor > interval) {
        throw new ConfigError(
          'hooks.announceRate.minSeconds',
          `config key "hooks.announceRate.minSeconds": must be at most ${key} (${interval}, ${from(key)}), got ${floor} (${from('hooks.announceRate.minSeconds')}); clients that follow the interval would be refused`,
        );
      }
    }
  }
  // Settings of a hook that is not listed do nothing: say so, it is a likely mistake.
  for (const info of SCHEMA_KEYS) {
    const [section, hook] = info.path;
    if (section !== 'hooks' || info.path.length < 3 || on.has(hook) || loader.source(info.key) === 'default') continue;
    warnings.push(`${info.key} is set (${loader.source(info.key)}) but hook ${hook} is not in hooks.order: it does nothing`);
  }
}

/** A config being loaded, and where each key's value came from ("default", "flag --x", ...). */
export interface ConfigSources {
  readonly config: Config;
  source(key: string): string;
}

/** Checks between keys, once every source is applied: throws a ConfigError naming the key to change, or adds warnings. */
export function crossCheck(loader: ConfigSources, warnings: string[]): void {
  const c = loader.config;

  /** low <= high; blames the key that was set explicitly. */
  const ordered = (lowKey: string, highKey: string): void => {
    const low = getPath(c, lowKey.split('.')) as number;
    const high = getPath(c, highKey.split('.')) as number;
    if (low <= high) return;
    const lowSource = loader.source(lowKey);
    const highSource = loader.source(highKey);
    if (lowSource === 'default' && highSource !== 'default') {
      throw new ConfigError(highKey, `config key "${highKey}": must be at least ${lowKey} (${low}, ${lowSource}), got ${high} (from ${highSource})`);
    }
    throw new ConfigError(lowKey, `config key "${lowKey}": must be at most ${highKey} (${high}, ${highSource === 'default' ? 'default' : `from ${highSource}`}), got ${low} (from ${lowSource})`);
  };
  ordered('announce.minIntervalSeconds', 'announce.intervalSeconds');
  ordered('announce.numwantDefault', 'announce.numwantMax');

  if (c.accessList.mode !== 'off' && c.accessList.file.trim() === '') {
    throw new ConfigError(
      'accessList.file',
      `config key "accessList.file": must name the access list file when accessList.mode is "${c.accessList.mode}" (from ${loader.source('accessList.mode')}), got ""; set accessList.file or accessList.mode=off`,
    );
  }

  checkHooks(loader, warnings);

  const wildcard = (host: string): boolean => host === '::' || host === '0.0.0.0' || host === '::0' || host === '';
  if (
    c.metrics.enabled &&
    c.http.enabled &&
    c.port !== 0 &&
    c.metrics.port === c.port &&
    (c.metrics.host === c.host || wildcard(c.metrics.host) || wildcard(c.host))
  ) {
    const blamed = loader.source('metrics.port') === 'default' ? 'port' : 'metrics.port';
    throw new ConfigError(
      blamed,
      `config key "${blamed}": metrics.port and port are both ${c.port} on overlapping hosts (${JSON.stringify(c.metrics.host)}, ${JSON.stringify(c.host)}) (from ${loader.source(blamed)}); choose different ports`,
    );
  }

  if ((c.tls.certFile === '') !== (c.tls.keyFile === '')) {
    const missing = c.tls.certFile === '' ? 'tls.certFile' : 'tls.keyFile';
    throw new ConfigError(missing, `config key "${missing}": TLS needs both tls.certFile and tls.keyFile, got only ${missing === 'tls.certFile' ? 'tls.keyFile' : 'tls.certFile'}`);
  }

  if ((c.cluster.tls.certFile === '') !== (c.cluster.tls.keyFile === '')) {
    const missing = c.cluster.tls.certFile === '' ? 'cluster.tls.certFile' : 'cluster.tls.keyFile';
    throw new ConfigError(missing, `config key "${missing}": needs to be set together with ${missing === 'cluster.tls.certFile' ? 'cluster.tls.keyFile' : 'cluster.tls.certFile'}`);
  }
  if (c.cluster.authToken !== '' && c.cluster.authTokenFile !== '') {
    throw new ConfigError('cluster.authTokenFile', 'config key "cluster.authTokenFile": set either cluster.authToken or cluster.authTokenFile, not both');
  }

  if (c.webtorrent.idleTimeoutSeconds <= c.webtorrent.intervalSeconds) {
    // Clients send a tracker message (their re-announce) once per interval: a shorter timeout closes healthy sockets.
    const idle = c.webtorrent.idleTimeoutSeconds;
    const interval = c.webtorrent.intervalSeconds;
    const from = (key: string): string => (loader.source(key) === 'default' ? 'default' : `from ${loader.source(key)}`);
    if (loader.source('webtorrent.idleTimeoutSeconds') === 'default') {
      throw new ConfigError(
        'webtorrent.intervalSeconds',
        `config key "webtorrent.intervalSeconds": must be shorter than webtorrent.idleTimeoutSeconds (${idle}, default), got ${interval} (${from('webtorrent.intervalSeconds')}); raise webtorrent.idleTimeoutSeconds too, e.g. to 3x the interval`,
      );
    }
    throw new ConfigError(
      'webtorrent.idleTimeoutSeconds',
      `config key "webtorrent.idleTimeoutSeconds": must be longer than webtorrent.intervalSeconds (${interval}, ${from('webtorrent.intervalSeconds')}), got ${idle} (${from('webtorrent.idleTimeoutSeconds')}); clients send a message once per interval, so e.g. 3x the interval`,
    );
  }

  const redisUrls = splitRedisUrls(c.snapshot.redisUrl);
  if (c.snapshot.redisMode === 'standalone' && redisUrls.length > 1) {
    throw new ConfigError(
      'snapshot.redisUrl',
      `config key "snapshot.redisUrl": standalone mode takes one URL, got ${redisUrls.length} (from ${loader.source('snapshot.redisUrl')}); set snapshot.redisMode to sentinel or cluster for a list`,
    );
  }
  if (c.snapshot.redisMode === 'cluster' && redisUrls.some((item) => !/^\/?0?$/.test(new URL(item).pathname))) {
    throw new ConfigError(
      'snapshot.redisUrl',
      `config key "snapshot.redisUrl": Redis Cluster has only database 0; remove the /db from the URL (from ${loader.source('snapshot.redisUrl')})`,
    );
  }

  if (c.private.enabled) {
    ordered('private.minIntervalSeconds', 'private.intervalSeconds');
    ordered('private.numwantDefault', 'private.numwantMax');
    if (c.private.peerInactivitySeconds <= c.private.intervalSeconds + c.private.intervalDriftSeconds) {
      throw new ConfigError(
        'private.peerInactivitySeconds',
        `config key "private.peerInactivitySeconds": must be longer than private.intervalSeconds + private.intervalDriftSeconds (${c.private.intervalSeconds + c.private.intervalDriftSeconds}), got ${c.private.peerInactivitySeconds} (from ${loader.source('private.peerInactivitySeconds')}); peers would be purged before they re-announce`,
      );
    }
  }
  if (c.database.password !== '' && c.database.passwordFile !== '') {
    throw new ConfigError('database.passwordFile', 'config key "database.passwordFile": set either database.password or database.passwordFile, not both');
  }
  if (c.database.url !== '' && (c.database.password !== '' || c.database.passwordFile !== '')) {
    const blamed = c.database.password !== '' ? 'database.password' : 'database.passwordFile';
    throw new ConfigError(blamed, `config key "${blamed}": database.url is set and carries the password; remove ${blamed} or database.url`);
  }

  if (c.announce.peerTimeoutSeconds < c.announce.intervalSeconds + c.announce.intervalJitterSeconds) {
    warnings.push(
      `announce.peerTimeoutSeconds (${c.announce.peerTimeoutSeconds}) is shorter than announce.intervalSeconds + announce.intervalJitterSeconds (${c.announce.intervalSeconds + c.announce.intervalJitterSeconds}): peers will expire before they re-announce`,
    );
  }
}
