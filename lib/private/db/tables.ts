/**
 * The rows private mode writes, one spec per queue: columns in statement
 * order, how two queued rows of the same key combine, and the
 * `INSERT ... ON DUPLICATE KEY UPDATE` that adds them to the site's tables
 * (db/schema.sql). Counters are added (`x = x + VALUES(x)`), so two flushes
 * of deltas add up and a row written once per flush carries every announce
 * since the last one.
 */

/**
 * key: part of the row's key. add: summed in the queue and added in SQL.
 * set: the newest value wins (queue and SQL). first: the oldest queued value
 * wins; SQL writes it only when it inserts the row. min0: 0 wins in the
 * queue; SQL writes it only when it is 0 (un-pruning).
 */
export type Merge = 'key' | 'add' | 'set' | 'first' | 'min0';

export interface Column {
  readonly name: string;
  readonly merge: Merge;
  /** Queued as a latin1 string, written as bytes (info_hash). */
  readonly binary?: boolean;
}

export interface TableSpec {
  /** Metric label and log name. */
  readonly name: 'users' | 'torrents' | 'transfer_history' | 'transfer_ips' | 'snatches';
  /** The config key bounding its queue (also the tracker_limit_hits_total label). */
  readonly queueKey: string;
  readonly table: string;
  readonly columns: readonly Column[];
  /** The ON DUPLICATE KEY UPDATE clause. */
  readonly update: string;
}

const col = (name: string, merge: Merge, binary = false): Column => (binary ? { name, merge, binary } : { name, merge });

function updateClause(columns: readonly Column[], special: Record<string, string> = {}): string {
  return columns
    .filter((c) => c.merge !== 'key' && c.merge !== 'first')
    .map((c) => special[c.name] ?? (c.merge === 'add' ? `${c.name} = ${c.name} + VALUES(${c.name})` : `${c.name} = VALUES(${c.name})`))
    .join(', ');
}

const USERS = [col('ID', 'key'), col('Uploaded', 'add'), col('Downloaded', 'add'), col('rawup', 'add'), col('rawdl', 'add')];
// info_hash is written so that the INSERT is valid for a strict-mode server (the column has no default).
const TORRENTS = [col('ID', 'key'), col('info_hash', 'first', true), col('Snatched', 'add'), col('Seeders', 'set'), col('Leechers', 'set'), col('last_action', 'set'), col('Status', 'min0')];
const TRANSFER_HISTORY = [
  col('uid', 'key'),
  col('fid', 'key'),
  col('uploaded', 'add'),
  col('downloaded', 'add'),
  col('seeding', 'set'),
  col('seedtime', 'add'),
  col('activetime', 'add'),
  col('remaining', 'set'),
  col('active', 'set'),
  col('starttime', 'first'),
  col('last_announce', 'set'),
];
const TRANSFER_IPS = [
  col('uid', 'key'),
  col('fid', 'key'),
  col('ip', 'key'),
  col('client_id', 'key'),
  col('uploaded', 'add'),
  col('downloaded', 'add'),
  col('port', 'set'),
  col('starttime', 'first'),
  col('last_announce', 'set'),
];
// Snatches land in transfer_history: snatched counts completions, snatched_time keeps the first.
const SNATCHES = [col('uid', 'key'), col('fid', 'key'), col('snatched', 'add'), col('snatched_time', 'first')];

export const TABLES = {
  users: { name: 'users', queueKey: 'database.usersQueue', table: 'users_main', columns: USERS, update: updateClause(USERS) },
  torrents: {
    name: 'torrents',
    queueKey: 'database.torrentsQueue',
    table: 'torrents',
    columns: TORRENTS,
    update: updateClause(TORRENTS, { Status: 'Status = IF(VALUES(Status) = 0, 0, Status)' }),
  },
  transferHistory: { name: 'transfer_history', queueKey: 'database.transferHistoryQueue', table: 'transfer_history', columns: TRANSFER_HISTORY, update: updateClause(TRANSFER_HISTORY) },
  transferIps: { name: 'transfer_ips', queueKey: 'database.transferIpsQueue', table: 'transfer_ips', columns: TRANSFER_IPS, update: updateClause(TRANSFER_IPS) },
  snatches: {
    name: 'snatches',
    queueKey: 'database.snatchesQueue',
    table: 'transfer_history',
    columns: SNATCHES,
    update: 'snatched = snatched + VALUES(snatched), snatched_time = IF(snatched_time IS NULL OR snatched_time = 0, VALUES(snatched_time), snatched_time)',
  },
} as const satisfies Record<string, TableSpec>;

/** The statement for `rows` rows of `spec` (placeholders; values go separately). */
export function insertStatement(spec: TableSpec, rows: number): string {
  const tuple = `(${spec.columns.map(() => '?').join(', ')})`;
  return `INSERT INTO ${spec.table} (${spec.columns.map((c) => c.name).join(', ')}) VALUES ${Array.from({ length: rows }, () => tuple).join(', ')} ON DUPLICATE KEY UPDATE ${spec.update}`;
}

/** Stale peers' history rows, as kuroneko marks them after a purge: active = 0 where the last announce is older than the cutoff. */
export const MARK_INACTIVE = 'UPDATE transfer_history SET active = 0 WHERE last_announce < ? AND active = 1';
