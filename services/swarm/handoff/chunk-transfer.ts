/**
 * Moving slot chunks between a swarm's store and handoff messages, in
 * steps that never block the event loop for more than a budget (like the
 * expiry sweep and snapshots): export of slots into messages of a few
 * hundred KiB, and import of the chunks of a received message.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { SlotChunksMessage } from '../../../lib/transport/grpc/handoff-service.js';
import { SlotChunkError, type SlotState } from '../store/slot-state.js';

/** Bytes of chunks per handoff message, about (a chunk is at most 64 KiB). */
export const MESSAGE_BYTES = 256 * 1024;

/** Offset of the slot number in a chunk's header (services/swarm/store/slot-codec.ts). */
const HEADER_SLOT_OFFSET = 6;

/** The slot a chunk (already imported, so well formed) belongs to. */
export function slotOfChunk(chunk: Uint8Array): number {
  return (chunk[HEADER_SLOT_OFFSET] << 8) | chunk[HEADER_SLOT_OFFSET + 1];
}

/** Gives the event loop a turn once `budgetMs` of work has passed since the last one. */
export class TurnBudget {
  private started = performance.now();

  constructor(private readonly budgetMs: number) {}

  async check(): Promise<void> {
    if (performance.now() - this.started < this.budgetMs) return;
    await nextTurn();
    this.started = performance.now();
  }
}

export interface ExportProgress {
  /** Every chunk of `slot` is in a message handed out (it may be in one not yet written). */
  slotDone?(slot: number, peers: number): void;
}

/**
 * The chunks of `slots` as handoff messages of about MESSAGE_BYTES, made as
 * they are asked for; a slot holding nothing gives no chunk. Peers are
 * counted from the store before each slot is exported.
 */
export async function* exportMessages(state: SlotState, slots: Iterable<number>, budgetMs: number, progress: ExportProgress = {}): AsyncGenerator<SlotChunksMessage, void, undefined> {
  const writer = state.newWriter();
  const budget = new TurnBudget(budgetMs);
  let chunks: Uint8Array[] = [];
  let bytes = 0;
  let done: Array<[number, number]> = [];
  const flush = (): SlotChunksMessage => {
    const message = { chunks };
    for (const [slot, peers] of done) progress.slotDone?.(slot, peers);
    chunks = [];
    bytes = 0;
    done = [];
    return message;
  };
  for (const slot of slots) {
    const peers = state.slotPeerCount(slot);
    for (const chunk of state.exportSlot(slot, writer)) {
      chunks.push(chunk);
      bytes += chunk.byteLength;
      if (bytes >= MESSAGE_BYTES) yield flush();
      await budget.check();
    }
    done.push([slot, peers]);
  }
  if (chunks.length > 0 || done.length > 0) yield flush();
}

export interface ImportTotals {
  chunks: number;
  peers: number;
  /** Chunks refused whole (another format version, damaged): counted in tracker_slot_chunks_refused_total. */
  refused: number;
}

/**
 * Imports each chunk (whole or not at all: SlotState.importChunk), calling
 * `imported(slot, peers)` after each; refused chunks are counted, other
 * exceptions are bugs and propagate.
 */
export async function importChunks(state: SlotState, chunks: readonly Uint8Array[], budget: TurnBudget, imported: (slot: number, peers: number) => void): Promise<ImportTotals> {
  const totals: ImportTotals = { chunks: 0, peers: 0, refused: 0 };
  for (const chunk of chunks) {
    try {
      const r = state.importChunk(chunk);
      totals.chunks++;
      totals.peers += r.peers;
      imported(slotOfChunk(chunk), r.peers);
    } catch (error) {
      if (!(error instanceof SlotChunkError)) throw error;
      totals.refused++;
    }
    await budget.check();
  }
  return totals;
}
