/**
 * The node:dgram implementation, used where the native addon is not built or
 * cannot load (another OS, no compiler) or is turned off: one datagram per
 * batch, one send per reply; the same semantics otherwise.
 */
import dgram from 'node:dgram';
import { formatIp, parseIp } from '../ip.js';
import { resolveBindAddress } from './bind-address.js';
import { DEFAULTS, checkEndpoint, checkIndex, checkWritten, intOption } from './checks.js';
import type { BatchUdpSocket, BatchUdpSocketOptions, BatchUdpSocketStats, DatagramWriter, ReceivedBatch, UdpEndpoint } from './types.js';

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

export class DgramBatchUdpSocket implements BatchUdpSocket {
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
