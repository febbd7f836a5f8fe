import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { ConfigError, defaultConfig, type Config } from '../../../lib/runtime/config.js';
import { configHelp, configKeys, configToYaml, defaultConfigYaml, loadConfig } from '../../../lib/runtime/config-loader.js';

// --- the exported shape, as the rest of the code is written against it -----
interface ExpectedConfig {
  host: string;
  port: number;
  udp: {
    enabled: boolean;
    connectionIdKey: string;
    connectionIdTtlSeconds: number;
    connectionIdSlackSeconds: number;
    connectionIdFutureSkewSeconds: number;
    maxScrapeHashes: number;
    socketBufferBytes: number;
    batchedIo: 'auto' | 'required' | 'off';
  };
  http: {
    enabled: boolean;
    trustedProxies: string[];
    clientAddressHeader: string;
    maxQueryBytes: number;
    maxScrapeHashes: number;
    maxConnections: number;
    maxConnectionsPerAddress: number;
    connectionGuard: 'auto' | 'required' | 'off';
  };
  webtorrent: {
    enabled: boolean;
    intervalSeconds: number;
    peerTimeoutSeconds: number;
    offerTtlSeconds: number;
    maxPendingOffers: number;
    maxMessageBytes: number;
    maxOffersPerAnnounce: number;
    maxTorrentsPerSocket: number;
    maxScrapeHashes: number;
    idleTimeoutSeconds: number;
    maxBackpressureBytes: number;
    maxPendingOffersPerSocket: number;
    maxTorrents: number;
    maxPeers: number;
    maxSocketsPerAddress: number;
    maxPeersPerAddress: number;
    maxMessagesPerSecond: number;
    messageBurst: number;
  };
  tls: { certFile: string; keyFile: string };
  node: { name: string };
  cluster: {
    membership: 'static' | 'kubernetes' | 'file';
    members: string;
    membersFile: string;
    kubernetesNamespace: string;
    kubernetesService: string;
    kubernetesPortName: string;
    kubeconfig: string;
    requestTimeoutMs: number;
    maxBatch: number;
    maxMessagesInFlight: number;
    maxQueuedRequests: number;
    maxMovedHops: number;
    movedWaitMs: number;
    handoffDeadlineSeconds: number;
    handoffBudgetMs: number;
    authToken: string;
    authTokenFile: string;
    tls: { certFile: string; keyFile: string; caFile: string; serverName: string; edgeName: string };
  };
  swarm: { grpcHost: string; grpcPort: number; maxPendingRelaysPerEdge: number };
  announce: {
    intervalSeconds: number;
    minIntervalSeconds: number;
    intervalJitterSeconds: number;
    numwantDefault: number;
    numwantMax: number;
    peerTimeoutSeconds: number;
  };
  store: {
    sweepIntervalMs: number;
    sweepBudgetMs: number;
    sweepMaxDutyPercent: number;
    maxTorrents: number;
    maxPeers: number;
    maxPeersPerAddressPerTorrent: number;
    maxPeersPerAddressPerReply: number;
    newTorrentsPerSecond: number;
    newTorrentsBurst: number;
    newTorrentsPrefixV4: number;
    newTorrentsPrefixV6: number;
    maxNewTorrentPrefixes: number;
  };
  snapshot: {
    redisUrl: string;
    redisMode: 'standalone' | 'sentinel' | 'cluster';
    redisSentinelName: string;
    redisSentinelPassword: string;
    keyPrefix: string;
    intervalSeconds: number;
    commandTimeoutMs: number;
    maxBytesInFlight: number;
    exportBudgetMs: number;
    restoreDeadlineSeconds: number;
    shutdownDeadlineSeconds: number;
  };
  accessList: { mode: 'off' | 'allow' | 'deny'; file: string; watch: boolean };
  private: {
    enabled: boolean;
    udp: 'off' | 'bep41';
    scrape: boolean;
    strictPort: boolean;
    numwantDefault: number;
    numwantMax: number;
    intervalSeconds: number;
    intervalDriftSeconds: number;
    minIntervalSeconds: number;
    peerInactivitySeconds: number;
    recordEvents: boolean;
    recordFolder: string;
    recordBufferBytes: number;
  };
  database: {
    url: string;
    host: string;
    port: number;
    socket: string;
    user: string;
    password: string;
    passwordFile: string;
    name: string;
    poolSize: number;
    connectTimeoutMs: number;
    queryTimeoutMs: number;
    reloadSeconds: number;
    flushSeconds: number;
    batchRows: number;
    usersQueue: number;
    torrentsQueue: number;
    transferHistoryQueue: number;
    transferIpsQueue: number;
    snatchesQueue: number;
    deadlockRetries: number;
    deadlockPauseMs: number;
  };
  hooks: {
    order: string[];
    clientApproval: { mode: 'allow' | 'deny'; prefixes: string[] };
    jwt: {
      issuer: string;
      audience: string;
      jwksFile: string;
      jwksUrl: string;
      refreshSeconds: number;
      algorithms: string[];
      parameter: string;
      requireExpiry: boolean;
      clockSkewSeconds: number;
      cacheSize: number;
      maxVerificationsPerSecond: number;
    };
    intervalVariation: { probabilityPercent: number; maxIncreaseSeconds: number; modifyMinInterval: boolean };
    announceRate: { minSeconds: number };
    sameSubnet: { prefixV4: number; prefixV6: number };
  };
  metrics: { enabled: boolean; host: string; port: number; maxConnections: number };
  log: { level: 'debug' | 'info' | 'warn' | 'error' };
  shutdown: { drainDelaySeconds: number; graceSeconds: number };
}
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const shapeMatches: Same<Config, ExpectedConfig> = true;
const sectionsMatch: Same<Config['udp'], ExpectedConfig['udp']> &
  Same<Config['http'], ExpectedConfig['http']> &
  Same<Config['accessList'], ExpectedConfig['accessList']> &
  Same<Config['log'], ExpectedConfig['log']> = true;

