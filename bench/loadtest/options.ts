/**
 * Command-line parsing for `loadtest` (pure: argv in, config or error out).
 */
import { DEFAULT_MODEL, MAX_SOURCES, validateModel, type LoadModelOptions, type Popularity } from './model.js';
import { DEFAULT_REQUESTS_PER_CONNECTION, DEFAULT_WS, type LoadtestConfig, type WsRunOptions } from './runner.js';

export const USAGE = `usage:
  loadtest udp  --target 127.0.0.1:6969 [options]
  loadtest http --target 127.0.0.1:6969 [options]     (or --target http://127.0.0.1:6969/announce)
  loadtest ws   --target 127.0.0.1:6969 [options]     WebTorrent over WebSocket (or --target ws://127.0.0.1:6969/announce)
  loadtest whitelist [--seed N] [--torrents N] [--out FILE]   hex info-hashes of the torrent set, one a line
  loadtest echo udp|http|ws --port P [--host 127.0.0.1] [--max-seconds 600]   trivial echo target (Node;
                        ws: uWebSockets.js, bounces each offer / answer back to its sender)

run:
  --duration S          measured window, seconds (default 10, max 3600)
  --warmup S            warm-up before the window, seconds (default 2)
  --workers N           generator threads (default 1)
  --engine node|c       Node worker threads (default) or the C generator (bench/loadtest/udpgen.c:
                        UDP with sendmmsg/recvmmsg, HTTP and WebSocket with epoll, one thread per
                        --workers; compiled with gcc into .bench/; IPv4 targets)
  --sockets N           UDP sockets in total (default 64)
  --window N            UDP requests in flight per socket, 1..256 (default 16)
  --connections N       HTTP connections in total (default 64), one request in flight each
  --requests-per-connection N   HTTP keep-alive: requests per connection (default 100); the last one
                        says Connection: close, and the slot reconnects from its next address
  --close               HTTP: a new connection per request (Connection: close), each from the slot's
                        next address
  --announce-path P     HTTP (default /announce)     --scrape-path P   (default /scrape)
  --timeout MS          a request without a reply after MS is lost (default 1000 UDP, 5000 HTTP and WS)
  --reconnect-after S   UDP: renew the connection id after S seconds (default 60)
  --max-failures N      UDP: drop the connection id after N timeouts/errors in a row (default 3)

WebTorrent (ws; both engines send the same frames):
  --connections N       WebSocket connections in total (default 200), each one client with one peer_id
  --window N            announces in flight per connection, 1..64 (default 2)
  --torrents-per-connection N   torrents each client announces, round-robin (default 10, max 10000)
  --offers N            WebRTC offers per announce (numwant = N), 0..50 (default 5)
  --sdp-bytes MIN-MAX   size of each fake offer / answer SDP (default 500-1500)
  --interval MS         pause of each slot after a reply before its next announce (default 0: closed loop)
  --no-answer           do not answer the offers received
  --path P              WebSocket URL path (default /, or the --target URL's path)

load model:
  --seed N              (default 1)                 --torrents N     (default 10000)
  --popularity zipf|gamma  (default zipf)           --zipf-s X       (default 1.0)
  --gamma-shape X       (default 0.2)               --gamma-scale X  (default 100)
  --scrape-ratio N      announces per scrape, 0 = none (default 100)
  --scrape-hashes N     max hashes per scrape, 1..74 (default 10)
  --seeders X           share of announces that are seeders (default 0.5)
  --numwant N           (default 50)
  --sources N           client addresses, consecutive in 127.0.0.0/8 (default 16384); each UDP socket
                        or HTTP connection slot has its own share of them (see bench/loadtest/model.ts)
  --first-address A     the first of them (default 127.1.0.1)
  --ports-per-source N  announced ports per address (default 2)
  --first-port N        first announced port (default 10000)

output:
  --json FILE           write the summary as JSON        --label TEXT   name the run
  --quiet               no progress line
`;

export type ParsedArgs = Map<string, string | true>;

/** `--k v`, `--k=v` and bare `--flag`; positionals are returned separately. */
export function parseArgv(argv: readonly string[], flags: ReadonlySet<string>): { positional: string[]; opts: ParsedArgs } {
  const positional: string[] = [];
  const opts: ParsedArgs = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (eq > 0) opts.set(key, a.slice(eq + 1));
    else if (flags.has(key)) opts.set(key, true);
    else if (i + 1 < argv.length) opts.set(key, argv[++i]);
    else throw new UsageError(`--${key} needs a value`);
  }
  return { positional, opts };
}

export class UsageError extends Error {}

const FLAGS = new Set(['close', 'quiet', 'help', 'no-answer']);

