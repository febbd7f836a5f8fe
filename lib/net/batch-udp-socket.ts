/**
 * A UDP socket that hands datagrams to JS in batches and sends replies in
 * batches. Two implementations behind one interface:
 *
 * - native (native/udp-batch, Linux): recvmmsg / sendmmsg on a socket the
 *   addon watches with uv_poll on Node's loop. One JS call per received
 *   batch (up to `batchSize` datagrams), data and per-datagram metadata in
 *   memory shared with the addon (no per-datagram object from native code),
 *   replies written straight into a shared send area and sent with one
 *   sendmmsg per flush.
 * - dgram (node:dgram): the fallback where the addon is not built or cannot
 *   load (another OS, no compiler, TRACKER_UDP_NATIVE=0). One datagram per
 *   batch, one send per reply; same semantics otherwise.
 *
 * Semantics shared by both:
 * - The batch handler runs once per batch. `data(i)` and `address(i)` are
 *   views that are valid only while the handler runs (the memory is reused
 *   for the next batch); copy what must outlive it, e.g. `source(i)`.
 * - Replies (`batch.reply`, `socket.send`) are queued. Inside the handler
 *   the queue is flushed when the handler returns (one sendmmsg per batch);
 *   outside it (async replies, e.g. after a gRPC round trip) a flush runs on
 *   setImmediate, so every reply produced while the loop handles one round
 *   of I/O leaves in one batch. `flush()` sends at once.
 * - A writer gets a Uint8Array of `maxLength` bytes (default
 *   `maxReplyLength`) and returns how many it wrote; a negative return
 *   sends nothing. Returning more than it was given is a RangeError.
 * - IPv4-mapped IPv6 sources on a dual-stack socket are reported as IPv4
 *   (4-byte address, family 4) and answered as such.
 * - Datagrams longer than `maxDatagramSize` arrive cut to that size with
 *   `truncated(i)` true (default 65,536: nothing is cut).
 * - A send that the kernel refuses (EMSGSIZE, unreachable...) is dropped and
 *   counted in stats().sendErrors; it does not throw. When the kernel send
 *   buffer is full the native queue waits for writable; a reply that finds
 *   the queue itself full is dropped and counted (stats().sendDropped), as
 *   the network would have done.
 * - After close() starts, no batch is delivered and sends are dropped.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIp, isIPv4Mapped, parseIp } from './ip.js';

export interface UdpEndpoint {
  /** 4 bytes (IPv4) or 16 bytes (IPv6); an IPv4-mapped 16-byte address is sent as IPv4. */
  readonly address: Uint8Array;
  readonly port: number;
  /** IPv6 scope (interface index) of a link-local address; 0 or absent otherwise. */
  readonly scopeId?: number;
}

/** Writes a datagram into `out` (from index 0) and returns its length; negative: send nothing. */
export type DatagramWriter = (out: Uint8Array) => number;

export interface ReceivedBatch {
  /** Datagrams in this batch (1 with the dgram fallback). Indexes are 0 .. count-1. */
  readonly count: number;
  /** The datagram's bytes: a view valid only while the handler runs. */
  data(i: number): Uint8Array;
  length(i: number): number;
  /** True when the datagram was longer than maxDatagramSize and was cut. */
  truncated(i: number): boolean;
  /** 4 for IPv4 (including IPv4-mapped sources on a dual-stack socket), 6 for IPv6. */
  family(i: number): 4 | 6;
  /** Source address, 4 or 16 bytes: a view valid only while the handler runs. */
  address(i: number): Uint8Array;
  port(i: number): number;
  /** A copy of the source, for replies sent later with socket.send(). */
  source(i: number): UdpEndpoint;
  /** Queues a reply to datagram i's source. False when dropped (closed socket, full queue, writer cancelled). */
  reply(i: number, write: DatagramWriter | Uint8Array, maxLength?: number): boolean;
}

export interface BatchUdpSocketStats {
  /** Datagrams delivered to the handler. */
  received: number;
  /** Handler calls. */
  batches: number;
  /** Datagrams truncated to maxDatagramSize. */
  truncated: number;
  /** Replies handed to the kernel (native) or to dgram (fallback). */
  sent: number;
  /** Replies the kernel refused (EMSGSIZE, EAFNOSUPPORT, ...). */
  sendErrors: number;
  /** The last such error's code. */
  lastSendError: string | undefined;
  /** Replies dropped because the socket was closing or the send queue was full. */
  sendDropped: number;
  /** Replies queued, not yet handed over. */
  queued: number;
}