const DEFAULTS: ExpectedConfig = {
  host: '::',
  port: 6969,
  udp: {
    enabled: true,
    connectionIdKey: '',
    connectionIdTtlSeconds: 120,
    connectionIdSlackSeconds: 60,
    connectionIdFutureSkewSeconds: 5,
    maxScrapeHashes: 70,
    socketBufferBytes: 8 * 1024 * 1024,
    batchedIo: 'auto',
  },
  http: {
    enabled: true,
    trustedProxies: [],
    clientAddressHeader: 'x-forwarded-for',
    maxQueryBytes: 4096,
    maxScrapeHashes: 100,
    maxConnections: 100000,
    maxConnectionsPerAddress: 1024,
    connectionGuard: 'auto',
  },
  webtorrent: {
    enabled: true,
    intervalSeconds: 120,
    peerTimeoutSeconds: 300,
    offerTtlSeconds: 60,
    maxPendingOffers: 200000,
    maxMessageBytes: 65536,
    maxOffersPerAnnounce: 10,
    maxTorrentsPerSocket: 256,
    maxScrapeHashes: 100,
    idleTimeoutSeconds: 360,
    maxBackpressureBytes: 1048576,
    maxPendingOffersPerSocket: 1000,
    maxTorrents: 100000,
    maxPeers: 500000,
    maxSocketsPerAddress: 100,
    maxPeersPerAddress: 1000,
    maxMessagesPerSecond: 20,
    messageBurst: 300,
  },
  tls: { certFile: '', keyFile: '' },
  node: { name: '' },
  cluster: {
    membership: 'static',
    members: '',
    membersFile: '',
    kubernetesNamespace: '',
    kubernetesService: 'tracker-swarm',
    kubernetesPortName: 'grpc',
    kubeconfig: '',
    requestTimeoutMs: 2000,
    maxBatch: 256,
    maxMessagesInFlight: 64,
    maxQueuedRequests: 65536,
    maxMovedHops: 3,
    movedWaitMs: 500,
    handoffDeadlineSeconds: 30,
    handoffBudgetMs: 4,
    authToken: '',
    authTokenFile: '',
    tls: { certFile: '', keyFile: '', caFile: '', serverName: '{name}', edgeName: '{id}' },
  },
  swarm: { grpcHost: '::', grpcPort: 7000, maxPendingRelaysPerEdge: 10000 },
  announce: {
    intervalSeconds: 1800,
    minIntervalSeconds: 900,
    intervalJitterSeconds: 180,
    numwantDefault: 50,
    numwantMax: 200,
    peerTimeoutSeconds: 2700,
  },
  store: {
    sweepIntervalMs: 1000,
    sweepBudgetMs: 4,
    sweepMaxDutyPercent: 50,
    maxTorrents: 10_000_000,
    maxPeers: 50_000_000,
    maxPeersPerAddressPerTorrent: 32,
    maxPeersPerAddressPerReply: 8,
    newTorrentsPerSecond: 5,
    newTorrentsBurst: 500,
    newTorrentsPrefixV4: 32,
    newTorrentsPrefixV6: 64,
    maxNewTorrentPrefixes: 100_000,
  },
  snapshot: {
    redisUrl: '',
    redisMode: 'standalone',
    redisSentinelName: 'mymaster',
    redisSentinelPassword: '',
    keyPrefix: 'tracker:',
    intervalSeconds: 30,
    commandTimeoutMs: 2000,
    maxBytesInFlight: 8 * 1024 * 1024,
    exportBudgetMs: 4,
    restoreDeadlineSeconds: 10,
    shutdownDeadlineSeconds: 5,
  },
  accessList: { mode: 'off', file: '', watch: true },
  private: {
    enabled: false,
    udp: 'off',
    scrape: true,
    strictPort: false,
    numwantDefault: 25,
    numwantMax: 50,
    intervalSeconds: 1800,
    intervalDriftSeconds: 300,
    minIntervalSeconds: 900,
    peerInactivitySeconds: 3900,
    recordEvents: false,
    recordFolder: 'events',
    recordBufferBytes: 4 * 1024 * 1024,
  },
  database: {
    url: '',
    host: '127.0.0.1',
    port: 3306,
    socket: '',
    user: 'tracker',
    password: '',
    passwordFile: '',
    name: 'tracker',
    poolSize: 4,
    connectTimeoutMs: 5000,
    queryTimeoutMs: 30_000,
    reloadSeconds: 45,
    flushSeconds: 3,
    batchRows: 1000,
    usersQueue: 100_000,
    torrentsQueue: 100_000,
    transferHistoryQueue: 200_000,
    transferIpsQueue: 200_000,
    snatchesQueue: 50_000,
    deadlockRetries: 5,
    deadlockPauseMs: 1000,
  },
  hooks: {
    order: ['torrentApproval'],
    clientApproval: { mode: 'allow', prefixes: [] },
    jwt: {
      issuer: '',
      audience: '',
      jwksFile: '',
      jwksUrl: '',
      refreshSeconds: 300,
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      parameter: 'jwt',
      requireExpiry: true,
      clockSkewSeconds: 30,
      cacheSize: 100_000,
      maxVerificationsPerSecond: 2000,
    },
    intervalVariation: { probabilityPercent: 50, maxIncreaseSeconds: 60, modifyMinInterval: false },
    announceRate: { minSeconds: 60 },
    sameSubnet: { prefixV4: 24, prefixV6: 64 },
  },
  metrics: { enabled: true, host: '::', port: 9000, maxConnections: 64 },
  log: { level: 'info' },
  shutdown: { drainDelaySeconds: 5, graceSeconds: 10 },
};

const KEY64 = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tracker-config-'));
}

function writeYaml(dir: string, text: string, name = 'config.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function load(argv: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return loadConfig({ argv, env });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('config defaults', () => {
  test('the exported type has the agreed shape', () => {
    assert.equal(shapeMatches, true);
    assert.equal(sectionsMatch, true);
  });

  test('no input gives the documented defaults', () => {
    const result = load();
    assert.deepEqual(result.config, DEFAULTS);
    assert.deepEqual(defaultConfig(), DEFAULTS);
    assert.equal(result.printConfig, false);
    assert.equal(result.help, false);
    assert.equal(result.configFile, undefined);
    assert.deepEqual(result.positionals, []);
    assert.deepEqual(result.warnings, []);
  });

  test('defaultConfig returns fresh objects', () => {
    const a = defaultConfig();
    a.http.trustedProxies.push('10.0.0.0/8');
    a.udp.enabled = false;
    assert.deepEqual(defaultConfig(), DEFAULTS);
  });

  test('env and flag names are derived from the key path', () => {
    const keys = new Map(configKeys().map((k) => [k.key, k]));
    assert.equal(keys.get('udp.connectionIdKey')?.env, 'TRACKER_UDP__CONNECTION_ID_KEY');
    assert.equal(keys.get('port')?.env, 'TRACKER_PORT');
    assert.equal(keys.get('announce.numwantMax')?.env, 'TRACKER_ANNOUNCE__NUMWANT_MAX');
    assert.equal(keys.get('accessList.mode')?.env, 'TRACKER_ACCESS_LIST__MODE');
    assert.equal(keys.get('store.sweepIntervalMs')?.flag, '--store.sweepIntervalMs');
    assert.equal(keys.get('cluster.tls.certFile')?.env, 'TRACKER_CLUSTER__TLS__CERT_FILE');
    assert.equal(keys.get('udp.batchedIo')?.env, 'TRACKER_UDP__BATCHED_IO', 'the name .ci/run sets');
    assert.equal(keys.get('hooks.clientApproval.prefixes')?.env, 'TRACKER_HOOKS__CLIENT_APPROVAL__PREFIXES');
    assert.equal(keys.size, 157);
    for (const k of keys.values()) assert.ok(k.doc.length > 10, `${k.key} has a doc`);
  });
});

