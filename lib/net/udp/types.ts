/**
 * The contract of the batched UDP socket: a UDP socket that hands datagrams
 * to JS in batches and sends replies in batches. Two implementations behind
 * one interface:
 *
 * - native (native/udp-batch, Linux): recvmmsg / sendmmsg on a socket the
 *   addon watches with uv_poll on Node's loop. One JS call per received
 *   batch (up to `batchSize` datagrams), data and per-datagram metadata in
 *   memory shared with the addon (no per-datagram object from native code),
 *   replies written straight into a shared send area and sent with one
 *   sendmmsg per flush.
 * - dgram (node:dgram): the fallback where the addon is not built or cannot
 *   load (another OS, no compiler) or is turned off. One datagram per
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
 */
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