export interface BatchUdpSocket {
  /** True when backed by the native addon. */
  readonly native: boolean;
  /** Bound port (0 before bind). */
  readonly port: number;
  /** 4 or 6 once bound (a "::" socket is 6 and also serves IPv4 unless ipv6Only). */
  readonly family: 4 | 6 | 0;
  /** Binds to an IP (or a name, resolved first). A host containing ':' or resolving to IPv6 makes an IPv6 socket. */
  bind(host: string, port: number): Promise<void>;
  onBatch(handler: (batch: ReceivedBatch) => void): void;
  /** Socket errors other than per-send ones (which are counted in stats()). */
  onError(handler: (error: Error) => void): void;
  /** Queues a datagram to `to`; flushed at the end of the current batch, or on setImmediate. */
  send(to: UdpEndpoint, write: DatagramWriter | Uint8Array, maxLength?: number): boolean;
  /** Sends everything queued now. */
  flush(): void;
  /** Stops (false) or resumes (true) delivering datagrams; sending still works. */
  setReceiving(on: boolean): void;
  /** Whether the socket keeps the process alive (default true, like dgram). */
  ref(): void;
  unref(): void;
  /** Kernel buffer sizes as the kernel reports them (Linux doubles what was asked). */
  bufferSizes(): { recv: number; send: number };
  stats(): BatchUdpSocketStats;
  /** Flushes what is queued (best effort), stops receiving and closes. */
  close(): Promise<void>;
}

export interface BatchUdpSocketOptions {
  /** 'auto' (default): native when it loads, else dgram. 'native' throws when it cannot load. */
  implementation?: 'auto' | 'native' | 'dgram';
  /** IPv6 sockets only: refuse IPv4 (default false: "::" is dual-stack). */
  ipv6Only?: boolean;
  /** SO_REUSEPORT (native only: Node 20's dgram has no such option, the fallback ignores it). */
  reusePort?: boolean;
  /** SO_RCVBUF / SO_SNDBUF in bytes (0 or absent: the system default). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Receive slot size: longer datagrams are cut and flagged. 1 .. 65536, default 65536. */
  maxDatagramSize?: number;
  /** Datagrams per recvmmsg (native), 1 .. 1024, default 64. */
  batchSize?: number;
  /** Send queue (native): bytes and datagrams held before a forced flush. Defaults 1 MiB and 1024. */
  sendQueueBytes?: number;
  sendQueueLength?: number;
  /** Default `maxLength` handed to writers, default 2048. */
  maxReplyLength?: number;
}

const DEFAULTS = {
  maxDatagramSize: 65_536,
  batchSize: 64,
  sendQueueBytes: 1 << 20,
  sendQueueLength: 1024,
  maxReplyLength: 2048,
};

// ---------------------------------------------------------------- addon loading

interface NativeHandle {
  readonly recvData: ArrayBuffer;
  readonly recvMeta: ArrayBuffer;
  readonly sendData: ArrayBuffer;
  readonly sendMeta: ArrayBuffer;
  readonly control: ArrayBuffer;
  readonly recvStride: number;
  readonly batch: number;
  readonly slotSize: number;
  readonly sendSlots: number;
  bind(family: 4 | 6, address: Uint8Array, port: number, ipv6Only: boolean, reusePort: boolean, rcvbuf: number, sndbuf: number): number;
  flush(start: number, end: number): number;
  setReceiving(on: boolean): void;
  setRef(on: boolean): void;
  bufferSizes(): [number, number];
  close(): boolean;
}

interface NativeModule {
  UdpBatchSocket: new (
    onEvent: (kind: number, n: number) => void,
    batch: number,
    slotSize: number,
    sendBytes: number,
    sendSlots: number,
  ) => NativeHandle;
  abiVersion: number;
}

const ADDON_ABI = 1;
const ADDON_RELATIVE = path.join('native', 'udp-batch', 'build', 'Release', 'udp_batch.node');

export interface NativeUdpStatus {
  available: boolean;
  path?: string;
  error?: string;
}

let loaded: { module: NativeModule | null; status: NativeUdpStatus } | undefined;