describe('config precedence', () => {
  test('defaults < file < env < flags', () => {
    const dir = tempDir();
    try {
      const file = writeYaml(dir, 'port: 1000\nannounce:\n  numwantMax: 300\n  numwantDefault: 20\nlog:\n  level: warn\n');
      const fileOnly = load(['--config', file]);
      assert.equal(fileOnly.config.port, 1000);
      assert.equal(fileOnly.config.announce.numwantMax, 300);
      assert.equal(fileOnly.config.announce.numwantDefault, 20);
      assert.equal(fileOnly.config.log.level, 'warn');
      assert.equal(fileOnly.config.announce.intervalSeconds, 1800);
      assert.equal(fileOnly.configFile, file);

      const withEnv = load([`--config=${file}`], { TRACKER_PORT: '2000', TRACKER_LOG__LEVEL: 'debug' });
      assert.equal(withEnv.config.port, 2000);
      assert.equal(withEnv.config.log.level, 'debug');
      assert.equal(withEnv.config.announce.numwantMax, 300);

      const withFlag = load([`--config=${file}`, '--port=3000'], { TRACKER_PORT: '2000' });
      assert.equal(withFlag.config.port, 3000);
      assert.equal(withFlag.config.log.level, 'warn');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('TRACKER_CONFIG names the file; --config wins over it', () => {
    const dir = tempDir();
    try {
      const a = writeYaml(dir, 'port: 1111\n', 'a.yaml');
      const b = writeYaml(dir, 'port: 2222\n', 'b.yaml');
      const fromEnv = load([], { TRACKER_CONFIG: a });
      assert.equal(fromEnv.config.port, 1111);
      assert.equal(fromEnv.configFile, a);
      const fromFlag = load(['--config', b], { TRACKER_CONFIG: a });
      assert.equal(fromFlag.config.port, 2222);
      assert.equal(fromFlag.configFile, b);
      assert.equal(load([], { TRACKER_CONFIG: '' }).configFile, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a later flag wins over an earlier one', () => {
    assert.equal(load(['--port=1', '--port', '2']).config.port, 2);
  });

  test('cross-field checks see the merged result', () => {
    // file sets a low interval, env lowers the min interval to fit: valid.
    const dir = tempDir();
    try {
      const file = writeYaml(dir, 'announce:\n  intervalSeconds: 60\n');
      assert.throws(() => load(['--config', file]), ConfigError);
      const ok = load(['--config', file], { TRACKER_ANNOUNCE__MIN_INTERVAL_SECONDS: '30' });
      assert.equal(ok.config.announce.intervalSeconds, 60);
      assert.equal(ok.config.announce.minIntervalSeconds, 30);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('config environment variables', () => {
  test('nested keys, booleans, lists and enums', () => {
    const { config } = load([], {
      TRACKER_UDP__CONNECTION_ID_KEY: KEY64,
      TRACKER_UDP__ENABLED: 'false',
      TRACKER_HTTP__TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.1 ,fd00::/8',
      TRACKER_HTTP__CLIENT_ADDRESS_HEADER: 'X-Real-IP',
      TRACKER_ACCESS_LIST__MODE: 'deny',
      TRACKER_ACCESS_LIST__FILE: '/etc/tracker/list.txt',
      TRACKER_ACCESS_LIST__WATCH: 'no',
      TRACKER_METRICS__PORT: '9100',
      TRACKER_HOST: '0.0.0.0',
    });
    assert.equal(config.udp.connectionIdKey, KEY64);
    assert.equal(config.udp.enabled, false);
    assert.deepEqual(config.http.trustedProxies, ['10.0.0.0/8', '192.168.1.1', 'fd00::/8']);
    assert.equal(config.http.clientAddressHeader, 'x-real-ip', 'header is lower-cased');
    assert.equal(config.accessList.mode, 'deny');
    assert.equal(config.accessList.file, '/etc/tracker/list.txt');
    assert.equal(config.accessList.watch, false);
    assert.equal(config.metrics.port, 9100);
    assert.equal(config.host, '0.0.0.0');
  });

  test('boolean spellings', () => {
    for (const word of ['true', 'TRUE', '1', 'yes', 'on']) assert.equal(load([], { TRACKER_METRICS__ENABLED: word }).config.metrics.enabled, true);
    for (const word of ['false', 'False', '0', 'no', 'off']) assert.equal(load([], { TRACKER_METRICS__ENABLED: word }).config.metrics.enabled, false);
  });

  test('an empty list variable means no entries', () => {
    assert.deepEqual(load([], { TRACKER_HTTP__TRUSTED_PROXIES: '' }).config.http.trustedProxies, []);
  });

  test('the connection id key is trimmed (Secrets often end in a newline)', () => {
    assert.equal(load([], { TRACKER_UDP__CONNECTION_ID_KEY: `${KEY64}\n` }).config.udp.connectionIdKey, KEY64);
  });

  test('unknown TRACKER_* variables are errors, with a suggestion', () => {
    const e = configError(() => load([], { TRACKER_UDP_ENABLED: 'true' }));
    assert.match(e.message, /unknown key/);
    assert.match(e.message, /env TRACKER_UDP_ENABLED/);
    assert.match(e.message, /TRACKER_UDP__ENABLED/);
    const typo = configError(() => load([], { TRACKER_ANNOUNCE__NUMWANT_MAXX: '5' }));
    assert.equal(typo.key, 'announce.numwantMaxx');
    assert.match(typo.message, /did you mean "TRACKER_ANNOUNCE__NUMWANT_MAX"/);
  });

  test('a section name as a variable is an error', () => {
    const e = configError(() => load([], { TRACKER_UDP: 'x' }));
    assert.equal(e.key, 'udp');
    assert.match(e.message, /section/);
  });

  test('other variables and TRACKER_CONFIG are not config keys', () => {
    const result = load([], { PATH: '/bin', HOME: '/root', tracker_port: 'x', TRACKER_CONFIG: '' });
    assert.deepEqual(result.config, DEFAULTS);
  });

  test('Kubernetes service-link variables are ignored with a warning', () => {
    const result = load([], {
      TRACKER_PORT: 'udp://10.96.0.10:6969',
      TRACKER_SERVICE_HOST: '10.96.0.10',
      TRACKER_SERVICE_PORT: '6969',
      TRACKER_PORT_6969_UDP: 'udp://10.96.0.10:6969',
      TRACKER_PORT_6969_UDP_ADDR: '10.96.0.10',
      TRACKER_EDGE_PORT: 'tcp://10.96.0.11:6969',
      TRACKER_EDGE_SERVICE_PORT_HTTP: '6969',
    });
    assert.equal(result.config.port, 6969);
    assert.equal(result.warnings.length, 7);
    assert.match(result.warnings[0], /enableServiceLinks/);
  });
});

describe('config flags', () => {
  test('--key=value, --key value, bare booleans, lists, positionals', () => {
    const result = load([
      'all-in-one',
      `--udp.connectionIdKey=${KEY64}`,
      '--port',
      '7000',
      '--http.enabled=false',
      '--udp.enabled',
      '--metrics.enabled',
      'false',
      '--accessList.watch=off',
      '--http.trustedProxies',
      '10.0.0.0/8,::1',
      'extra',
    ]);
    assert.equal(result.config.udp.connectionIdKey, KEY64);
    assert.equal(result.config.port, 7000);
    assert.equal(result.config.http.enabled, false);
    assert.equal(result.config.udp.enabled, true);
    assert.equal(result.config.metrics.enabled, false);
    assert.equal(result.config.accessList.watch, false);
    assert.deepEqual(result.config.http.trustedProxies, ['10.0.0.0/8', '::1']);
    assert.deepEqual(result.positionals, ['all-in-one', 'extra']);
  });

  test('a bare boolean does not swallow a following positional', () => {
    const result = load(['--udp.enabled', 'all-in-one']);
    assert.equal(result.config.udp.enabled, true);
    assert.deepEqual(result.positionals, ['all-in-one']);
  });

  test('--print-config, --help and -h', () => {
    assert.equal(load(['--print-config']).printConfig, true);
    assert.equal(load(['--print-config=false']).printConfig, false);
    assert.equal(load(['--help']).help, true);
    assert.equal(load(['-h']).help, true);
  });

  test('"--" ends the flags', () => {
    const result = load(['--port=1', '--', '--port=2', 'x']);
    assert.equal(result.config.port, 1);
    assert.deepEqual(result.positionals, ['--port=2', 'x']);
  });

  test('negative numbers are values, and get a range error', () => {
    const e = configError(() => load(['--store.sweepBudgetMs', '-1']));
    assert.equal(e.key, 'store.sweepBudgetMs');
    assert.match(e.message, /between 1 and 1000, got "-1"/);
  });

  test('extraFlags belong to the caller', () => {
    const result = loadConfig({ argv: ['loadtest', '--rate', '500', '--verbose', '--port=1'], env: {}, extraFlags: ['rate', 'verbose'] });
    assert.deepEqual(result.extraFlags, { rate: '500', verbose: true });
    assert.equal(result.config.port, 1);
    assert.deepEqual(result.positionals, ['loadtest']);
  });

  test('extraEnv belongs to the caller', () => {
    const result = loadConfig({ argv: [], env: { TRACKER_POD_NAME: 'edge-0' }, extraEnv: ['TRACKER_POD_NAME'] });
    assert.deepEqual(result.config, DEFAULTS);
    configError(() => load([], { TRACKER_POD_NAME: 'edge-0' }));
  });

  test('unknown flags are errors, with a suggestion', () => {
    const e = configError(() => load(['--udp.connectionIdkey=ab']));
    assert.equal(e.key, 'udp.connectionIdkey');
    assert.match(e.message, /unknown key \(from flag --udp.connectionIdkey\); did you mean "--udp.connectionIdKey"\?/);
    const single = configError(() => load(['-p', '1']));
    assert.match(single.message, /unknown flag/);
    const section = configError(() => load(['--announce=1']));
    assert.equal(section.key, 'announce');
  });

  test('a flag without its value is an error naming the key', () => {
    const e = configError(() => load(['--port']));
    assert.equal(e.key, 'port');
    assert.match(e.message, /needs a value/);
    const f = configError(() => load(['--config']));
    assert.equal(f.key, 'config');
  });
});

describe('config errors name the key', () => {
  const bad: Record<string, string> = {
    host: ' ',
    port: '70000',
    'udp.enabled': 'maybe',
    'udp.connectionIdKey': 'not-hex-not-hex-not-hex-not-hex-!',
    'udp.connectionIdTtlSeconds': '0',
    'udp.connectionIdSlackSeconds': '-5',
    'udp.connectionIdFutureSkewSeconds': '1.5',
    'udp.maxScrapeHashes': '0',
    'udp.socketBufferBytes': '12MB',
    'udp.batchedIo': 'native',
    'http.enabled': 'enabled',
    'http.trustedProxies': '10.0.0.0/8,not-an-ip',
    'http.clientAddressHeader': 'bad header',
    'http.maxQueryBytes': '1',
    'http.maxScrapeHashes': 'lots',
    'http.maxConnections': '0',
    'http.maxConnectionsPerAddress': '1k',
    'http.connectionGuard': 'sometimes',
    'webtorrent.enabled': 'maybe',
    'tls.certFile': '/nonexistent/cert.pem',
    'node.name': 'bad name!',
    'cluster.membership': 'dns',
    'cluster.members': 'swarm-0=nowhere',
    'cluster.requestTimeoutMs': '10',
    'cluster.maxBatch': '0',
    'cluster.maxMessagesInFlight': 'many',
    'cluster.maxQueuedRequests': '0',
    'cluster.membersFile': '/nonexistent/members',
    'cluster.maxMovedHops': '17',
    'cluster.movedWaitMs': '-1',
    'cluster.handoffDeadlineSeconds': '3601',
    'cluster.handoffBudgetMs': '0',
    'cluster.authToken': 'too-short-for-a-secret',
    'cluster.authTokenFile': '/nonexistent/token',
    'cluster.tls.certFile': '/nonexistent/cert.pem',
    'cluster.tls.keyFile': '/nonexistent/key.pem',
    'cluster.tls.caFile': '/nonexistent/ca.pem',
    'cluster.tls.serverName': 'swarm {name}',
    'cluster.tls.edgeName': '',
    'swarm.grpcHost': '',
    'swarm.grpcPort': '65536',
    'swarm.maxPendingRelaysPerEdge': '0',
    'tls.keyFile': '/nonexistent/key.pem',
    'webtorrent.intervalSeconds': '5',
    'webtorrent.peerTimeoutSeconds': '-1',
    'webtorrent.offerTtlSeconds': '0',
    'webtorrent.maxPendingOffers': '10',
    'webtorrent.maxMessageBytes': '1MB',
    'webtorrent.maxOffersPerAnnounce': '101',
    'webtorrent.maxTorrentsPerSocket': '0',
    'webtorrent.maxScrapeHashes': '1.5',
    'webtorrent.idleTimeoutSeconds': '4',
    'webtorrent.maxBackpressureBytes': '1',
    'webtorrent.maxPendingOffersPerSocket': '5',
    'webtorrent.maxTorrents': '0',
    'webtorrent.maxPeers': 'many',
    'webtorrent.maxSocketsPerAddress': '0',
    'webtorrent.maxPeersPerAddress': '-3',
    'webtorrent.maxMessagesPerSecond': '0.5',
    'webtorrent.messageBurst': '0',
    'announce.intervalSeconds': '0x10',
    'announce.minIntervalSeconds': '0',
    'announce.intervalJitterSeconds': '99999',
    'announce.numwantDefault': '0',
    'announce.numwantMax': 'abc',
    'announce.peerTimeoutSeconds': '1e3',
    'store.sweepIntervalMs': '1',
    'store.sweepBudgetMs': '0',
    'store.sweepMaxDutyPercent': '101',
    'store.maxTorrents': '0',
    'store.maxPeers': '1e6',
    'store.maxPeersPerAddressPerTorrent': '1025',
    'store.maxPeersPerAddressPerReply': '0',
    'store.newTorrentsPerSecond': '-1',
    'store.newTorrentsBurst': '0',
    'store.newTorrentsPrefixV4': '33',
    'store.newTorrentsPrefixV6': '128',
    'store.maxNewTorrentPrefixes': '10',
    'snapshot.redisUrl': 'http://redis:6379',
    'snapshot.redisMode': 'replica',
    'snapshot.redisSentinelName': ' ',
    'snapshot.intervalSeconds': '0',
    'snapshot.commandTimeoutMs': '10',
    'snapshot.maxBytesInFlight': '1KB',
    'snapshot.exportBudgetMs': '0',
    'snapshot.restoreDeadlineSeconds': '0',
    'snapshot.shutdownDeadlineSeconds': '601',
    'accessList.mode': 'whitelist',
    'accessList.watch': '2',
    'hooks.order': 'jwt,passkey',
    'hooks.clientApproval.mode': 'allowlist',
    'hooks.clientApproval.prefixes': '-qB,-xxxxxxxxxxxxxxxxxxxx',
    'hooks.jwt.jwksFile': '/nonexistent/jwks.json',
    'hooks.jwt.jwksUrl': 'ftp://keys.example/jwks.json',
    'hooks.jwt.refreshSeconds': '1',
    'hooks.jwt.algorithms': 'RS256,HS256',
    'hooks.jwt.parameter': 'j w t',
    'hooks.jwt.requireExpiry': 'sometimes',
    'hooks.jwt.clockSkewSeconds': '3601',
    'hooks.jwt.cacheSize': '-1',
    'hooks.jwt.maxVerificationsPerSecond': '0',
    'hooks.intervalVariation.probabilityPercent': '0',
    'hooks.intervalVariation.maxIncreaseSeconds': '0',
    'hooks.intervalVariation.modifyMinInterval': 'maybe',
    'hooks.announceRate.minSeconds': '0',
    'hooks.sameSubnet.prefixV4': '33',
    'hooks.sameSubnet.prefixV6': '129',
    'metrics.enabled': 'y',
    'metrics.host': '[::1]',
    'metrics.port': '-1',
    'metrics.maxConnections': '0',
    'log.level': 'trace',
    'shutdown.drainDelaySeconds': '-1',
    'shutdown.graceSeconds': 'ten',
    'private.enabled': 'maybe',
    'private.udp': 'passkey',
    'private.scrape': '2',
    'private.strictPort': 'strict',
    'private.numwantDefault': '0',
    'private.numwantMax': '1001',
    'private.intervalSeconds': '59',
    'private.intervalDriftSeconds': '-1',
    'private.minIntervalSeconds': '0',
    'private.peerInactivitySeconds': '30',
    'private.recordEvents': 'y',
    'private.recordFolder': ' ',
    'private.recordBufferBytes': '1024',
    'database.url': 'http://db/site',
    'database.host': '',
    'database.port': '0',
    'database.socket': 'relative/sock',
    'database.user': ' ',
    'database.passwordFile': '/nonexistent/password',
    'database.name': 'site db',
    'database.poolSize': '0',
    'database.connectTimeoutMs': '10',
    'database.queryTimeoutMs': '10',
    'database.reloadSeconds': '0',
    'database.flushSeconds': '0',
    'database.batchRows': '0',
    'database.usersQueue': '0',
    'database.torrentsQueue': '0',
    'database.transferHistoryQueue': '0',
    'database.transferIpsQueue': '0',
    'database.snatchesQueue': '0',
    'database.deadlockRetries': '101',
    'database.deadlockPauseMs': '-1',
  };

  // Free-text keys (paths and Kubernetes names) accept any string.
  const FREE_TEXT = new Set(['accessList.file', 'cluster.kubernetesNamespace', 'cluster.kubernetesService', 'cluster.kubernetesPortName', 'cluster.kubeconfig', 'snapshot.redisSentinelPassword', 'snapshot.keyPrefix', 'hooks.jwt.issuer', 'hooks.jwt.audience']);
  FREE_TEXT.add('database.password');
  test('every key is covered (free-text keys are checked via YAML below)', () => {
    const keys = configKeys()
      .map((k) => k.key)
      .filter((k) => !FREE_TEXT.has(k));
    assert.deepEqual(Object.keys(bad).sort(), keys.sort());
  });

  for (const info of configKeys()) {
    const value = bad[info.key];
    if (value === undefined) continue;
    test(`${info.key} from env and from a flag`, () => {
      const fromEnv = configError(() => load([], { [info.env]: value }));
      assert.equal(fromEnv.key, info.key);
      assert.ok(fromEnv.message.startsWith(`config key "${info.key}": must be ${info.allowed}, got `), fromEnv.message);
      assert.ok(fromEnv.message.includes(`(from env ${info.env})`), fromEnv.message);

      const fromFlag = configError(() => load([`${info.flag}=${value}`]));
      assert.equal(fromFlag.key, info.key);
      assert.ok(fromFlag.message.includes(`(from flag ${info.flag})`), fromFlag.message);
    });
  }

  test('the message has the documented form', () => {
    const e = configError(() => load([], { TRACKER_ANNOUNCE__NUMWANT_MAX: 'abc' }));
    assert.equal(
      e.message,
      'config key "announce.numwantMax": must be an integer between 1 and 1000, got "abc" (from env TRACKER_ANNOUNCE__NUMWANT_MAX)',
    );
    assert.equal(e.name, 'ConfigError');
  });

  test('the connection id key is never echoed', () => {
    const secret = 'abcdefabcdefabcdefabcdefabcdefabcdef0'; // 37 hex digits: odd
    const e = configError(() => load([], { TRACKER_UDP__CONNECTION_ID_KEY: secret }));
    assert.ok(!e.message.includes(secret));
    assert.match(e.message, /odd number of hex digits/);
  });

  test('connection id key length bounds', () => {
    assert.equal(load([`--udp.connectionIdKey=${'a'.repeat(32)}`]).config.udp.connectionIdKey, 'a'.repeat(32));
    assert.equal(load([`--udp.connectionIdKey=${'A'.repeat(128)}`]).config.udp.connectionIdKey, 'A'.repeat(128));
    assert.equal(configError(() => load([`--udp.connectionIdKey=${'a'.repeat(30)}`])).key, 'udp.connectionIdKey');
    assert.equal(configError(() => load([`--udp.connectionIdKey=${'a'.repeat(130)}`])).key, 'udp.connectionIdKey');
  });

  test('trusted proxies must be CIDRs or addresses, and the bad entry is named', () => {
    const e = configError(() => load(['--http.trustedProxies=10.0.0.0/8,10.0.0.0/33']));
    assert.equal(e.key, 'http.trustedProxies');
    assert.match(e.message, /"10\.0\.0\.0\/33": prefix length/);
    assert.deepEqual(load(['--http.trustedProxies=::ffff:10.0.0.0/104,2001:db8::1']).config.http.trustedProxies, [
      '::ffff:10.0.0.0/104',
      '2001:db8::1',
    ]);
  });
});

describe('config snapshot.redisUrl', () => {
  test('standalone, sentinel and cluster URLs are accepted; empty means no snapshots', () => {
    assert.equal(load().config.snapshot.redisUrl, '');
    assert.equal(load(['--snapshot.redisUrl= redis://:pw@redis:6379/2 ']).config.snapshot.redisUrl, 'redis://:pw@redis:6379/2');
    assert.equal(load(['--snapshot.redisUrl=rediss://user:pw@[::1]:6380']).config.snapshot.redisUrl, 'rediss://user:pw@[::1]:6380');
    const sentinel = load(['--snapshot.redisMode=sentinel', '--snapshot.redisUrl=redis://:pw@s0:26379,redis://:pw@s1:26379']).config.snapshot;
    assert.equal(sentinel.redisMode, 'sentinel');
    assert.equal(load(['--snapshot.redisMode=cluster', '--snapshot.redisUrl=redis://n0:7000,redis://n1:7001/0']).config.snapshot.redisMode, 'cluster');
  });

  test('a bad URL is named by position and never echoed (it may carry a password)', () => {
    const cases: Array<[string, RegExp]> = [
      ['redis://:secretpw@h:1,not a url', /URL 2 is not a URL/],
      ['redis://:secretpw@h:1,http://:secretpw@h', /URL 2 must start with redis:\/\/ or rediss:\/\//],
      ['redis:///3', /has no host/],
      ['redis://:secretpw@h:1/db0', /path other than a database number/],
      ['redis://:secretpw@h:1,redis://:otherpw@h:2', /URL 2 differs from URL 1 in scheme, user or password/],
    ];
    for (const [value, message] of cases) {
      const e = configError(() => load(['--snapshot.redisMode=cluster'], { TRACKER_SNAPSHOT__REDIS_URL: value }));
      assert.equal(e.key, 'snapshot.redisUrl');
      assert.match(e.message, message);
      assert.ok(!e.message.includes('secretpw') && !e.message.includes('otherpw'), e.message);
    }
  });

  test('standalone takes one URL; cluster has only database 0; both name the key', () => {
    const two = configError(() => load(['--snapshot.redisUrl=redis://a:1,redis://b:2']));
    assert.equal(two.key, 'snapshot.redisUrl');
    assert.match(two.message, /standalone mode takes one URL, got 2.*snapshot\.redisMode/);
    const db = configError(() => load(['--snapshot.redisMode=cluster', '--snapshot.redisUrl=redis://a:1/3']));
    assert.equal(db.key, 'snapshot.redisUrl');
    assert.match(db.message, /only database 0/);
  });

  test('URLs and the sentinel password are redacted in printed config', () => {
    const { config } = load(['--snapshot.redisUrl=redis://:secretpw@h:1', '--snapshot.redisSentinelPassword=sentinelpw']);
    const yaml = configToYaml(config);
    assert.ok(!yaml.includes('secretpw') && !yaml.includes('sentinelpw'));
  });
});

describe('config private and database', () => {
  test('private mode is off by default and its checks apply only when it is on', () => {
    assert.equal(load().config.private.enabled, false);
    assert.equal(load(['--private.numwantDefault=80']).config.private.numwantDefault, 80);
    const e = configError(() => load(['--private.enabled', '--private.numwantDefault=80']));
    assert.equal(e.key, 'private.numwantDefault');
    assert.match(e.message, /at most private\.numwantMax \(50/);
    assert.equal(configError(() => load(['--private.enabled', '--private.minIntervalSeconds=2000'])).key, 'private.minIntervalSeconds');
    const idle = configError(() => load(['--private.enabled', '--private.peerInactivitySeconds=2000']));
    assert.equal(idle.key, 'private.peerInactivitySeconds');
    assert.match(idle.message, /longer than private\.intervalSeconds \+ private\.intervalDriftSeconds \(2100\)/);
  });

  test('a bad database.url is named and never echoed (it carries the password)', () => {
    for (const [value, message] of [
      ['not a url secretpw', /not a URL/],
      ['postgres://u:secretpw@h/db', /must start with mysql:\/\//],
      ['mysql://u:secretpw@h:3306', /must name the database/],
    ] as const) {
      const e = configError(() => load([], { TRACKER_DATABASE__URL: value }));
      assert.equal(e.key, 'database.url');
      assert.match(e.message, message);
      assert.ok(!e.message.includes('secretpw'), e.message);
    }
    assert.equal(load(['--database.url=mysql://u:pw@db:3306/site']).config.database.url, 'mysql://u:pw@db:3306/site');
  });

  test('the password is given once, and never printed', () => {
    assert.equal(configError(() => load(['--database.password=pw', `--database.passwordFile=${process.execPath}`])).key, 'database.passwordFile');
    assert.equal(configError(() => load(['--database.url=mysql://u:pw@db/site', '--database.password=pw2'])).key, 'database.password');
    const { config } = load(['--database.password=secretpw', '--private.enabled']);
    const yaml = configToYaml(config);
    assert.ok(!yaml.includes('secretpw'), 'database.password is redacted');
    assert.ok(!configToYaml(load(['--database.url=mysql://u:secretpw@db/site']).config).includes('secretpw'), 'database.url is redacted');
    assert.ok(configToYaml(config, { redactSecrets: false }).includes('secretpw'), 'positive control: the value is there unredacted');
  });
});

describe('config cross-field checks', () => {
  test('cluster.tls: certFile and keyFile go together; the auth token is given once and never echoed', () => {
    assert.equal(configError(() => load([`--cluster.tls.certFile=${process.execPath}`])).key, 'cluster.tls.keyFile');
    assert.equal(configError(() => load([`--cluster.tls.keyFile=${process.execPath}`])).key, 'cluster.tls.certFile');
    const token = 'x'.repeat(40);
    assert.equal(load([`--cluster.authToken=${token}`]).config.cluster.authToken, token);
    assert.equal(configError(() => load([`--cluster.authToken=${token}`, `--cluster.authTokenFile=${process.execPath}`])).key, 'cluster.authTokenFile');
    const short = 'secret-but-short';
    const e = configError(() => load([], { TRACKER_CLUSTER__AUTH_TOKEN: short }));
    assert.equal(e.key, 'cluster.authToken');
    assert.ok(!e.message.includes(short), e.message);
  });

  test('webtorrent.idleTimeoutSeconds must be longer than webtorrent.intervalSeconds (clients send a message once per interval)', () => {
    const e = configError(() => load(['--webtorrent.idleTimeoutSeconds=120']));
    assert.equal(e.key, 'webtorrent.idleTimeoutSeconds');
    assert.match(e.message, /must be longer than webtorrent\.intervalSeconds \(120, default\), got 120 \(from flag --webtorrent\.idleTimeoutSeconds\)/);
    const interval = configError(() => load([], { TRACKER_WEBTORRENT__INTERVAL_SECONDS: '400' }));
    assert.equal(interval.key, 'webtorrent.intervalSeconds', 'blames the key that was set');
    assert.match(interval.message, /must be shorter than webtorrent\.idleTimeoutSeconds \(360, default\), got 400/);
    assert.equal(load(['--webtorrent.intervalSeconds=10', '--webtorrent.idleTimeoutSeconds=11']).config.webtorrent.idleTimeoutSeconds, 11);
    assert.equal(load(['--webtorrent.intervalSeconds=400', '--webtorrent.idleTimeoutSeconds=1200']).config.webtorrent.intervalSeconds, 400);
  });

  test('minIntervalSeconds <= intervalSeconds', () => {
    const low = configError(() => load(['--announce.minIntervalSeconds=2000']));
    assert.equal(low.key, 'announce.minIntervalSeconds');
    assert.match(low.message, /must be at most announce\.intervalSeconds \(1800, default\), got 2000 \(from flag/);
    const high = configError(() => load([], { TRACKER_ANNOUNCE__INTERVAL_SECONDS: '600' }));
    assert.equal(high.key, 'announce.intervalSeconds', 'blames the key that was set');
    assert.match(high.message, /must be at least announce\.minIntervalSeconds \(900, default\), got 600/);
    assert.equal(load(['--announce.minIntervalSeconds=1800']).config.announce.minIntervalSeconds, 1800);
  });

  test('numwantDefault <= numwantMax', () => {
    const e = configError(() => load(['--announce.numwantMax=10']));
    assert.equal(e.key, 'announce.numwantMax');
    const f = configError(() => load(['--announce.numwantMax=10', '--announce.numwantDefault=11']));
    assert.equal(f.key, 'announce.numwantDefault');
    assert.equal(load(['--announce.numwantMax=10', '--announce.numwantDefault=10']).config.announce.numwantMax, 10);
  });

  test('an access list mode other than off needs a file', () => {
    for (const mode of ['allow', 'deny']) {
      const e = configError(() => load([`--accessList.mode=${mode}`]));
      assert.equal(e.key, 'accessList.file');
      assert.match(e.message, new RegExp(`accessList\\.mode is "${mode}"`));
    }
    assert.equal(load(['--accessList.mode=allow', '--accessList.file=list.txt']).config.accessList.mode, 'allow');
    assert.equal(load(['--accessList.file=list.txt']).config.accessList.mode, 'off');
  });

  test('metrics and the tracker cannot share a TCP port', () => {
    const e = configError(() => load(['--metrics.port=6969']));
    assert.equal(e.key, 'metrics.port');
    assert.ok(load(['--metrics.port=6969', '--metrics.enabled=false']));
    assert.ok(load(['--port=0', '--metrics.port=0']));
  });

  test('a peer timeout shorter than the interval is a warning', () => {
    const result = load(['--announce.peerTimeoutSeconds=60']);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0], /peerTimeoutSeconds/);
  });
});

describe('config file', () => {
  test('missing, unreadable and invalid files name the file', () => {
    const dir = tempDir();
    try {
      const missing = join(dir, 'nope.yaml');
      const e1 = configError(() => load(['--config', missing]));
      assert.equal(e1.key, 'config');
      assert.ok(e1.message.includes(missing));
      const e2 = configError(() => load(['--config', dir])); // a directory: EISDIR
      assert.ok(e2.message.includes(dir));
      const broken = writeYaml(dir, 'port: [1, 2\nudp: {', 'broken.yaml');
      const e3 = configError(() => load([], { TRACKER_CONFIG: broken }));
      assert.ok(e3.message.includes(broken));
      assert.match(e3.message, /invalid YAML/);
      const dup = writeYaml(dir, 'port: 1\nport: 2\n', 'dup.yaml');
      assert.match(configError(() => load(['--config', dup])).message, /invalid YAML/);
      const list = writeYaml(dir, '- port\n', 'list.yaml');
      assert.match(configError(() => load(['--config', list])).message, /mapping/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('unknown and misplaced keys in the file are errors', () => {
    const dir = tempDir();
    try {
      const typo = writeYaml(dir, 'udp:\n  connectionIdTTLSeconds: 5\n', 'a.yaml');
      const e1 = configError(() => load(['--config', typo]));
      assert.equal(e1.key, 'udp.connectionIdTTLSeconds');
      assert.match(e1.message, /unknown key \(from file .*a\.yaml\); did you mean "udp\.connectionIdTtlSeconds"/);
      const top = writeYaml(dir, 'prot: 5\n', 'b.yaml');
      assert.match(configError(() => load(['--config', top])).message, /did you mean "port"/);
      const scalarSection = writeYaml(dir, 'udp: true\n', 'c.yaml');
      assert.equal(configError(() => load(['--config', scalarSection])).key, 'udp');
      const flat = writeYaml(dir, 'numwantMax: 5\n', 'd.yaml');
      assert.equal(configError(() => load(['--config', flat])).key, 'numwantMax');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('YAML types: numbers, quoted numbers, lists, empty sections, empty file', () => {
    const dir = tempDir();
    try {
      const file = writeYaml(
        dir,
        [
          'port: "7000"',
          'udp:',
          '  connectionIdKey: "' + KEY64 + '"',
          'http:',
          '  trustedProxies:',
          '    - 10.0.0.0/8',
          '    - "::1"',
          '  clientAddressHeader: X-Forwarded-For',
          'announce:      # every key commented out',
          '#  intervalSeconds: 1800',
          'accessList:',
          '  mode: allow',
          '  file: /data/list.txt',
          '',
        ].join('\n'),
      );
      const { config } = load(['--config', file]);
      assert.equal(config.port, 7000);
      assert.equal(config.udp.connectionIdKey, KEY64);
      assert.deepEqual(config.http.trustedProxies, ['10.0.0.0/8', '::1']);
      assert.equal(config.http.clientAddressHeader, 'x-forwarded-for');
      assert.deepEqual(config.announce, DEFAULTS.announce);
      assert.equal(config.accessList.mode, 'allow');
      const empty = writeYaml(dir, '# nothing here\n', 'empty.yaml');
      assert.deepEqual(load(['--config', empty]).config, DEFAULTS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('YAML type errors name the key and the file', () => {
    const dir = tempDir();
    try {
      const file = writeYaml(dir, 'accessList:\n  file: 123\n');
      const e = configError(() => load(['--config', file]));
      assert.equal(e.key, 'accessList.file');
      assert.ok(e.message.includes(`(from file ${file})`));
      assert.match(e.message, /quote it/);
      const nul = writeYaml(dir, 'host:\n', 'n.yaml');
      assert.match(configError(() => load(['--config', nul])).message, /write "" for an empty value/);
      const float = writeYaml(dir, 'port: 69.5\n', 'f.yaml');
      assert.equal(configError(() => load(['--config', float])).key, 'port');
      const obj = writeYaml(dir, 'http:\n  trustedProxies: {a: 1}\n', 'o.yaml');
      assert.equal(configError(() => load(['--config', obj])).key, 'http.trustedProxies');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('config YAML output', () => {
  test('defaultConfigYaml parses back to the defaults', () => {
    const text = defaultConfigYaml();
    assert.deepEqual(YAML.parse(text), DEFAULTS);
    const dir = tempDir();
    try {
      const file = writeYaml(dir, text);
      assert.deepEqual(load(['--config', file]).config, DEFAULTS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every key is documented in a comment next to it', () => {
    const lines = defaultConfigYaml().split('\n');
    for (const info of configKeys()) {
      const name = info.key.split('.').at(-1)!;
      const index = lines.findIndex((line, i) => line.trim().startsWith(`${name}:`) && lines[i - 2]?.includes(info.doc));
      assert.ok(index > 0, `${info.key} has its doc above it`);
      assert.ok(lines[index - 1].includes(info.env), `${info.key} names its env variable`);
    }
  });

  test('configToYaml round-trips a non-default config, and redacts the key by default', () => {
    const { config } = load([
      `--udp.connectionIdKey=${KEY64}`,
      '--http.trustedProxies=10.0.0.0/8,::1',
      '--accessList.mode=deny',
      '--accessList.file=/tmp/a "quoted" path.txt',
      '--log.level=debug',
    ]);
    const plain = configToYaml(config, { redactSecrets: false, comments: false });
    assert.deepEqual(YAML.parse(plain), config);
    const redacted = configToYaml(config);
    assert.ok(!redacted.includes(KEY64));
    assert.equal(YAML.parse(redacted).udp.connectionIdKey, '<redacted>');
  });

  test('help lists every flag and variable', () => {
    const help = configHelp();
    for (const info of configKeys()) {
      assert.ok(help.includes(info.flag));
      assert.ok(help.includes(info.env));
    }
  });
});

describe('config hooks', () => {
  test('the hook list and each hook\'s options from YAML, env and flags', () => {
    const dir = tempDir();
    try {
      const jwks = writeYaml(dir, '{"keys": []}', 'jwks.json');
      const file = writeYaml(
        dir,
        [
          'hooks:',
          '  order: [clientApproval, jwt, sameSubnet]',
          '  clientApproval:',
          '    mode: deny',
          '    prefixes: ["-XL", "-SD"]',
          '  jwt:',
          '    issuer: https://issuer.example',
          '    audience: tracker',
          `    jwksFile: ${jwks}`,
          '',
        ].join('\n'),
      );
      const fromFile = load(['--config', file]).config.hooks;
      assert.deepEqual(fromFile.order, ['clientApproval', 'jwt', 'sameSubnet']);
      assert.deepEqual(fromFile.clientApproval, { mode: 'deny', prefixes: ['-XL', '-SD'] });
      assert.equal(fromFile.jwt.jwksFile, jwks);

      const fromEnv = load([], {
        TRACKER_HOOKS__ORDER: 'sameSubnet, clientApproval',
        TRACKER_HOOKS__CLIENT_APPROVAL__PREFIXES: '-qB,-TR',
        TRACKER_HOOKS__SAME_SUBNET__PREFIX_V4: '16',
      }).config.hooks;
      assert.deepEqual(fromEnv.order, ['sameSubnet', 'clientApproval']);
      assert.deepEqual(fromEnv.clientApproval.prefixes, ['-qB', '-TR']);
      assert.equal(fromEnv.sameSubnet.prefixV4, 16);

      const fromFlags = load(['--hooks.order=announceRate,intervalVariation', '--hooks.announceRate.minSeconds=30', '--hooks.intervalVariation.modifyMinInterval=true']).config.hooks;
      assert.deepEqual(fromFlags.order, ['announceRate', 'intervalVariation']);
      assert.equal(fromFlags.announceRate.minSeconds, 30);
      assert.equal(fromFlags.intervalVariation.modifyMinInterval, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unknown or repeated hook names hooks.order and the hook', () => {
    const unknown = configError(() => load(['--hooks.order=torrentApproval,passkey']));
    assert.equal(unknown.key, 'hooks.order');
    assert.match(unknown.message, /unknown hook "passkey"; hooks are torrentApproval, clientApproval, jwt/);
    const twice = configError(() => load([], { TRACKER_HOOKS__ORDER: 'jwt,jwt' }));
    assert.match(twice.message, /hook "jwt" is listed twice/);
  });

  test('what a listed hook needs is asked for by its key, naming the hook', () => {
    const issuer = configError(() => load(['--hooks.order=jwt', '--hooks.jwt.audience=a', '--hooks.jwt.jwksUrl=https://keys.example/jwks.json']));
    assert.equal(issuer.key, 'hooks.jwt.issuer');
    assert.match(issuer.message, /hook jwt is in hooks\.order \(from flag --hooks\.order\) and needs the issuer/);
    const neither = configError(() => load(['--hooks.order=jwt', '--hooks.jwt.issuer=i', '--hooks.jwt.audience=a']));
    assert.equal(neither.key, 'hooks.jwt.jwksFile');
    assert.match(neither.message, /exactly one of hooks\.jwt\.jwksFile and hooks\.jwt\.jwksUrl, got neither/);
    const prefixes = configError(() => load(['--hooks.order=clientApproval']));
    assert.equal(prefixes.key, 'hooks.clientApproval.prefixes');
    // In mode deny an empty list denies nobody: allowed.
    assert.deepEqual(load(['--hooks.order=clientApproval', '--hooks.clientApproval.mode=deny']).config.hooks.order, ['clientApproval']);
    const floor = configError(() => load(['--hooks.order=announceRate', '--hooks.announceRate.minSeconds=1000']));
    assert.equal(floor.key, 'hooks.announceRate.minSeconds');
    assert.match(floor.message, /must be at most announce\.minIntervalSeconds \(900, default\)/);
  });

  test('an access list needs torrentApproval in the hook list', () => {
    const e = configError(() => load(['--accessList.mode=allow', '--accessList.file=/etc/list', '--hooks.order=clientApproval', '--hooks.clientApproval.mode=deny']));
    assert.equal(e.key, 'hooks.order');
    assert.match(e.message, /does not list torrentApproval, which enforces it; add it where it should run \(e\.g\. torrentApproval,clientApproval\)/);
    // The default list has it.
    assert.equal(load(['--accessList.mode=allow', '--accessList.file=/etc/list']).config.accessList.mode, 'allow');
  });

  test('options of a hook that is not listed are a warning', () => {
    const result = load(['--hooks.clientApproval.prefixes=-qB']);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0], /hooks\.clientApproval\.prefixes is set \(flag --hooks\.clientApproval\.prefixes\) but hook clientApproval is not in hooks\.order: it does nothing/);
  });

  test('--print-config shows the hook list and every hook\'s section, commented', () => {
    const text = defaultConfigYaml();
    const hooksAt = text.indexOf('\nhooks:');
    assert.ok(hooksAt > 0);
    const section = text.slice(hooksAt, text.indexOf('\nmetrics:'));
    for (const name of ['order:', 'clientApproval:', 'jwt:', 'intervalVariation:', 'announceRate:', 'sameSubnet:', 'prefixes:', 'jwksUrl:']) {
      assert.ok(section.includes(name), name);
    }
    assert.match(section, /# Request hooks an edge runs on every announce, in this order/);
    assert.match(section, /# sameSubnet: replies list the peers in the announcer's subnet first\./);
  });
});