export const RUN_KEYS = new Set([
  'target', 'duration', 'warmup', 'workers', 'engine', 'sockets', 'window', 'connections', 'close',
  'announce-path', 'scrape-path', 'timeout', 'reconnect-after', 'max-failures', 'seed', 'torrents',
  'popularity', 'zipf-s', 'gamma-shape', 'gamma-scale', 'scrape-ratio', 'scrape-hashes', 'seeders',
  'numwant', 'sources', 'first-address', 'ports-per-source', 'first-port', 'json', 'label', 'quiet', 'help',
  'requests-per-connection',
  ...['torrents-per-connection', 'offers', 'sdp-bytes', 'interval', 'no-answer', 'path'],
]);

/** Options that only `ws` runs take. */
export const WS_KEYS = new Set(['torrents-per-connection', 'offers', 'sdp-bytes', 'interval', 'no-answer', 'path']);

function num(opts: ParsedArgs, key: string, def: number, check: (n: number) => boolean = () => true): number {
  const v = opts.get(key);
  if (v === undefined) return def;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`invalid --${key}: ${String(v)}`);
  return n;
}

function str(opts: ParsedArgs, key: string, def: string): string {
  const v = opts.get(key);
  if (v === undefined) return def;
  if (typeof v !== 'string') throw new UsageError(`--${key} needs a value`);
  return v;
}

const int = (lo: number, hi: number) => (n: number) => Number.isInteger(n) && n >= lo && n <= hi;

/** True for 127.0.0.0/8 dotted quads (the only targets this tool sends to). */
export function isLoopbackV4(host: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((x) => Number(x) <= 255);
}

export interface Target {
  host: string;
  port: number;
  path?: string;
}

/** host:port, [::1]:port or a udp:// / http:// URL; loopback IPv4 only ("localhost" means 127.0.0.1). */
export function parseTarget(text: string): Target {
  let host: string;
  let port: number;
  let p: string | undefined;
  if (/^[a-z]+:\/\//i.test(text)) {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw new UsageError(`invalid --target ${text}`);
    }
    host = u.hostname;
    port = Number(u.port || (u.protocol === 'http:' ? 80 : NaN));
    if (u.pathname && u.pathname !== '/') p = u.pathname;
  } else {
    const m = /^(.*):(\d+)$/.exec(text);
    if (!m) throw new UsageError(`invalid --target ${text} (want host:port)`);
    host = m[1];
    port = Number(m[2]);
  }
  if (host === 'localhost') host = '127.0.0.1';
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host === '::1') throw new UsageError('IPv6 targets are not supported yet: use 127.0.0.1');
  if (!isLoopbackV4(host)) throw new UsageError(`refusing non-loopback target ${host}: load goes to 127.0.0.0/8 only`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`invalid port in --target ${text}`);
  return p === undefined ? { host, port } : { host, port, path: p };
}

export interface CliRun {
  config: LoadtestConfig;
  json?: string;
}

export function parseModel(opts: ParsedArgs): LoadModelOptions {
  const popularity = str(opts, 'popularity', DEFAULT_MODEL.popularity);
  if (popularity !== 'zipf' && popularity !== 'gamma') throw new UsageError('--popularity must be zipf or gamma');
  const m: LoadModelOptions = {
    seed: num(opts, 'seed', DEFAULT_MODEL.seed, int(0, 0xffff_ffff)),
    torrents: num(opts, 'torrents', DEFAULT_MODEL.torrents, int(1, 50_000_000)),
    popularity: popularity as Popularity,
    zipfExponent: num(opts, 'zipf-s', DEFAULT_MODEL.zipfExponent),
    gammaShape: num(opts, 'gamma-shape', DEFAULT_MODEL.gammaShape),
    gammaScale: num(opts, 'gamma-scale', DEFAULT_MODEL.gammaScale),
    announcesPerScrape: num(opts, 'scrape-ratio', DEFAULT_MODEL.announcesPerScrape),
    scrapeMaxHashes: num(opts, 'scrape-hashes', DEFAULT_MODEL.scrapeMaxHashes, int(1, 74)),
    seederShare: num(opts, 'seeders', DEFAULT_MODEL.seederShare),
    numwant: num(opts, 'numwant', DEFAULT_MODEL.numwant, int(-1, 1000)),
    sources: num(opts, 'sources', DEFAULT_MODEL.sources, int(1, MAX_SOURCES)),
    firstAddress: str(opts, 'first-address', DEFAULT_MODEL.firstAddress),
    portsPerSource: num(opts, 'ports-per-source', DEFAULT_MODEL.portsPerSource, int(1, 65535)),
    firstPort: num(opts, 'first-port', DEFAULT_MODEL.firstPort, int(1, 65535)),
  };
  const err = validateModel(m);
  if (err) throw new UsageError(err);
  return m;
}

/** "500-1500" or "800" (both ends inclusive), within 10..60000. */
export function parseSdpBytes(text: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(lo >= 10 && hi >= lo && hi <= 60_000)) throw new UsageError(`invalid --sdp-bytes ${text} (want MIN-MAX within 10..60000)`);
  return [lo, hi];
}