function findAddon(): string | undefined {
  const override = process.env.TRACKER_UDP_NATIVE_ADDON;
  if (override) return override;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, ADDON_RELATIVE);
    if (existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

function loadAddon(): { module: NativeModule | null; status: NativeUdpStatus } {
  if (loaded) return loaded;
  if (process.env.TRACKER_UDP_NATIVE === '0') {
    loaded = { module: null, status: { available: false, error: 'disabled by TRACKER_UDP_NATIVE=0' } };
    return loaded;
  }
  if (process.platform !== 'linux') {
    loaded = { module: null, status: { available: false, error: `not supported on ${process.platform}` } };
    return loaded;
  }
  const file = findAddon();
  if (!file) {
    loaded = { module: null, status: { available: false, error: `not built (${ADDON_RELATIVE}; npm run build:native)` } };
    return loaded;
  }
  try {
    const mod = createRequire(import.meta.url)(file) as NativeModule;
    if (typeof mod.UdpBatchSocket !== 'function' || mod.abiVersion !== ADDON_ABI) {
      throw new Error(`unexpected addon (abiVersion ${String(mod.abiVersion)}, want ${ADDON_ABI})`);
    }
    loaded = { module: mod, status: { available: true, path: file } };
  } catch (error) {
    loaded = { module: null, status: { available: false, path: file, error: (error as Error).message } };
  }
  return loaded;
}

/** Whether the native addon can be used here, and why not. */
export function nativeUdpStatus(): NativeUdpStatus {
  return { ...loadAddon().status };
}

/** Creates a socket: native when the addon loads (unless told otherwise), dgram otherwise. */
export function createBatchUdpSocket(options: BatchUdpSocketOptions = {}): BatchUdpSocket {
  const which = options.implementation ?? 'auto';
  if (which !== 'dgram') {
    const { module, status } = loadAddon();
    if (module) return new NativeBatchUdpSocket(module, options);
    if (which === 'native') throw new Error(`native UDP batching unavailable: ${status.error ?? 'unknown reason'}`);
  }
  return new DgramBatchUdpSocket(options);
}

// ---------------------------------------------------------------- shared helpers

function intOption(value: number | undefined, fallback: number, min: number, max: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return v;
}

function checkIndex(i: number, count: number): void {
  if (!(i >= 0 && i < count && (i | 0) === i)) throw new RangeError(`datagram index ${i} outside 0..${count - 1} (views are valid only during the batch handler)`);
}

function checkEndpoint(to: UdpEndpoint): Uint8Array {
  let a = to.address;
  if (a.length === 16 && isIPv4Mapped(a)) a = a.subarray(12);
  if (a.length !== 4 && a.length !== 16) throw new RangeError('endpoint address must be 4 or 16 bytes');
  if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535) throw new RangeError(`bad destination port ${to.port}`);
  return a;
}

function checkWritten(n: number, maxLength: number): number {
  if (n < 0) return -1;
  if (!Number.isInteger(n) || n > maxLength) throw new RangeError(`writer returned ${n}, must be an integer <= ${maxLength}`);
  return n;
}

interface BindTarget {
  family: 4 | 6;
  bytes: Uint8Array;
  text: string;
}

async function resolveBindAddress(host: string): Promise<BindTarget> {
  let text = host === '' ? '0.0.0.0' : host;
  let kind = isIP(text);
  if (kind === 0) {
    const r = await lookup(text);
    text = r.address;
    kind = r.family === 6 ? 6 : 4;
  }
  if (kind === 4) {
    const bytes = parseIp(text);
    if (!bytes || bytes.length !== 4) throw new Error(`bad IPv4 address ${host}`);
    return { family: 4, bytes, text };
  }
  const parsed = parseIp(text); // IPv4-mapped comes back as 4 bytes: rebuild the 16
  if (!parsed) throw new Error(`bad IPv6 address ${host}`);
  let bytes = parsed;
  if (parsed.length === 4) {
    bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    bytes.set(parsed, 12);
  }
  return { family: 6, bytes, text };
}

// ---------------------------------------------------------------- native

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

class NativeBatchUdpSocket implements BatchUdpSocket {
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

// ---------------------------------------------------------------- dgram fallback

const endpointText = new WeakMap<UdpEndpoint, string>();

class DgramBatch implements ReceivedBatch {
  count = 0;
  msg: Buffer = Buffer.alloc(0);
  rinfo: dgram.RemoteInfo | undefined;
  cut = false;
  private addr: Uint8Array | null = null;
  constructor(
    private readonly owner: DgramBatchUdpSocket,
    private readonly limit: number,
  ) {}

