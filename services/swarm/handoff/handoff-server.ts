/**
 * The serving side of swarm <-> swarm handoff (tracker.v1.Handoff, see
 * proto/tracker.proto), on the swarm's gRPC port next to the edges' service:
 *
 * - Pull: a joining swarm asks for the state of the slots it is about to
 *   own. Exported in steps of at most `budgetMs` per event-loop turn, in
 *   messages of a few hundred KiB, waiting for 'drain' when the caller reads
 *   slowly (HTTP/2 flow control); recorded (PullRecords) so the push after
 *   the table change can leave out what did not change.
 * - Push: a swarm hands over slots it no longer owns. Each chunk is
 *   imported whole or not at all, in budgeted steps, the stream paused
 *   meanwhile; refused while this swarm is leaving or stopping (the caller
 *   then takes the next owner).
 *
 * Every call must prove the calling swarm's name first (`auth`: client
 * certificate and/or token proof, as edge streams do); an unproven call is
 * refused before it reads or changes anything. Refusals are counted.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { EdgeAuthenticator } from '../../../lib/transport/grpc/edge-auth.js';
import {
  HANDOFF_METADATA,
  LEAVING_DETAILS,
  type PullRequestMessage,
  type PushReplyMessage,
  type SlotChunksMessage,
} from '../../../lib/transport/grpc/handoff-service.js';
import type { FailureSink } from '../../../lib/runtime/failures.js';
import { SLOT_COUNT } from '../../../lib/cluster/slot-table.js';
import type { SlotState } from '../store/slot-state.js';
import { exportMessages, importChunks, TurnBudget } from './chunk-transfer.js';
import type { HandoffRejection, HandoffStats } from './handoff-stats.js';
import type { PullRecords } from './pull-records.js';

/** What the server asks of this swarm's handoff coordinator (handoff.ts). */
export interface HandoffReceiver {
  /** False while this swarm is leaving or stopping: pushes go to the next owner instead. */
  acceptsPushes(): boolean;
  /** Whether this process pulled `pullId` and holds it complete (a push of what changed since may be taken). */
  holdsPull(pullId: string): boolean;
  /** A pushed chunk of `slot` was imported. */
  received(slot: number, peers: number): void;
}

export interface HandoffServerOptions {
  slots: SlotState;
  records: PullRecords;
  receiver: HandoffReceiver;
  /** Who may call: the calling swarm proves its member name (EdgeAuthenticator with `caller`). */
  auth?: EdgeAuthenticator;
  budgetMs: number;
  stats: HandoffStats;
  failures: FailureSink;
  /** A call was refused (`details` is what the caller is told). */
  onRejected?: (reason: HandoffRejection, details: string, caller: string) => void;
}

type PullCall = grpc.ServerWritableStream<PullRequestMessage, SlotChunksMessage>;
type PushCall = grpc.ServerReadableStream<SlotChunksMessage, PushReplyMessage>;

/** What a member name may look like (node.name's rule). */
const MEMBER_NAME = /^[A-Za-z0-9._-]{1,253}$/;
const CODES: Record<Exclude<HandoffRejection, 'leaving' | 'unknown-pull'>, grpc.status> = {
  unauthenticated: grpc.status.UNAUTHENTICATED,
  'permission-denied': grpc.status.PERMISSION_DENIED,
  invalid: grpc.status.INVALID_ARGUMENT,
};

function text(metadata: grpc.Metadata, key: string): string {
  const value = metadata.get(key)[0];
  if (value === undefined) return '';
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/** Resolves on 'drain' or when the caller cancels, whichever comes first. */
function drainOrCancel(call: PullCall): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}

export class HandoffServer {
  constructor(private readonly options: HandoffServerOptions) {}

  /** For GrpcSwarmServerOptions.services, with handoffServiceDefinition. */
  implementation(): grpc.UntypedServiceImplementation {
    return {
      pull: (call: PullCall) => void this.pull(call),
      push: (call: PushCall, callback: grpc.sendUnaryData<PushReplyMessage>) => void this.push(call, callback),
    };
  }