function parseWsOptions(opts: ParsedArgs, targetPath: string | undefined): WsRunOptions {
  const [sdpMinBytes, sdpMaxBytes] = parseSdpBytes(str(opts, 'sdp-bytes', `${DEFAULT_WS.sdpMinBytes}-${DEFAULT_WS.sdpMaxBytes}`));
  const p = str(opts, 'path', targetPath ?? DEFAULT_WS.path);
  if (!p.startsWith('/') || /[\s#?]/.test(p)) throw new UsageError(`invalid --path ${p}`);
  return {
    path: p,
    torrentsPerConnection: num(opts, 'torrents-per-connection', DEFAULT_WS.torrentsPerConnection, int(1, 10_000)),
    offers: num(opts, 'offers', DEFAULT_WS.offers, int(0, 50)),
    sdpMinBytes,
    sdpMaxBytes,
    intervalMs: num(opts, 'interval', DEFAULT_WS.intervalMs, (n) => n >= 0 && n <= 600_000),
    answer: opts.get('no-answer') !== true,
  };
}

/** Parse `udp|http|ws ...` arguments into a run configuration. */
export function parseRunArgs(argv: readonly string[]): CliRun {
  const { positional, opts } = parseArgv(argv, FLAGS);
  const protocol = positional[0];
  if (protocol !== 'udp' && protocol !== 'http' && protocol !== 'ws') throw new UsageError('first argument must be udp, http or ws');
  if (positional.length > 1) throw new UsageError(`unexpected argument ${positional[1]}`);
  for (const k of opts.keys()) if (!RUN_KEYS.has(k)) throw new UsageError(`unknown option --${k}`);
  const targetText = opts.get('target');
  if (typeof targetText !== 'string') throw new UsageError('--target host:port is required');
  const target = parseTarget(targetText);
  const engine = str(opts, 'engine', 'node');
  if (engine !== 'node' && engine !== 'c') throw new UsageError('--engine must be node or c');
  const udp = protocol === 'udp';
  const ws = protocol === 'ws';
  if (!ws) for (const k of WS_KEYS) if (opts.has(k)) throw new UsageError(`--${k} is a ws option`);
  if (ws) {
    for (const k of ['sockets', 'close', 'requests-per-connection', 'announce-path', 'scrape-path', 'reconnect-after', 'max-failures']) {
      if (opts.has(k)) throw new UsageError(`--${k} is not a ws option`);
    }
  }
  const announcePath = str(opts, 'announce-path', target.path ?? '/announce');
  const scrapePath = str(opts, 'scrape-path', announcePath.replace(/announce(?!.*announce)/, 'scrape'));
  const config: LoadtestConfig = {
    protocol,
    engine: engine as 'node' | 'c',
    host: target.host,
    port: target.port,
    durationSeconds: num(opts, 'duration', 10, (n) => n > 0 && n <= 3600),
    warmupSeconds: num(opts, 'warmup', 2, (n) => n >= 0 && n <= 600),
    workers: num(opts, 'workers', 1, int(1, 64)),
    sockets: udp ? num(opts, 'sockets', 64, int(1, 10_000)) : num(opts, 'connections', ws ? 200 : 64, int(1, 10_000)),
    window: udp ? num(opts, 'window', 16, int(1, 256)) : ws ? num(opts, 'window', 2, int(1, 64)) : 1,
    timeoutMs: num(opts, 'timeout', udp ? 1000 : 5000, (n) => n >= 10 && n <= 60_000),
    reconnectAfterMs: num(opts, 'reconnect-after', 60, (n) => n > 0 && n <= 3600) * 1000,
    maxFailures: num(opts, 'max-failures', 3, int(1, 1000)),
    connectionPerRequest: opts.get('close') === true,
    requestsPerConnection: num(opts, 'requests-per-connection', DEFAULT_REQUESTS_PER_CONNECTION, int(1, 1_000_000)),
    announcePath,
    scrapePath,
    model: parseModel(opts),
    progress: opts.get('quiet') !== true,
    label: typeof opts.get('label') === 'string' ? (opts.get('label') as string) : undefined,
  };
  if (ws) {
    const m = config.model;
    if (config.sockets > m.sources * m.portsPerSource) {
      throw new UsageError(`--connections ${config.sockets} exceeds the peer pool (--sources x --ports-per-source = ${m.sources * m.portsPerSource}): peer_ids would repeat`);
    }
    return withJson({ config: { ...config, ws: parseWsOptions(opts, target.path) } }, opts);
  }
  if (!udp && (opts.has('sockets') || opts.has('window'))) throw new UsageError('--sockets/--window are UDP options (HTTP: --connections)');
  if (udp && (opts.has('connections') || opts.has('close') || opts.has('requests-per-connection'))) {
    throw new UsageError('--connections/--close/--requests-per-connection are HTTP options');
  }
  if (opts.has('close') && opts.has('requests-per-connection')) throw new UsageError('--close means one request per connection: drop --requests-per-connection');
  return withJson({ config }, opts);
}

function withJson(run: CliRun, opts: ParsedArgs): CliRun {
  const json = opts.get('json');
  if (json === true) throw new UsageError('--json needs a file');
  return json === undefined ? run : { ...run, json };
}
