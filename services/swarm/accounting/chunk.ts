/**
 * A slot's accounting state as one versioned binary chunk, for snapshots and
 * slot handoff, and the rule that merges two states of the same peer.
 *
 * Layout (little-endian): "PA" magic, u8 version (1), u32 count, then per
 * peer: u32 torrent id, u32 user id, 20 bytes peer_id, u16 slot, f64
 * uploaded, f64 downloaded, f64 left, u32 first seen, u32 last seen, u32 seed
 * time, u32 active time, u8 flags (71 bytes).
 *
 * Merge (mergeAccounts) is commutative and associative, so importing chunks
 * in any order, or the same chunk twice, gives the same state:
 *  - the newest report wins: counters, left, last seen, seed and active time
 *    come from the state with the later last seen (ties: the larger
 *    uploaded, then downloaded, then left, then times), so the next delta is
 *    taken against the last report either side saw and no byte is credited
 *    twice;
 *  - first seen is the earlier of the two;
 *  - a snatch recorded by either side stays recorded (flags are OR-ed for
 *    the snatch, the seeding bit follows the newest report).
 */
import { FLAG_SEEDING, FLAG_SNATCHED, PEER_ID_BYTES, ROW_BYTES, type PeerAccount, type PeerAccounts } from './peer-accounts.js';

export const ACCOUNTING_CHUNK_VERSION = 1;
const MAGIC_0 = 0x50; // 'P'
const MAGIC_1 = 0x41; // 'A'
const HEADER_BYTES = 7;

export class AccountingChunkError extends Error {
  override readonly name = 'AccountingChunkError';
}

export function encodeAccounts(accounts: readonly PeerAccount[]): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + accounts.length * ROW_BYTES);
  const view = new DataView(bytes.buffer);
  bytes[0] = MAGIC_0;
  bytes[1] = MAGIC_1;
  bytes[2] = ACCOUNTING_CHUNK_VERSION;
  view.setUint32(3, accounts.length, true);
  let at = HEADER_BYTES;
  for (const a of accounts) {
    view.setUint32(at, a.torrentId, true);
    view.setUint32(at + 4, a.userId, true);
    for (let i = 0; i < PEER_ID_BYTES; i++) bytes[at + 8 + i] = a.peerId.charCodeAt(i) & 0xff;
    view.setUint16(at + 28, a.slot, true);
    view.setFloat64(at + 30, a.uploaded, true);
    view.setFloat64(at + 38, a.downloaded, true);
    view.setFloat64(at + 46, a.left, true);
    view.setUint32(at + 54, a.firstSeen, true);
    view.setUint32(at + 58, a.lastSeen, true);
    view.setUint32(at + 62, a.seedTime, true);
    view.setUint32(at + 66, a.activeTime, true);
    bytes[at + 70] = a.flags;
    at += ROW_BYTES;
  }
  return bytes;
}

/** Throws AccountingChunkError for another version or a damaged chunk (nothing is half-imported: decode before put). */
export function decodeAccounts(bytes: Uint8Array): PeerAccount[] {
  if (bytes.length < HEADER_BYTES || bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1) throw new AccountingChunkError('not an accounting chunk');
  if (bytes[2] !== ACCOUNTING_CHUNK_VERSION) throw new AccountingChunkError(`accounting chunk version ${bytes[2]}; this release reads ${ACCOUNTING_CHUNK_VERSION}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(3, true);
  if (bytes.length !== HEADER_BYTES + count * ROW_BYTES) throw new AccountingChunkError(`accounting chunk of ${bytes.length} bytes cannot hold ${count} peers`);
  const accounts: PeerAccount[] = [];
  for (let at = HEADER_BYTES; at < bytes.length; at += ROW_BYTES) {
    let peerId = '';
    for (let i = 0; i < PEER_ID_BYTES; i++) peerId += String.fromCharCode(bytes[at + 8 + i]);
    const account: PeerAccount = {
      torrentId: view.getUint32(at, true),
      userId: view.getUint32(at + 4, true),
      peerId,
      slot: view.getUint16(at + 28, true),
      uploaded: view.getFloat64(at + 30, true),
      downloaded: view.getFloat64(at + 38, true),
      left: view.getFloat64(at + 46, true),
      firstSeen: view.getUint32(at + 54, true),
      lastSeen: view.getUint32(at + 58, true),
      seedTime: view.getUint32(at + 62, true),
      activeTime: view.getUint32(at + 66, true),
      flags: bytes[at + 70],
    };
    if (![account.uploaded, account.downloaded, account.left].every((n) => Number.isFinite(n) && n >= 0)) {
      throw new AccountingChunkError('accounting chunk holds a negative or non-finite counter');
    }
    accounts.push(account);
  }
  return accounts;
}

/** The merged state of one peer known on both sides (see the module comment). */
export function mergeAccounts(a: PeerAccount, b: PeerAccount): PeerAccount {
  const newer = compareReports(a, b) >= 0 ? a : b;
  return {
    ...newer,
    firstSeen: Math.min(a.firstSeen, b.firstSeen),
    flags: ((a.flags | b.flags) & FLAG_SNATCHED) | (newer.flags & FLAG_SEEDING),
  };
}

function compareReports(a: PeerAccount, b: PeerAccount): number {
  return (
    a.lastSeen - b.lastSeen ||
    a.uploaded - b.uploaded ||
    a.downloaded - b.downloaded ||
    a.left - b.left ||
    a.seedTime - b.seedTime ||
    a.activeTime - b.activeTime ||
    a.slot - b.slot
  );
}

/** One chunk per slot that `wanted` accepts and that holds peers (one pass over the table). */
export function exportSlots(table: PeerAccounts, wanted: (slot: number) => boolean): Map<number, Uint8Array> {
  const bySlot = new Map<number, PeerAccount[]>();
  table.forEachInSlots(wanted, (account) => {
    let list = bySlot.get(account.slot);
    if (!list) bySlot.set(account.slot, (list = []));
    list.push(account);
  });
  const chunks = new Map<number, Uint8Array>();
  for (const [slot, list] of bySlot) chunks.set(slot, encodeAccounts(list));
  return chunks;
}

/**
 * Merges a chunk into the table; returns how many peers it held. Throws
 * AccountingChunkError before changing anything (`check` may throw it too,
 * for each decoded peer, before any is put).
 */
export function importChunk(table: PeerAccounts, bytes: Uint8Array, check?: (account: PeerAccount) => void): number {
  const accounts = decodeAccounts(bytes);
  if (check) for (const account of accounts) check(account);
  for (const account of accounts) table.put(account, mergeAccounts);
  return accounts.length;
}