  set(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.count = 1;
    this.cut = msg.length > this.limit;
    this.msg = this.cut ? msg.subarray(0, this.limit) : msg;
    this.rinfo = rinfo;
    this.addr = null;
  }

  clear(): void {
    this.count = 0;
    this.rinfo = undefined;
    this.addr = null;
  }

  data(i: number): Uint8Array {
    checkIndex(i, this.count);
    return this.msg;
  }

  length(i: number): number {
    checkIndex(i, this.count);
    return this.msg.length;
  }

  truncated(i: number): boolean {
    checkIndex(i, this.count);
    return this.cut;
  }

  family(i: number): 4 | 6 {
    return this.address(i).length === 4 ? 4 : 6;
  }

  address(i: number): Uint8Array {
    checkIndex(i, this.count);
    if (!this.addr) this.addr = parseIp(this.rinfo!.address) ?? new Uint8Array(16);
    return this.addr;
  }

  port(i: number): number {
    checkIndex(i, this.count);
    return this.rinfo!.port;
  }

  source(i: number): UdpEndpoint {
    const endpoint: UdpEndpoint = { address: this.address(i).slice(), port: this.rinfo!.port };
    endpointText.set(endpoint, this.rinfo!.address);
    return endpoint;
  }

  reply(i: number, write: DatagramWriter | Uint8Array, maxLength?: number): boolean {
    checkIndex(i, this.count);
    return this.owner.enqueueTo(this.rinfo!.address, this.rinfo!.port, write, maxLength);
  }
}

class DgramBatchUdpSocket implements BatchUdpSocket {
  readonly native = false;
  private socket: dgram.Socket | undefined;
  private readonly batch: DgramBatch;
  private readonly maxReply: number;
  private readonly queueLimit: number;
  private readonly queueBytes: number;
  private queue: { data: Buffer; length: number; port: number; address: string }[] = [];
  private inHandler = false;
  private flushScheduled = false;
  private receiving = true;
  private refd = true;
  private state: 'new' | 'binding' | 'bound' | 'closing' | 'closed' = 'new';
  private boundPort = 0;
  private boundFamily: 4 | 6 | 0 = 0;
  private handler: ((batch: ReceivedBatch) => void) | undefined;
  private errorHandler: ((error: Error) => void) | undefined;
  private closePromise: Promise<void> | undefined;
  private readonly counters = { received: 0, batches: 0, sent: 0, sendErrors: 0, sendDropped: 0, truncated: 0 };
  private lastSendError: string | undefined;
  private readonly flushSoon = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
  private readonly afterSend = (error: Error | null): void => {
    if (error) {
      this.counters.sendErrors++;
      this.lastSendError = (error as NodeJS.ErrnoException).code;
    } else {
      this.counters.sent++;
    }
  };

