/**
 * A private mariadbd for one test run (and for `npm run private:db`): its own
 * datadir, a free 127.0.0.1 port, a Unix socket in the datadir, no system
 * service and no my.cnf (`--no-defaults`). A user and a database are created
 * for the tracker; root is reached over the socket only.
 *
 *   const db = await startMariaDb(t);
 *   db.url                 // mysql://tracker:<password>@127.0.0.1:<port>/tracker
 *   await db.loadSchema();  // db/schema.sql into db.database
 *   await db.query('SELECT ...');  // as the tracker user (mysql2)
 *   await db.stop();        // an outage; await db.start() brings it back on the same datadir and port
 *
 * The server is killed when the test ends (t.after) and, as a last resort,
 * when the test process dies; a temporary datadir is removed. With
 * `dataDir` the datadir is kept and reused (`npm run private:db`).
 *
 * `scripts/install-test-deps.sh` installs mariadb-server (Debian package).
 * Tests call `mariaDbMissing()` and skip with its reason when it is not
 * installed, except where REQUIRE_MARIADB_TESTS=1 (CI) makes that a
 * failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  OutputTail,
  REPO_ROOT,
  delay,
  findFreePort,
  raceTimeout,
  spawnCaptured,
  withParentDeathSignal,
  type CapturedChild,
  type CleanupContext,
  type StopResult,
} from './tracker-process.js';
import { defaultConfig, type Config } from '../../lib/runtime/config.js';

/** Debian puts the server in /usr/sbin, outside a non-root PATH. */
const MARIADBD = process.env.TRACKER_TEST_MARIADBD ?? (existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : 'mariadbd');
const INSTALL_DB = 'mariadb-install-db';
const CLIENT = 'mariadb';

export const SCHEMA_FILE = join(REPO_ROOT, 'db', 'schema.sql');
export const FIXTURES_FILE = join(REPO_ROOT, 'db', 'fixtures.sql');

export interface MariaDbServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Unix socket of the server (root connects through it). */
  readonly socket: string;
  readonly dataDir: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** mysql://user:password@127.0.0.1:port/database */
  readonly url: string;
  /** Whether a server process is running (paused counts as running). */
  running(): boolean;
  /** Starts it again on the same datadir and port; resolves when it answers. No-op when running. */
  start(): Promise<void>;
  /** SIGTERM (a clean shutdown) and wait for the exit (bounded; SIGKILL after). No-op when stopped. */
  stop(): Promise<void>;
  /** SIGSTOP: connections stay open, nothing is answered. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Runs SQL text (several statements allowed) as root through the `mariadb` client; returns its tab-separated output. */
  rootSql(sql: string, database?: string): string;
  /** Creates the tables of db/schema.sql in `database`. */
  loadSchema(): void;
  /** Loads db/fixtures.sql (the example site) into `database`. */
  loadFixtures(): void;
  /** One query as the tracker user on a fresh mysql2 connection; resolves with the rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The `database` config section that reaches this server as the tracker user, with `overrides`. */
  config(overrides?: Partial<Config['database']>): Config['database'];
  /** The server's error log and captured output. */
  output(): string;
}

export interface MariaDbOptions {
  /** Extra mariadbd arguments, e.g. ['--innodb-lock-wait-timeout=1']. */
  args?: string[];
  /** Keep and reuse this datadir instead of a temporary one. */
  dataDir?: string;
  /** Port to listen on; default a free one. */
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** How long to wait for the server to answer. Default 60 s (the machine may be busy). */
  readyTimeoutMs?: number;
  /** Whether the server is killed when its parent dies (default true). */
  dieWithParent?: boolean;
}

/** Why MariaDB cannot run here, or null when it can. */
export function mariaDbMissing(): string | null {
  for (const command of [MARIADBD, INSTALL_DB, CLIENT]) {
    const probe = spawnSync(command, ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      return `${command} is not installed: run \`bash scripts/install-test-deps.sh\` (Debian package mariadb-server)`;
    }
  }
  return null;
}

/**
 * The `skip` option for a test that needs MariaDB: its reason when mariadbd is
 * missing, false otherwise. With REQUIRE_MARIADB_TESTS=1 (set by .ci/run)
 * a missing server is not skipped: the test runs and fails.
 */
export function skipWithoutMariaDb(): string | false {
  if (process.env.REQUIRE_MARIADB_TESTS === '1') return false;
  return mariaDbMissing() ?? false;
}

