/**
 * The MariaDB/MySQL connection pool of private mode (mysql2, promise API).
 *
 * mysql2 is imported here only, and only when a pool is opened: a public
 * tracker never loads it. Callers see the small `SqlClient` interface.
 * Nothing here logs the configuration, and mysql2's own errors never carry
 * the password.
 */
import { readFileSync } from 'node:fs';
import type { Connection as CoreConnection } from 'mysql2';
import type { Pool } from 'mysql2/promise';
import type { Config } from '../../runtime/config.js';
import type { FailureSink } from '../../runtime/failures.js';

export interface SqlClient {
  /** One statement; resolves with its rows (SELECT) or its result header (INSERT, UPDATE). */
  query<T = unknown>(sql: string, values?: readonly unknown[]): Promise<T>;
  /**
   * One SELECT whose rows are handed to `onRow` as arrays while they arrive,
   * so a table of millions of rows is never held as one array of objects.
   */
  eachRow(sql: string, onRow: (row: unknown[]) => void): Promise<void>;
}

export interface DatabasePool extends SqlClient {
  /** Closes every connection; queries after it fail. */
  end(): Promise<void>;
}

/** What connecting needs, from the `database` config section. */
export type DatabaseConfig = Config['database'];

/** A MySQL error number from a mysql2 error (1213 deadlock, 1205 lock-wait timeout), or 0. */
export function sqlErrno(error: unknown): number {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' ? errno : 0;
}

/** `failures` hears about pooled connections that break while idle (the pool replaces them). */
export async function openDatabasePool(config: DatabaseConfig, failures?: FailureSink): Promise<DatabasePool> {
  const mysql = await import('mysql2/promise');
  const common = {
    connectionLimit: config.poolSize,
    connectTimeout: config.connectTimeoutMs,
    // Queries wait for a free connection instead of failing, bounded by queryTimeoutMs.
    waitForConnections: true,
    queueLimit: 0,
    enableKeepAlive: true,
    // BIGINT counters as numbers: byte totals stay below 2^53 (8 PiB).
    supportBigNumbers: false,
    dateStrings: true,
  };
  const pool: Pool =
    config.url !== ''
      ? mysql.createPool({ uri: config.url.replace(/^mariadb:/, 'mysql:'), ...common })
      : mysql.createPool({
          ...common,
          ...(config.socket !== '' ? { socketPath: config.socket } : { host: config.host, port: config.port }),
          user: config.user,
          password: config.passwordFile !== '' ? readFileSync(config.passwordFile, 'utf8').trim() : config.password,
          database: config.name,
        });
  // A connection that breaks while idle (the server restarted) is dropped by the pool and replaced on the next query;
  // without a listener its 'error' would be unhandled.
  pool.pool.on('connection', (connection) =>
    connection.on('error', (error) => failures?.report(error, { what: 'idle database connection lost; the pool opens a new one' })),
  );
  const timeout = config.queryTimeoutMs;

  return {
    async query<T>(sql: string, values: readonly unknown[] = []): Promise<T> {
      const [result] = await pool.query({ sql, timeout, values: values as unknown[] });
      return result as T;
    },
    async eachRow(sql: string, onRow: (row: unknown[]) => void): Promise<void> {
      const connection = await pool.getConnection();
      try {
        await new Promise<void>((resolve, reject) => {
          let failed: unknown = null;
          // The promise wrapper buffers every row; the core connection underneath streams them.
          (connection.connection as unknown as CoreConnection)
            .query({ sql, timeout, rowsAsArray: true })
            .on('result', (row: unknown) => {
              if (failed !== null) return;
              try {
                onRow(row as unknown as unknown[]);
              } catch (error) {
                failed = error;
              }
            })
            .on('error', reject)
            .on('end', () => (failed === null ? resolve() : reject(failed)));
        });
      } finally {
        connection.release();
      }
    },
    end: () => pool.end(),
  };
}
