/**
 * Reads one Catalog from the site's tables (db/schema.sql): the same rows
 * kuroneko loads. Rows stream in as arrays, so a site with millions of
 * torrents is never held as one array of row objects.
 */
import type { SqlClient } from '../db/pool.js';
import { CatalogBuilder, type Catalog } from './catalog.js';

export const CATALOG_QUERIES = {
  groups: 'SELECT GroupID, `Type`, DownMultiplier, UpMultiplier FROM torrent_group_freeleech',
  torrents: 'SELECT ID, info_hash, DownMultiplier, UpMultiplier, Status, GroupID, TorrentType FROM torrents',
  users: "SELECT ID, torrent_pass, DownMultiplier, UpMultiplier, DisableDownload, TrackerHide FROM users_main WHERE Enabled = '1' ORDER BY ID",
  // Longest prefix first: the most specific approved client names the client_id.
  clients: 'SELECT id, peer_id FROM approved_clients WHERE archived = 0 ORDER BY CHAR_LENGTH(peer_id) DESC, id',
  globalFreeleech: "SELECT mod_setting FROM mod_core WHERE mod_option = 'global_freeleech'",
} as const;

export async function loadCatalog(db: SqlClient, nowSeconds: number): Promise<Catalog> {
  const builder = new CatalogBuilder();
  await db.eachRow(CATALOG_QUERIES.groups, (row) => {
    builder.addGroup(Number(row[0]), String(row[1]), Number(row[3]), Number(row[2]));
  });
  await db.eachRow(CATALOG_QUERIES.torrents, (row) => {
    const hash = row[1];
    if (!(hash instanceof Uint8Array)) return;
    builder.addTorrent(Number(row[0]), Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1'), Number(row[3]), Number(row[2]), Number(row[4]) === 1, Number(row[5]), String(row[6]));
  });
  await db.eachRow(CATALOG_QUERIES.users, (row) => {
    builder.addUser(Number(row[0]), String(row[1]), Number(row[3]), Number(row[2]), Number(row[4]) !== 0, Number(row[5]) !== 0);
  });
  await db.eachRow(CATALOG_QUERIES.clients, (row) => {
    if (row[1] !== null) builder.addClient(Number(row[0]), String(row[1]));
  });
  await db.eachRow(CATALOG_QUERIES.globalFreeleech, (row) => builder.setGlobalFreeleech(Number(row[0]) !== 0));
  return builder.build(nowSeconds);
}