export async function startMariaDb(t: CleanupContext, options: MariaDbOptions = {}): Promise<MariaDbServer> {
  const missing = mariaDbMissing();
  if (missing !== null) throw new Error(missing);
  const port = options.port ?? (await findFreePort({ host: '127.0.0.1', tcp: true, udp: false }));
  const temporary = options.dataDir === undefined;
  const dataDir = temporary ? mkdtempSync(join(tmpdir(), 'tracker-mariadb-')) : resolve(options.dataDir!);
  const socket = join(dataDir, 'sock');
  const user = options.user ?? 'tracker';
  const password = options.password ?? 'tracker-test-password';
  const database = options.database ?? 'tracker';
  if (!/^\w+$/.test(user) || !/^\w+$/.test(database) || /['\\]/.test(password)) {
    throw new Error('mariadb-server: user and database must be word characters, the password without quotes or backslashes');
  }

  // Each server (and its install) gets its own temporary-file folder: with the shared /tmp, installs
  // running at the same time (test files run in parallel) collide on internal temporary tables
  // ("Unknown table 'mysql.tmp_user_sys'": 4 of 8 parallel installs failed here).
  const scratch = mkdtempSync(join(tmpdir(), 'tracker-mariadb-tmp-'));
  if (!existsSync(join(dataDir, 'mysql'))) {
    mkdirSync(dataDir, { recursive: true });
    const installed = spawnSync(
      INSTALL_DB,
      ['--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--user=root', `--tmpdir=${scratch}`],
      { encoding: 'utf8' },
    );
    if (installed.error || installed.status !== 0) {
      rmSync(scratch, { recursive: true, force: true });
      if (temporary) rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`${INSTALL_DB} failed (${installed.error?.message ?? `exit ${installed.status}`})\n${installed.stdout}${installed.stderr}`);
    }
  }

  const errorLog = join(dataDir, 'err.log');
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--user=root',
    `--log-error=${errorLog}`,
    `--pid-file=${join(dataDir, 'pid')}`,
    `--tmpdir=${scratch}`,
    // Grants name 127.0.0.1, not a resolved host name.
    '--skip-name-resolve',
    // A throwaway server: small files, no fsync per commit.
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=16M',
    '--innodb-flush-log-at-trx-commit=2',
    ...(options.args ?? []),
  ];
  const tail = new OutputTail(16 * 1024);
  let current: CapturedChild | null = null;
  let exited = true;
  let paused = false;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;

  const rootSql = (sql: string, db?: string): string => {
    const result = spawnSync(CLIENT, ['--no-defaults', '-S', socket, '-uroot', '--batch', '--skip-column-names', ...(db ? [db] : [])], {
      input: sql,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (result.error || result.status !== 0) {
      throw new Error(`mariadb (root) failed: ${result.error?.message ?? result.stderr.trim()}\n--- SQL ---\n${sql.slice(0, 2000)}`);
    }
    return result.stdout;
  };

  const launch = async (): Promise<void> => {
    const [command, commandArgs] = options.dieWithParent === false ? [MARIADBD, args] : withParentDeathSignal(MARIADBD, args);
    exited = false;
    paused = false;
    current = spawnCaptured(command, commandArgs, process.env, tail, () => {
      exited = true;
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exited) throw new Error(`mariadbd exited before it answered\n--- output ---\n${tail}\n--- error log ---\n${readLog(errorLog)}`);
      const probe = spawnSync(CLIENT, ['--no-defaults', '-S', socket, '-uroot', '-e', 'SELECT 1'], { encoding: 'utf8', timeout: 5000 });
      if (probe.status === 0) return;
      if (Date.now() > deadline) {
        current.child.kill('SIGKILL');
        throw new Error(`mariadbd on port ${port} did not answer within ${readyTimeoutMs} ms\n--- error log ---\n${readLog(errorLog)}`);
      }
      await delay(100);
    }
  };

  const stop = async (): Promise<void> => {
    const child = current;
    if (child === null || exited) return;
    if (paused) child.child.kill('SIGCONT');
    child.child.kill('SIGTERM');
    if ((await raceTimeout<StopResult>(child.exit, 30_000)) === null) {
      child.child.kill('SIGKILL');
      await raceTimeout(child.exit, 5000);
    }
  };

  t.after(async () => {
    const child = current;
    if (child !== null && !exited) {
      // A temporary datadir is thrown away: no need for a clean shutdown.
      child.child.kill(temporary ? 'SIGKILL' : 'SIGTERM');
      await raceTimeout(child.exit, 30_000);
    }
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  await launch();
  rootSql(
    [
      `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4;`,
      `CREATE USER IF NOT EXISTS '${user}'@'127.0.0.1' IDENTIFIED BY '${password}';`,
      `GRANT ALL PRIVILEGES ON \`${database}\`.* TO '${user}'@'127.0.0.1';`,
    ].join('\n'),
  );

  return {
    host: '127.0.0.1',
    port,
    socket,
    dataDir,
    user,
    password,
    database,
    url: `mysql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    running: () => !exited,
    start: async () => {
      if (!exited) return;
      await launch();
    },
    stop,
    pause: () => {
      if (!exited && !paused) {
        current!.child.kill('SIGSTOP');
        paused = true;
      }
    },
    resume: () => {
      if (!exited && paused) {
        current!.child.kill('SIGCONT');
        paused = false;
      }
    },
    rootSql,
    loadSchema: () => void rootSql(readFileSync(SCHEMA_FILE, 'utf8'), database),
    loadFixtures: () => void rootSql(readFileSync(FIXTURES_FILE, 'utf8'), database),
    query: async <T>(sql: string, params: unknown[] = []) => {
      const mysql = await import('mysql2/promise');
      const connection = await mysql.createConnection({ host: '127.0.0.1', port, user, password, database, connectTimeout: 10_000 });
      try {
        const [rows] = await connection.query(sql, params);
        return rows as T[];
      } finally {
        await connection.end();
      }
    },
    config: (overrides = {}) => ({
      ...defaultConfig().database,
      host: '127.0.0.1',
      port,
      user,
      password,
      name: database,
      // A test waits seconds, not the production defaults, for an outage to show.
      connectTimeoutMs: 2000,
      queryTimeoutMs: 10_000,
      ...overrides,
    }),
    output: () => `${tail}${readLog(errorLog)}`,
  };
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-8000);
  } catch {
    return '';
  }
}
