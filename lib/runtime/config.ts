/**
 * Runtime configuration.
 *
 * SCHEMA below defines every key exactly once (type, default, bounds or allowed
 * values, one-line doc). Everything else is derived from it: the `Config` type,
 * the defaults, validation, the environment-variable and flag names, `--help`
 * text and the commented default YAML.
 *
 * Precedence (later wins):
 *   defaults < YAML file (--config PATH or TRACKER_CONFIG) < environment < flags
 *
 * Environment: TRACKER_ + the key path in SCREAMING_SNAKE, levels joined by
 * "__": udp.connectionIdKey -> TRACKER_UDP__CONNECTION_ID_KEY, port ->
 * TRACKER_PORT. Flags: --udp.connectionIdKey=abc or --udp.connectionIdKey abc;
 * booleans also bare (--udp.enabled) or --http.enabled=false. Lists are
 * comma-separated in the environment and in flags.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import YAML from 'yaml';
import { parseCidrList } from './cidr.js';
import { parseMemberList } from '../cluster/membership/static.js';

// ---------------------------------------------------------------------------
// Field descriptors

type Coerced<T> = { ok: true; value: T } | { ok: false; detail?: string };

class Field<T> {
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

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

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

function checkCidrs(items: string[]): string | undefined {
  try {
    parseCidrList(items);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
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

const SECTION_DOCS: Record<string, string> = {
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

export interface LoadConfigOptions {
  /** Arguments after the script name: process.argv.slice(2). */
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Flags (names without "--") that belong to the caller, e.g. a subcommand's own options; returned in `extraFlags`. */
  extraFlags?: readonly string[];
  /** TRACKER_* variables that belong to the caller and are not config keys. */
  extraEnv?: readonly string[];
}

export interface LoadConfigResult {
  config: Config;
  printConfig: boolean;
  /** --help or -h was given. */
  help: boolean;
  /** Absolute path of the config file read, if any. */
  configFile?: string;
  /** Arguments that are not flags (e.g. the subcommand), in order. */
  positionals: string[];
  /** Values of the caller's `extraFlags` that were given: "--rate 5" -> { rate: "5" }, bare "--x" -> { x: true }. */
  extraFlags: Record<string, string | true>;
  /** Things worth logging that are not errors. */
  warnings: string[];
}

// ---------------------------------------------------------------------------
// Key tables

interface KeyInfo {
  key: string;
  path: string[];
  field: Field<unknown>;
  env: string;
  flag: string;
}

function screamingSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

const KEYS: KeyInfo[] = [];
const SECTIONS = new Set<string>();

(function collect(section: Record<string, unknown>, path: string[]): void {
  for (const [name, value] of Object.entries(section)) {
    const here = [...path, name];
    if (value instanceof Field) {
      KEYS.push({
        key: here.join('.'),
        path: here,
        field: value as Field<unknown>,
        env: `TRACKER_${here.map(screamingSnake).join('__')}`,
        flag: `--${here.join('.')}`,
      });
    } else {
      SECTIONS.add(here.join('.'));
      collect(value as Record<string, unknown>, here);
    }
  }
})(SCHEMA, []);

const BY_KEY = new Map(KEYS.map((info) => [info.key, info]));
const BY_ENV = new Map(KEYS.map((info) => [info.env, info]));
const CONFIG_ENV = 'TRACKER_CONFIG';

function getPath(config: unknown, path: readonly string[]): unknown {
  let node = config as Record<string, unknown>;
  for (const part of path) node = node[part] as Record<string, unknown>;
  return node;
}

function setPath(config: unknown, path: readonly string[], value: unknown): void {
  let node = config as Record<string, unknown>;
  for (let i = 0; i < path.length - 1; i++) node = (node[path[i]] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]] = value;
}

function clone<T>(value: T): T {
  return Array.isArray(value) ? (value.slice() as T) : value;
}

/** A fresh Config holding every default. */
export function defaultConfig(): Config {
  const config: Record<string, unknown> = {};
  for (const info of KEYS) setPath(config, info.path, clone(info.field.defaultValue));
  return config as unknown as Config;
}

// ---------------------------------------------------------------------------
// Messages