  private async pull(call: PullCall): Promise<void> {
    const caller = this.authenticate(call.metadata, call.getAuthContext().sslPeerCertificate);
    if (typeof caller !== 'string') {
      call.emit('error', caller);
      return;
    }
    const { slots, pullId } = call.request;
    if (!slots.every((s) => Number.isInteger(s) && s >= 0 && s < SLOT_COUNT)) {
      call.emit('error', this.reject('invalid', `slots must be 0..${SLOT_COUNT - 1}`, caller));
      return;
    }
    const { stats, records } = this.options;
    const record = records.begin(caller, pullId);
    let cancelled = false;
    call.on('cancelled', () => (cancelled = true));
    try {
      const messages = exportMessages(this.options.slots, new Set(slots), this.options.budgetMs, {
        slotDone(slot, peers) {
          record.covered[slot] = 1;
          stats.slotsServed++;
          stats.peersServed += peers;
        },
      });
      for await (const message of messages) {
        if (cancelled) return;
        if (!call.write(message)) await drainOrCancel(call);
      }
      if (cancelled) return;
      record.complete = true;
      call.end();
    } catch (error) {
      this.options.failures.report(error, { during: 'handoff pull', caller });
      call.emit('error', { code: grpc.status.INTERNAL, details: 'export failed' });
    }
  }

  private async push(call: PushCall, callback: grpc.sendUnaryData<PushReplyMessage>): Promise<void> {
    const caller = this.authenticate(call.metadata, call.getAuthContext().sslPeerCertificate);
    if (typeof caller !== 'string') return callback(caller);
    const receiver = this.options.receiver;
    if (!receiver.acceptsPushes()) {
      return callback(this.reject('leaving', LEAVING_DETAILS, caller));
    }
    const pullId = text(call.metadata, HANDOFF_METADATA.pullId);
    if (pullId !== '' && !receiver.holdsPull(pullId)) {
      return callback(this.reject('unknown-pull', `no complete pull ${pullId} here (restarted since?): push every slot`, caller));
    }
    const { stats } = this.options;
    const totals: PushReplyMessage = { chunks: 0, peers: 0, refusedChunks: 0 };
    const budget = new TurnBudget(this.options.budgetMs);
    const seen = new Set<number>();
    let work: Promise<void> = Promise.resolve();
    let failed = false;
    const fail = (error: unknown): void => {
      if (failed) return;
      failed = true;
      this.options.failures.report(error, { during: 'handoff push import', caller });
      callback({ code: grpc.status.INTERNAL, details: 'import failed' });
    };
    call.on('data', (message: SlotChunksMessage) => {
      call.pause();
      work = work
        .then(async () => {
          if (failed) return;
          const r = await importChunks(this.options.slots, message.chunks, budget, (slot, peers) => {
            if (!seen.has(slot)) {
              seen.add(slot);
              stats.slotsReceived++;
            }
            stats.peersReceived += peers;
            receiver.received(slot, peers);
          });
          totals.chunks += r.chunks;
          totals.peers += r.peers;
          totals.refusedChunks += r.refused;
          call.resume();
        })
        .catch(fail);
    });
    call.on('end', () => {
      void work.then(() => {
        if (!failed) callback(null, totals);
      });
    });
    call.on('error', () => {
      // The caller went away: what was imported stays (each chunk whole); it pushes again.
      failed = true;
    });
  }

  /** The caller's proven member name, or the error to answer with. */
  private authenticate(metadata: grpc.Metadata, certificate: PeerCertificate | undefined): string | grpc.StatusObject {
    const caller = text(metadata, HANDOFF_METADATA.swarmId);
    if (!MEMBER_NAME.test(caller)) return this.reject('invalid', `${HANDOFF_METADATA.swarmId} must be the calling swarm's member name`, caller);
    const auth = this.options.auth;
    if (auth?.required) {
      const verdict = auth.check({
        edgeId: caller,
        bootNonce: text(metadata, HANDOFF_METADATA.bootNonce),
        proof: text(metadata, HANDOFF_METADATA.proof),
        verifiedCertificate: certificate,
      });
      if (!verdict.ok) return this.reject(verdict.reason, verdict.details, caller);
    }
    return caller;
  }

  private reject(reason: HandoffRejection, details: string, caller: string): grpc.StatusObject {
    this.options.stats.rejected[reason]++;
    this.options.onRejected?.(reason, details, caller);
    const code = reason === 'leaving' ? grpc.status.UNAVAILABLE : reason === 'unknown-pull' ? grpc.status.FAILED_PRECONDITION : CODES[reason];
    return { code, details, metadata: new grpc.Metadata() };
  }
}
