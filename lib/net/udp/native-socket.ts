/**
 * The native implementation: recvmmsg / sendmmsg through native/udp-batch on
 * a socket the addon watches with uv_poll on Node's loop. One JS call per
 * received batch, data and per-datagram metadata in memory shared with the
 * addon, replies written straight into a shared send area and sent with one
 * sendmmsg per flush.
 */
import { constants as osConstants } from 'node:os';
import { resolveBindAddress } from './bind-address.js';
import { DEFAULTS, checkEndpoint, checkIndex, checkWritten, intOption } from './checks.js';
import type { NativeHandle, NativeModule } from './native-addon.js';
import type { BatchUdpSocket, BatchUdpSocketOptions, BatchUdpSocketStats, DatagramWriter, ReceivedBatch, UdpEndpoint } from './types.js';

const enum Ev {
  Batch = 0,
  Writable = 1,
  Error = 2,
  Closed = 3,
}

const enum Ctl {
  SendErrors = 0,
  SendErrno = 1,
  Blocked = 2,
  RecvErrors = 3,
  RecvErrno = 4,
  Truncated = 5,
}

class NativeBatch implements ReceivedBatch {
  count = 0;
  constructor(
    private readonly owner: NativeBatchUdpSocket,
    private readonly recvData: ArrayBuffer,
    private readonly recvMetaBuffer: ArrayBuffer,
    private readonly meta: Int32Array,
    private readonly stride: number,
  ) {}

  data(i: number): Uint8Array {
    checkIndex(i, this.count);
    return new Uint8Array(this.recvData, i * this.stride, this.meta[i << 3]);
  }

  length(i: number): number {
    checkIndex(i, this.count);
    return this.meta[i << 3];
  }

  truncated(i: number): boolean {
    checkIndex(i, this.count);
    return (this.meta[(i << 3) + 1] & 1) === 1;
  }

  family(i: number): 4 | 6 {
    checkIndex(i, this.count);
    return (this.meta[(i << 3) + 2] & 0xff) as 4 | 6;
  }

  address(i: number): Uint8Array {
    checkIndex(i, this.count);
    return new Uint8Array(this.recvMetaBuffer, (i << 5) + 16, (this.meta[(i << 3) + 2] & 0xff) === 4 ? 4 : 16);
  }

  port(i: number): number {
    checkIndex(i, this.count);
    return this.meta[(i << 3) + 3];
  }

  source(i: number): UdpEndpoint {
    const address = this.address(i).slice();
    const scopeId = this.meta[(i << 3) + 2] >>> 8;
    return scopeId ? { address, port: this.meta[(i << 3) + 3], scopeId } : { address, port: this.meta[(i << 3) + 3] };
  }

  reply(i: number, write: DatagramWriter | Uint8Array, maxLength?: number): boolean {
    checkIndex(i, this.count);
    return this.owner.enqueue(i, undefined, write, maxLength);
  }
}