function describeValue(raw: unknown, secret: boolean): string {
  if (secret && typeof raw === 'string') return `a value of ${raw.length} characters (not shown)`;
  if (raw === null || raw === undefined) return 'nothing (null)';
  if (Array.isArray(raw)) {
    const json = JSON.stringify(raw);
    return json.length > 120 ? `a list of ${raw.length} items` : json;
  }
  if (typeof raw === 'object') return 'a mapping';
  const json = JSON.stringify(raw) ?? String(raw);
  return json.length > 120 ? `${json.slice(0, 100)}..." (${String(raw).length} characters)` : json;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = saved;
    }
  }
  return row[b.length];
}

function suggest(wanted: string, candidates: Iterable<string>): string {
  let best = '';
  let bestDistance = Infinity;
  const w = wanted.toLowerCase();
  for (const candidate of candidates) {
    const d = levenshtein(w, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== '' && bestDistance <= Math.max(2, Math.floor(wanted.length / 4)) ? `; did you mean "${best}"?` : '';
}

function unknownKeyError(key: string, source: string, suggestion: string): ConfigError {
  return new ConfigError(key, `config key "${key}": unknown key (from ${source})${suggestion}`);
}

function sectionKeyError(key: string, source: string, how: string): ConfigError {
  const children = KEYS.filter((info) => info.key.startsWith(`${key}.`)).map((info) => info.key.slice(key.length + 1));
  return new ConfigError(key, `config key "${key}": is a section, not a value (from ${source}); set its keys instead, ${how}: ${children.join(', ')}`);
}

// ---------------------------------------------------------------------------
// Applying values

class Loader {
  readonly config = defaultConfig();
  readonly sources = new Map<string, string>();

  set(info: KeyInfo, raw: unknown, source: string): void {
    const result = info.field.coerce(raw);
    if (!result.ok) {
      let message = `config key "${info.key}": must be ${info.field.allowed}, got ${describeValue(raw, info.field.secret)} (from ${source})`;
      if (result.detail) message += `; ${result.detail}`;
      throw new ConfigError(info.key, message);
    }
    setPath(this.config, info.path, result.value);
    this.sources.set(info.key, source);
  }

  source(key: string): string {
    return this.sources.get(key) ?? 'default';
  }

  applyYaml(value: unknown, prefix: string, file: string): void {
    if (value === null || value === undefined) return; // empty file, or a section with every key commented out
    const where = prefix === '' ? 'the top level' : `"${prefix}"`;
    if (typeof value !== 'object' || Array.isArray(value)) {
      const key = prefix === '' ? 'config' : prefix;
      throw new ConfigError(key, `config file "${file}": ${where} must be a mapping of keys, got ${describeValue(value, false)}`);
    }
    for (const [name, child] of Object.entries(value as Record<string, unknown>)) {
      const key = prefix === '' ? name : `${prefix}.${name}`;
      const source = `file ${file}`;
      const info = BY_KEY.get(key);
      if (info) this.set(info, child, source);
      else if (SECTIONS.has(key)) this.applyYaml(child, key, file);
      else {
        const siblings = [...BY_KEY.keys(), ...SECTIONS].filter((k) => k.lastIndexOf('.') === key.lastIndexOf('.') && k.startsWith(prefix));
        throw unknownKeyError(key, source, suggest(key, siblings));
      }
    }
  }
}

function readConfigFile(file: string): unknown {
  let textContent: string;
  try {
    textContent = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read it: ${(error as Error).message}`;
    throw new ConfigError('config', `config file "${file}": ${reason}`);
  }
  const doc = YAML.parseDocument(textContent, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError('config', `config file "${file}": invalid YAML: ${doc.errors[0].message}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError('config', `config file "${file}": invalid YAML: ${(error as Error).message}`);
  }
}

// Kubernetes injects <SERVICE>_PORT=tcp://..., <SERVICE>_SERVICE_HOST, ... for every
// Service in the namespace; a Service named "tracker..." collides with our prefix.
const SERVICE_LINK_NAME = /^TRACKER(_[A-Z0-9_]+)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$/;
const SERVICE_LINK_PORT = /^TRACKER(_[A-Z0-9_]+)?_PORT$/;
const SERVICE_LINK_VALUE = /^(tcp|udp|sctp):\/\/[^\s]+:\d+$/;

function isServiceLink(name: string, value: string): boolean {
  return SERVICE_LINK_NAME.test(name) || (SERVICE_LINK_PORT.test(name) && SERVICE_LINK_VALUE.test(value));
}

// ---------------------------------------------------------------------------
// argv

interface ParsedArgs {
  flags: Array<{ info: KeyInfo; raw: string; source: string }>;
  configFile?: string;
  printConfig: boolean;
  help: boolean;
  positionals: string[];
  extraFlags: Record<string, string | true>;
}

function parseArgs(argv: readonly string[], extraFlags: ReadonlySet<string>): ParsedArgs {
  const out: ParsedArgs = { flags: [], printConfig: false, help: false, positionals: [], extraFlags: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      out.help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
        throw new ConfigError(arg, `config key "${arg}": unknown flag; flags are written --key or --key=value (see --help)`);
      }
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const next = argv[i + 1];
    const nextIsValue = next !== undefined && !next.startsWith('--');
    const takeValue = (): string | undefined => {
      if (inline !== undefined) return inline;
      if (nextIsValue) {
        i++;
        return next;
      }
      return undefined;
    };
    const requireValue = (what: string): string => {
      const value = takeValue();
      if (value === undefined) throw new ConfigError(what, `config key "${what}": flag --${name} needs a value (--${name}=VALUE or --${name} VALUE)`);
      return value;
    };

    if (name === 'print-config' || name === 'help') {
      let on = true;
      if (inline !== undefined) {
        const word = inline.trim().toLowerCase();
        if (!TRUE_WORDS.has(word) && !FALSE_WORDS.has(word)) {
          throw new ConfigError(name, `config key "${name}": must be true or false, got ${JSON.stringify(inline)} (from flag --${name})`);
        }
        on = TRUE_WORDS.has(word);
      }
      if (name === 'help') out.help = on;
      else out.printConfig = on;
      continue;
    }
    if (name === 'config') {
      const value = requireValue('config');
      if (value.trim() === '') throw new ConfigError('config', 'config key "config": must be a file path, got "" (from flag --config)');
      out.configFile = value;
      continue;
    }
    if (extraFlags.has(name)) {
      out.extraFlags[name] = takeValue() ?? true;
      continue;
    }
    const info = BY_KEY.get(name);
    if (!info) {
      if (SECTIONS.has(name)) throw sectionKeyError(name, `flag --${name}`, 'e.g. --' + name + '.KEY=VALUE');
      const candidates = [...BY_KEY.keys(), 'config', 'print-config', 'help', ...extraFlags];
      throw unknownKeyError(name, `flag --${name}`, suggest(name, candidates).replace(/"([^"]+)"\?$/, '"--$1"?'));
    }
    let raw: string;
    if (info.field.kind === 'boolean') {
      if (inline !== undefined) raw = inline;
      else if (next !== undefined && /^(true|false)$/i.test(next)) {
        raw = next; // --udp.enabled false
        i++;
      } else raw = 'true'; // bare --udp.enabled
    } else raw = requireValue(info.key);
    out.flags.push({ info, raw, source: `flag --${name}` });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Cross-field checks

function crossCheck(loader: Loader, warnings: string[]): void {
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

  if (c.announce.peerTimeoutSeconds < c.announce.intervalSeconds + c.announce.intervalJitterSeconds) {
    warnings.push(
      `announce.peerTimeoutSeconds (${c.announce.peerTimeoutSeconds}) is shorter than announce.intervalSeconds + announce.intervalJitterSeconds (${c.announce.intervalSeconds + c.announce.intervalJitterSeconds}): peers will expire before they re-announce`,
    );
  }
}

// ---------------------------------------------------------------------------
// Public API

export function loadConfig(opts: LoadConfigOptions): LoadConfigResult {
  const extraFlags = new Set(opts.extraFlags ?? []);
  const extraEnv = new Set(opts.extraEnv ?? []);
  const args = parseArgs(opts.argv, extraFlags);
  const loader = new Loader();
  const warnings: string[] = [];

  const envConfig = opts.env[CONFIG_ENV];
  const fileArg = args.configFile ?? (envConfig !== undefined && envConfig.trim() !== '' ? envConfig : undefined);
  let configFile: string | undefined;
  if (fileArg !== undefined) {
    configFile = resolvePath(fileArg);
    loader.applyYaml(readConfigFile(configFile), '', configFile);
  }

  for (const name of Object.keys(opts.env).sort()) {
    if (!name.startsWith('TRACKER_') || name === CONFIG_ENV || extraEnv.has(name)) continue;
    const value = opts.env[name];
    if (value === undefined) continue;
    const info = BY_ENV.get(name);
    if (info && !(name === 'TRACKER_PORT' && SERVICE_LINK_VALUE.test(value.trim()))) {
      loader.set(info, value, `env ${name}`);
      continue;
    }
    if (isServiceLink(name, value.trim())) {
      warnings.push(`ignored environment variable ${name}: it looks like a Kubernetes service link; set enableServiceLinks: false in the pod spec`);
      continue;
    }
    const sectionKey = [...SECTIONS].find((s) => `TRACKER_${s.split('.').map(screamingSnake).join('__')}` === name);
    if (sectionKey) throw sectionKeyError(sectionKey, `env ${name}`, `e.g. ${name}__KEY`);
    const guess = name
      .slice('TRACKER_'.length)
      .split('__')
      .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
      .join('.');
    throw unknownKeyError(guess, `env ${name}`, suggest(name, [...BY_ENV.keys(), CONFIG_ENV]));
  }

  for (const flag of args.flags) loader.set(flag.info, flag.raw, flag.source);

  crossCheck(loader, warnings);

  const result: LoadConfigResult = {
    config: loader.config,
    printConfig: args.printConfig,
    help: args.help,
    positionals: args.positionals,
    extraFlags: args.extraFlags,
    warnings,
  };
  if (configFile !== undefined) result.configFile = configFile;
  return result;
}

function formatValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => JSON.stringify(item)).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

export interface ConfigYamlOptions {
  /** Write each key's doc, allowed values, env and flag as comments. Default true. */
  comments?: boolean;
  /** Replace secret values (udp.connectionIdKey) with a placeholder. Default true. */
  redactSecrets?: boolean;
}

/** The given config as YAML, in schema order. */
export function configToYaml(config: Config, options: ConfigYamlOptions = {}): string {
  const comments = options.comments ?? true;
  const redact = options.redactSecrets ?? true;
  const lines: string[] = [];
  if (comments) {
    lines.push(
      '# Tracker configuration. Every key is listed with its default.',
      '# Precedence (later wins): defaults < this file (--config PATH or TRACKER_CONFIG)',
      '#   < environment (TRACKER_*) < command-line flags.',
    );
  }
  let open: string[] = [];
  for (const info of KEYS) {
    const sectionPath = info.path.slice(0, -1);
    const section = sectionPath.join('.');
    const indent = '  '.repeat(sectionPath.length);
    if (section !== open.join('.')) {
      let common = 0;
      while (common < open.length && common < sectionPath.length && open[common] === sectionPath[common]) common++;
      for (let level = common; level < sectionPath.length; level++) {
        const name = sectionPath.slice(0, level + 1).join('.');
        if (comments) {
          lines.push('');
          if (SECTION_DOCS[name]) lines.push(`${'  '.repeat(level)}# ${SECTION_DOCS[name]}`);
        }
        lines.push(`${'  '.repeat(level)}${sectionPath[level]}:`);
      }
      open = sectionPath;
    }
    const value = getPath(config, info.path);
    const shown = info.field.secret && redact && value !== '' ? '"<redacted>"' : formatValue(value);
    if (comments) {
      if (sectionPath.length === 0) lines.push('');
      lines.push(`${indent}# ${info.field.doc}`);
      lines.push(`${indent}# ${info.field.allowed}; env ${info.env}; flag ${info.flag}`);
    }
    lines.push(`${indent}${info.path.at(-1)}: ${shown}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Every key with its doc as a comment; valid YAML that loads back to the defaults. */
export function defaultConfigYaml(): string {
  return configToYaml(defaultConfig(), { comments: true });
}

/** Help text for --help: every key with its flag, env variable, default and doc. */
export function configHelp(): string {
  const lines = [
    'Configuration (later wins): defaults < --config FILE / TRACKER_CONFIG < TRACKER_* env < flags',
    '  --config PATH          YAML config file (env TRACKER_CONFIG)',
    '  --print-config         print the effective configuration as YAML and exit',
    '  --help, -h             show this help',
    '',
  ];
  for (const info of KEYS) {
    lines.push(`  ${info.flag}=${info.field.kind === 'boolean' ? 'true|false' : 'VALUE'}   (env ${info.env}, default ${formatValue(info.field.defaultValue)})`);
    lines.push(`      ${info.field.doc} Must be ${info.field.allowed}.`);
  }
  return `${lines.join('\n')}\n`;
}

/** Every key with its env name, flag and default (for docs and tests). */
export function configKeys(): Array<{ key: string; env: string; flag: string; defaultValue: unknown; doc: string; allowed: string }> {
  return KEYS.map((info) => ({
    key: info.key,
    env: info.env,
    flag: info.flag,
    defaultValue: clone(info.field.defaultValue),
    doc: info.field.doc,
    allowed: info.field.allowed,
  }));
}
