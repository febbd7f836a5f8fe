#!/usr/bin/env node
// A local MariaDB for trying private mode: `npm run private:db`.
//
// Starts mariadbd with its datadir in ./.private-db (kept between runs), on
// 127.0.0.1:3307 (--port N for another), creates the `tracker` user and
// database, loads db/schema.sql and the example site db/fixtures.sql, prints
// the config to point the tracker at it, and runs until Ctrl-C (a clean
// shutdown). No system service and no my.cnf are involved. Needs the
// mariadb-server package (bash scripts/install-test-deps.sh installs it) and
// a build (npm run build): it reuses the test suite's server helper.
import { join } from 'node:path';
import { REPO_ROOT } from '../dist/tests/support/tracker-process.js';
import { mariaDbMissing, startMariaDb } from '../dist/tests/support/mariadb-server.js';

const args = process.argv.slice(2);
const portFlag = args.indexOf('--port');
const port = portFlag >= 0 ? Number(args[portFlag + 1]) : 3307;
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('private-db: --port takes a port number, e.g. --port 3307');
  process.exit(2);
}
const missing = mariaDbMissing();
if (missing !== null) {
  console.error(`private-db: ${missing}`);
  process.exit(1);
}

const cleanups = [];
const scope = { after: (fn) => cleanups.push(fn) };
const dataDir = join(REPO_ROOT, '.private-db');
const password = 'tracker-local-password';
const db = await startMariaDb(scope, { dataDir, port, password, dieWithParent: false });
db.loadSchema();
db.loadFixtures();

console.log(`MariaDB ${db.rootSql('SELECT VERSION()').trim()} is up: datadir ${dataDir}, 127.0.0.1:${port}, socket ${db.socket}

Point the tracker at it (another terminal). Private mode is being built:
this release reads the config below but does not serve passkeys yet (see
README, "Private mode (in progress)").

  npm start -- --private.enabled --database.url='${db.url}'

or in a config file:

  private:
    enabled: true
  database:
    url: "${db.url}"

Example users (db/fixtures.sql): announce at http://127.0.0.1:6969/<passkey>/announce
  alice000000000000000000000000001  ordinary user
  bob00000000000000000000000000002  double upload credit
  carol000000000000000000000000003  may not leech (DisableDownload)
  dave0000000000000000000000000004  disabled account (refused)
  eve00000000000000000000000000005  half download credit, hidden address
Torrents 1-5 have info_hash = SHA-1 of "fixture torrent N".

SQL shell:  mariadb --no-defaults -S ${db.socket} -uroot ${db.database}
Ctrl-C stops the server (the data stays in .private-db; delete it to start over).`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await db.stop();
  for (const fn of cleanups.reverse()) await fn();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Keep running until a signal.
setInterval(() => {}, 1 << 30);