export class NativeBatchUdpSocket implements BatchUdpSocket {
  readonly native = true;
  private readonly h: NativeHandle;
  private readonly batch: NativeBatch;
  private readonly recvMeta: Int32Array;
  private readonly sendData: Uint8Array;
  private readonly sendMeta: Int32Array;
  private readonly sendMetaBytes: Uint8Array;
  private readonly control: Int32Array;
  private readonly slots: number;
  private readonly maxReply: number;
  private head = 0; // first queued descriptor
  private tail = 0; // next free descriptor
  private end = 0; // next free byte in sendData
  private inHandler = false;
  private flushScheduled = false;
  private state: 'new' | 'binding' | 'bound' | 'closing' | 'closed' = 'new';
  private boundPort = 0;
  private boundFamily: 4 | 6 | 0 = 0;
  private handler: ((batch: ReceivedBatch) => void) | undefined;
  private errorHandler: ((error: Error) => void) | undefined;
  private closePromise: Promise<void> | undefined;
  private resolveClose: (() => void) | undefined;
  private readonly counters = { received: 0, batches: 0, sent: 0, sendDropped: 0 };
  private readonly flushSoon = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  constructor(
    mod: NativeModule,
    private readonly options: BatchUdpSocketOptions,
  ) {
    const batch = intOption(options.batchSize, DEFAULTS.batchSize, 1, 1024, 'batchSize');
    const slot = intOption(options.maxDatagramSize, DEFAULTS.maxDatagramSize, 1, 65_536, 'maxDatagramSize');
    const sendBytes = intOption(options.sendQueueBytes, DEFAULTS.sendQueueBytes, 1024, 1 << 30, 'sendQueueBytes');
    this.slots = intOption(options.sendQueueLength, DEFAULTS.sendQueueLength, 1, 1 << 20, 'sendQueueLength');
    this.maxReply = intOption(options.maxReplyLength, DEFAULTS.maxReplyLength, 1, 65_536, 'maxReplyLength');
    this.h = new mod.UdpBatchSocket((kind, n) => this.onEvent(kind, n), batch, slot, sendBytes, this.slots);
    this.recvMeta = new Int32Array(this.h.recvMeta);
    this.sendData = new Uint8Array(this.h.sendData);
    this.sendMeta = new Int32Array(this.h.sendMeta);
    this.sendMetaBytes = new Uint8Array(this.h.sendMeta);
    this.control = new Int32Array(this.h.control);
    this.batch = new NativeBatch(this, this.h.recvData, this.h.recvMeta, this.recvMeta, this.h.recvStride);
  }

  get port(): number {
    return this.boundPort;
  }

  get family(): 4 | 6 | 0 {
    return this.boundFamily;
  }