  constructor(private readonly options: BatchUdpSocketOptions) {
    const slot = intOption(options.maxDatagramSize, DEFAULTS.maxDatagramSize, 1, 65_536, 'maxDatagramSize');
    intOption(options.batchSize, DEFAULTS.batchSize, 1, 1024, 'batchSize');
    this.queueBytes = intOption(options.sendQueueBytes, DEFAULTS.sendQueueBytes, 1024, 1 << 30, 'sendQueueBytes');
    this.queueLimit = intOption(options.sendQueueLength, DEFAULTS.sendQueueLength, 1, 1 << 20, 'sendQueueLength');
    this.maxReply = intOption(options.maxReplyLength, DEFAULTS.maxReplyLength, 1, 65_536, 'maxReplyLength');
    this.batch = new DgramBatch(this, slot);
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
    let socket: dgram.Socket | undefined;
    try {
      const target = await resolveBindAddress(host);
      if (this.state !== 'binding') throw new Error('socket closed while binding');
      const recv = this.options.recvBufferSize;
      const send = this.options.sendBufferSize;
      socket = dgram.createSocket({
        type: target.family === 6 ? 'udp6' : 'udp4',
        ipv6Only: this.options.ipv6Only ?? false,
        ...(recv ? { recvBufferSize: recv } : {}),
        ...(send ? { sendBufferSize: send } : {}),
      });
      const s = socket;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: target.text, port }, () => {
          s.off('error', reject);
          resolve();
        });
      });
      if (this.state !== 'binding') throw new Error('socket closed while binding');
      s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
      s.on('error', (error: NodeJS.ErrnoException) => this.onSocketError(error));
      if (!this.refd) s.unref();
      this.socket = s;
      this.boundPort = s.address().port;
      this.boundFamily = target.family;
      this.state = 'bound';
    } catch (error) {
      socket?.close();
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
    const address = checkEndpoint(to);
    let text = endpointText.get(to);
    if (text === undefined) {
      text = formatIp(address);
      if (address.length === 16 && to.scopeId) text += `%${to.scopeId}`;
      if (address.length === 4 && this.boundFamily === 6) text = `::ffff:${text}`;
    }
    if (address.length === 16 && this.boundFamily === 4) {
      if (this.state === 'new' || this.state === 'binding') throw new Error('send before bind');
      this.counters.sendErrors++;
      this.lastSendError = 'EAFNOSUPPORT';
      return false;
    }
    return this.enqueueTo(text, to.port, write, maxLength);
  }

  enqueueTo(address: string, port: number, write: DatagramWriter | Uint8Array, maxLength?: number): boolean {
    if (this.state !== 'bound') {
      if (this.state === 'new' || this.state === 'binding') throw new Error('send before bind');
      this.counters.sendDropped++;
      return false;
    }
    const room = typeof write !== 'function' ? write.length : (maxLength ?? this.maxReply);
    if (!Number.isInteger(room) || room < 0 || room > this.queueBytes) {
      // Same limit as the native send area, so both behave alike.
      throw new RangeError(`datagram of up to ${room} bytes does not fit the send queue (${this.queueBytes} bytes)`);
    }
    let data: Buffer;
    let length: number;
    if (typeof write !== 'function') {
      data = Buffer.from(write); // copied: the caller may reuse its bytes
      length = data.length;
    } else {
      // A fresh (pooled) buffer per reply, as a plain dgram server does: dgram may hold it until sent.
      data = Buffer.allocUnsafe(room);
      length = checkWritten(write(data), room);
      if (length < 0) return false;
    }
    this.queue.push({ data, length, port, address });
    if (this.queue.length >= this.queueLimit) this.flush();
    else if (!this.inHandler && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushSoon);
    }
    return true;
  }

  flush(): void {
    const socket = this.socket;
    if (!socket || this.queue.length === 0) return;
    const queue = this.queue;
    this.queue = [];
    // With no callback dgram drops send errors silently: the callback counts them.
    for (const q of queue) socket.send(q.data, 0, q.length, q.port, q.address, this.afterSend);
  }

  setReceiving(on: boolean): void {
    this.receiving = on;
  }

  ref(): void {
    this.refd = true;
    this.socket?.ref();
  }

  unref(): void {
    this.refd = false;
    this.socket?.unref();
  }

  bufferSizes(): { recv: number; send: number } {
    if (!this.socket || this.state !== 'bound') return { recv: 0, send: 0 };
    return { recv: this.socket.getRecvBufferSize(), send: this.socket.getSendBufferSize() };
  }

  stats(): BatchUdpSocketStats {
    return { ...this.counters, lastSendError: this.lastSendError, queued: this.queue.length };
  }

  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    if (this.state === 'bound') this.flush();
    this.state = 'closing';
    this.counters.sendDropped += this.queue.length;
    this.queue = [];
    const socket = this.socket;
    this.socket = undefined;
    this.closePromise = new Promise<void>((resolve) => {
      if (!socket) {
        this.state = 'closed';
        resolve();
        return;
      }
      socket.close(() => {
        this.state = 'closed';
        resolve();
      });
    });
    return this.closePromise;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.state !== 'bound' || !this.receiving) return;
    this.counters.received++;
    this.counters.batches++;
    const handler = this.handler;
    if (!handler) return;
    this.batch.set(msg, rinfo);
    if (this.batch.cut) this.counters.truncated++;
    this.inHandler = true;
    try {
      handler(this.batch);
    } finally {
      this.inHandler = false;
      this.batch.clear();
      this.flush();
    }
  }

  private onSocketError(error: NodeJS.ErrnoException): void {
    this.errorHandler?.(error);
  }
}
