#!/usr/bin/env node
/**
 * `tracker <command> [--key=value ...]`
 *
 *   all-in-one   edge and swarm in one process (the default)
 *   edge         stateless frontends routing to swarms over gRPC
 *   swarm        peers in memory, served to edges over gRPC
 *   cluster      N edges + M swarms as local processes (development)
 *   loadtest     the project's load generator (see bench/loadtest)
 *
 * Flags, environment variables (TRACKER_*) and a YAML file (--config) set
 * the configuration; `--print-config` prints every key with its default.
 */
import { ConfigError, type Config } from '../../lib/runtime/config.js';
import { defaultConfigYaml, loadConfig } from '../../lib/runtime/config-loader.js';
import { ADDON_PATH_ENV } from '../../lib/net/udp/index.js';
import { createLogger, type Logger } from '../../lib/runtime/logger.js';
import { startEdge } from './edge.js';
import { startSwarm } from './swarm.js';
import { runCluster } from './cluster.js';
import { nodeName } from './cluster-config.js';
import { startAllInOne } from './all-in-one.js';
import type { RunningTracker } from './operations.js';

const USAGE = `usage: tracker [all-in-one|edge|swarm|cluster|loadtest] [--config file.yaml] [--key=value ...] [--print-config]

  all-in-one   UDP, HTTP and WebTorrent tracker with peers in memory, one process (default)
  edge         frontends only; routes to swarms (cluster.membership, cluster.members)
  swarm        peers in memory for the slots it owns; gRPC on swarm.grpcPort
  cluster      --edges N --swarms M: a local cluster of separate processes on loopback
  loadtest     load generator: tracker loadtest udp|http|ws --help

Every configuration key can be set as a flag (--announce.intervalSeconds=1800),
an environment variable (TRACKER_ANNOUNCE__INTERVAL_SECONDS=1800) or in a YAML
file (--config). --print-config prints all keys with their defaults.
`;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    if (argv[0] !== 'loadtest') {
      process.stdout.write(USAGE);
      return 0;
    }
  }
  if (argv[0] === 'loadtest') {
    // Loaded only for this command, so a tracker never pays for the generator's code.
    const loadtestModule = '../../bench/loadtest/cli.js';
    const { runLoadtestCli } = (await import(loadtestModule)) as { runLoadtestCli(argv: string[]): Promise<number> };
    return runLoadtestCli(argv.slice(1));
  }

  let loaded: ReturnType<typeof loadConfig>;
  try {
    // The addon path override is read by the UDP socket's loader, not a config key.
    loaded = loadConfig({ argv, env: process.env, extraFlags: ['edges', 'swarms'], extraEnv: [ADDON_PATH_ENV] });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tracker: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (loaded.printConfig) {
    process.stdout.write(defaultConfigYaml());
    return 0;
  }
  const command = loaded.positionals[0] ?? 'all-in-one';
  const starters: Record<string, (config: Config, logger: Logger) => Promise<RunningTracker>> = {
    'all-in-one': startAllInOne,
    edge: startEdge,
    swarm: startSwarm,
  };
  if (command !== 'cluster' && !starters[command]) {
    process.stderr.write(`tracker: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }

  const config = loaded.config;
  const logger = createLogger({ level: config.log.level, base: command === 'edge' || command === 'swarm' ? { role: command, node: nodeName(config) } : { role: command } });
  for (const warning of loaded.warnings) logger.warn(warning);

  if (command === 'cluster') {
    const edges = Number(loaded.extraFlags.edges ?? 2);
    const swarms = Number(loaded.extraFlags.swarms ?? 3);
    if (!Number.isInteger(edges) || edges < 1 || !Number.isInteger(swarms) || swarms < 1) {
      process.stderr.write('tracker cluster: --edges and --swarms must be positive integers\n');
      return 2;
    }
    const passThrough = argv.filter((a, i) => a !== 'cluster' && !/^--(edges|swarms)(=|$)/.test(a) && !/^--(edges|swarms)$/.test(argv[i - 1] ?? ''));
    return runCluster(config, { edges, swarms }, passThrough, logger);
  }

  let tracker: RunningTracker;
  try {
    tracker = await starters[command](config, logger);
  } catch (error) {
    logger.error('cannot start', { error });
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn('second stop signal: exiting now', { signal });
        resolve(1);
        return;
      }
      stopping = true;
      // Readiness fails first and serving goes on through the drain delay, so
      // a load balancer (or kube-proxy) stops sending clients before the
      // listeners close; Ctrl-C is someone at a terminal, who wants it gone.
      tracker.unready();
      const drainDelaySeconds = signal === 'SIGTERM' ? config.shutdown.drainDelaySeconds : 0;
      logger.info('stopping', { signal, drainDelaySeconds, graceSeconds: config.shutdown.graceSeconds });
      setTimeout(() => {
        tracker.stop().then(
          () => {
            logger.info('stopped');
            resolve(0);
          },
          (error: unknown) => {
            logger.error('unclean stop', { error });
            resolve(1);
          },
        );
      }, drainDelaySeconds * 1000);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // SIGUSR1 belongs to Node's debugger, so reloads use SIGHUP (kubectl exec ... kill -HUP 1).
    process.on('SIGHUP', () => {
      logger.info('SIGHUP: reloading access list');
      tracker.reload().catch((error: unknown) => logger.error('reload failed', { error }));
    });
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Sockets owned by native code (uWebSockets.js) can keep the loop alive after a graceful stop.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (error: unknown) => {
    process.stderr.write(`tracker: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