  async bind(host: string, port: number): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot bind a socket that is ${this.state}`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bad port ${port}`);
    this.state = 'binding';
    try {
      const target = await resolveBindAddress(host);
      if (this.state !== 'binding') throw new Error('socket closed while binding');
      this.boundPort = this.h.bind(
        target.family,
        target.bytes,
        port,
        this.options.ipv6Only ?? false,
        this.options.reusePort ?? false,
        this.options.recvBufferSize ?? 0,
        this.options.sendBufferSize ?? 0,
      );
      this.boundFamily = target.family;
      this.state = 'bound';
    } catch (error) {
      if (this.state === 'binding') this.state = 'new';
      throw error;
    }
  }

  onBatch(handler: (batch: ReceivedBatch) => void): void {
    this.handler = handler;
  }

  onError(handler: (error: Error) => void): void {
    this.errorHandler = handler;
  }

  send(to: UdpEndpoint, write: DatagramWriter | Uint8Array, maxLength?: number): boolean {
    return this.enqueue(-1, to, write, maxLength);
  }

  /** Queues one datagram: to the source of received datagram `i` (i >= 0) or to `to`. */
  enqueue(i: number, to: UdpEndpoint | undefined, write: DatagramWriter | Uint8Array, maxLength?: number): boolean {
    let address: Uint8Array | undefined;
    if (i < 0) address = checkEndpoint(to!);
    if (this.state !== 'bound') {
      if (this.state === 'new' || this.state === 'binding') throw new Error('send before bind');
      this.counters.sendDropped++;
      return false;
    }
    const isBytes = typeof write !== 'function';
    const room = isBytes ? write.length : (maxLength ?? this.maxReply);
    if (!Number.isInteger(room) || room < 0 || room > this.sendData.length) {
      throw new RangeError(`datagram of up to ${room} bytes does not fit the send queue (${this.sendData.length} bytes)`);
    }
    if (this.tail === this.slots || this.end + room > this.sendData.length) {
      this.flush();
      if (this.tail === this.slots || this.end + room > this.sendData.length) {
        this.counters.sendDropped++;
        return false;
      }
    }
    const offset = this.end;
    let n: number;
    if (isBytes) {
      this.sendData.set(write, offset);
      n = write.length;
    } else {
      n = checkWritten(write(new Uint8Array(this.sendData.buffer, offset, room)), room);
      if (n < 0) return false;
    }
    const d = this.tail << 3;
    const meta = this.sendMeta;
    meta[d] = offset;
    meta[d + 1] = n;
    if (address === undefined) {
      const r = this.recvMeta;
      const s = i << 3;
      meta[d + 2] = r[s + 2];
      meta[d + 3] = r[s + 3];
      meta[d + 4] = r[s + 4];
      meta[d + 5] = r[s + 5];
      meta[d + 6] = r[s + 6];
      meta[d + 7] = r[s + 7];
    } else {
      const scope = address.length === 16 ? (to!.scopeId ?? 0) : 0;
      meta[d + 2] = (address.length === 4 ? 4 : 6) | (scope << 8);
      meta[d + 3] = to!.port;
      this.sendMetaBytes.set(address, (this.tail << 5) + 16);
    }
    this.end = (offset + n + 7) & ~7;
    this.tail++;
    if (!this.inHandler && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushSoon);
    }
    return true;
  }

  flush(): void {
    if (this.head === this.tail) return;
    if (this.state !== 'bound' && this.state !== 'closing') return;
    if (this.control[Ctl.Blocked] === 0) {
      const errorsBefore = this.control[Ctl.SendErrors];
      const consumed = this.h.flush(this.head, this.tail);
      const errors = this.control[Ctl.SendErrors] - errorsBefore;
      this.counters.sent += consumed - errors;
      this.head += consumed;
    }
    if (this.head === this.tail) {
      this.head = this.tail = this.end = 0;
    } else if (this.head > 0) {
      this.compact();
    }
  }

  /** Moves what is still queued (kernel buffer full) to the front of the send area. */
  private compact(): void {
    const meta = this.sendMeta;
    const from = meta[this.head << 3];
    this.sendData.copyWithin(0, from, this.end);
    meta.copyWithin(0, this.head << 3, this.tail << 3);
    this.tail -= this.head;
    this.head = 0;
    for (let d = 0; d < this.tail; d++) meta[d << 3] -= from;
    this.end -= from;
  }

  setReceiving(on: boolean): void {
    if (this.state === 'bound') this.h.setReceiving(on);
  }

  ref(): void {
    this.h.setRef(true);
  }

  unref(): void {
    this.h.setRef(false);
  }

  bufferSizes(): { recv: number; send: number } {
    const [recv, send] = this.h.bufferSizes();
    return { recv, send };
  }

  stats(): BatchUdpSocketStats {
    const errno = this.control[Ctl.SendErrno];
    return {
      ...this.counters,
      truncated: this.control[Ctl.Truncated],
      sendErrors: this.control[Ctl.SendErrors],
      lastSendError: errno ? errnoName(errno) : undefined,
      queued: this.tail - this.head,
    };
  }

  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    const wasBound = this.state === 'bound';
    if (wasBound) this.flush(); // best effort: what is still blocked is dropped
    this.state = 'closing';
    this.counters.sendDropped += this.tail - this.head;
    this.head = this.tail = this.end = 0;
    this.closePromise = new Promise<void>((resolve) => {
      this.resolveClose = resolve;
    });
    if (!this.h.close()) this.onEvent(Ev.Closed, 0); // never bound: nothing to wait for
    return this.closePromise;
  }

  private onEvent(kind: number, n: number): void {
    switch (kind) {
      case Ev.Batch: {
        if (this.state !== 'bound') return;
        const handler = this.handler;
        this.counters.received += n;
        this.counters.batches++;
        if (!handler) return;
        this.batch.count = n;
        this.inHandler = true;
        try {
          handler(this.batch);
        } finally {
          this.inHandler = false;
          this.batch.count = 0;
          this.flush();
        }
        return;
      }
      case Ev.Writable:
        this.flush();
        return;
      case Ev.Error: {
        const error = Object.assign(new Error(`udp poll error ${errnoName(-n)}`), { code: errnoName(-n), errno: n });
        this.errorHandler?.(error);
        return;
      }
      case Ev.Closed:
        this.state = 'closed';
        this.resolveClose?.();
        this.resolveClose = undefined;
        return;
    }
  }
}

let errnoNames: Map<number, string> | undefined;

function errnoName(errno: number): string {
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(osConstants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);
  }
  return errnoNames.get(errno) ?? `errno ${errno}`;
}
