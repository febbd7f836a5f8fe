/**
 * The accounting state of one slot as a chunk that travels next to the
 * slot's store chunks (store/slot-state.ts): in a snapshot value after them,
 * and as a second chunk kind on the handoff stream. It wraps the accounting
 * chunk (chunk.ts) in an 8-byte header shaped like the store's: a magic of
 * its own, a version, and the slot at the same offset (6), so that code
 * reading the slot of a chunk (handoff/chunk-transfer.ts) reads it from
 * either kind. A release that does not know this kind refuses it as a
 * damaged chunk (counted), and keeps the store chunks.
 *
 * Layout: "TSLA" (u32 big-endian), u8 version (1), u8 0, u16 slot (big
 * endian), then the accounting chunk.
 */
import { AccountingChunkError, encodeAccounts, importChunk } from './chunk.js';
import { ROW_BYTES, type PeerAccount, type PeerAccounts } from './peer-accounts.js';

export const ACCOUNTS_MAGIC = 0x54534c41; // "TSLA"
export const ACCOUNTS_ENVELOPE_VERSION = 1;
const HEADER_BYTES = 8;

/** Whether the chunk starting at `at` is an accounting chunk (by its magic). */
export function isAccountsChunk(bytes: Uint8Array, at = 0): boolean {
  return bytes.length - at >= 4 && ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0 === ACCOUNTS_MAGIC;
}

/** A slot's accounting chunk, or its first problem (another version, damaged). */
export type AccountsRead = { ok: true; slot: number; end: number } | { ok: false; reason: 'version' | 'corrupt'; message: string };

/** Checks the accounting chunk at `at` without importing it; its end is the end of `bytes` or of the payload its count gives. */
export function readAccountsChunk(bytes: Uint8Array, at = 0): AccountsRead {
  if (bytes.length - at < HEADER_BYTES + 7) return { ok: false, reason: 'corrupt', message: `${bytes.length - at} bytes cannot hold an accounting chunk` };
  const version = bytes[at + 4];
  if (version !== ACCOUNTS_ENVELOPE_VERSION) {
    return { ok: false, reason: 'version', message: `accounting chunk version ${version} is not readable by this tracker (it reads version ${ACCOUNTS_ENVELOPE_VERSION})` };
  }
  if (bytes[at + 5] !== 0) return { ok: false, reason: 'corrupt', message: `unknown accounting chunk flags ${bytes[at + 5]}` };
  const p = at + HEADER_BYTES;
  // The payload's count (u32 little-endian after "PA" and its version) gives its length: 7 + ROW_BYTES x count.
  const count = (bytes[p + 3] | (bytes[p + 4] << 8) | (bytes[p + 5] << 16) | (bytes[p + 6] << 24)) >>> 0;
  const end = p + 7 + count * ROW_BYTES;
  if (end > bytes.length) return { ok: false, reason: 'corrupt', message: `accounting chunk of ${bytes.length - at} bytes cannot hold ${count} peers` };
  return { ok: true, slot: (bytes[at + 6] << 8) | bytes[at + 7], end };
}

export class SlotAccounts {
  private readonly list: PeerAccount[] = [];

  constructor(readonly accounts: PeerAccounts) {}

  slotPeerCount(slot: number): number {
    return this.accounts.slotPeerCount(slot);
  }

  /** The slot's accounting chunk, or null when it holds no private peer. */
  exportSlot(slot: number): Uint8Array | null {
    if (this.accounts.slotPeerCount(slot) === 0) return null;
    const list = this.list;
    list.length = 0;
    this.accounts.forEachInSlot(slot, (a) => list.push(a));
    const payload = encodeAccounts(list);
    list.length = 0;
    const bytes = new Uint8Array(HEADER_BYTES + payload.length);
    bytes[0] = ACCOUNTS_MAGIC >>> 24;
    bytes[1] = (ACCOUNTS_MAGIC >>> 16) & 0xff;
    bytes[2] = (ACCOUNTS_MAGIC >>> 8) & 0xff;
    bytes[3] = ACCOUNTS_MAGIC & 0xff;
    bytes[4] = ACCOUNTS_ENVELOPE_VERSION;
    bytes[6] = slot >>> 8;
    bytes[7] = slot & 0xff;
    bytes.set(payload, HEADER_BYTES);
    return bytes;
  }

  /**
   * Merges the accounting chunk `bytes[at, end)` (checked by
   * readAccountsChunk) into the table: newest report wins, in any order.
   * Throws AccountingChunkError, having changed nothing, when the payload is
   * damaged or holds a peer of another slot.
   */
  importChunk(bytes: Uint8Array, at: number, end: number, slot: number): number {
    const payload = bytes.subarray(at + HEADER_BYTES, end);
    // importChunk decodes the whole payload before it puts any peer.
    return importChunk(this.accounts, payload, (a) => {
      if (a.slot !== slot) throw new AccountingChunkError(`the accounting chunk of slot ${slot} holds a peer of slot ${a.slot}`);
    });
  }

  dropSlot(slot: number): number {
    return this.accounts.dropSlot(slot);
  }
}
