/**
 * A minimal tracker client (BEP 3/23 HTTP, BEP 15 UDP) for asking the tracker
 * directly, independent of our own protocol code: every exchange is bounded.
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { bencode } from '../torrent.js';

export interface AnnounceParams {
  infoHash: Uint8Array;
  peerId?: Uint8Array;
  port: number;
  left?: number;
  event?: 'started' | 'completed' | 'stopped' | 'none';
  numwant?: number;
}

export interface AnnounceResult {
  /** Set when the tracker refused (HTTP `failure reason`, UDP action 3). */
  failure?: string;
  interval?: number;
  complete?: number;
  incomplete?: number;
  /** Compact peers ("ip:port"), IPv4 and IPv6. */
  peers: string[];
  /** The decoded HTTP dictionary / raw UDP reply, for debugging. */
  raw: unknown;
}

/** Percent-encodes every byte (valid for any binary value). */
export function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += `%${byte.toString(16).padStart(2, '0')}`;
  return out;
}

export function decodeCompactPeers(bytes: Uint8Array, family: 4 | 6): string[] {
  const size = family === 4 ? 6 : 18;
  const peers: string[] = [];
  const buf = Buffer.from(bytes);
  for (let offset = 0; offset + size <= buf.length; offset += size) {
    const port = buf.readUInt16BE(offset + size - 2);
    if (family === 4) {
      peers.push(`${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}:${port}`);
    } else {
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(offset + i).toString(16));
      peers.push(`[${compressIPv6(groups)}]:${port}`);
    }
  }
  return peers;
}

function compressIPv6(groups: string[]): string {
  // Longest run of zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

/** GET <announceUrl>?... and decode the bencoded reply. */
export async function httpAnnounce(announceUrl: string, params: AnnounceParams, timeoutMs = 3000): Promise<AnnounceResult> {
  const peerId = params.peerId ?? Buffer.concat([Buffer.from('-E2E000-'), randomBytes(12)]);
  const query = [
    `info_hash=${percentEncode(params.infoHash)}`,
    `peer_id=${percentEncode(peerId)}`,
    `port=${params.port}`,
    'uploaded=0',
    'downloaded=0',
    `left=${params.left ?? 0}`,
    'compact=1',
    `numwant=${params.numwant ?? 50}`,
  ];
  if (params.event && params.event !== 'none') query.push(`event=${params.event}`);
  const url = `${announceUrl}${announceUrl.includes('?') ? '&' : '?'}${query.join('&')}`;
  const body = await httpGet(url, timeoutMs);
  let decoded: Record<string, unknown>;
  try {
    decoded = bencode.decode(body) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`GET ${url}: the reply is not bencode (${(error as Error).message}): ${JSON.stringify(Buffer.from(body).toString('latin1'))}`);
  }
  const text = (v: unknown): string | undefined => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : typeof v === 'string' ? v : undefined);
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const peers: string[] = [];
  if (decoded.peers instanceof Uint8Array) peers.push(...decodeCompactPeers(decoded.peers, 4));
  if (decoded.peers6 instanceof Uint8Array) peers.push(...decodeCompactPeers(decoded.peers6, 6));
  return {
    failure: text(decoded['failure reason']),
    interval: num(decoded.interval),
    complete: num(decoded.complete),
    incomplete: num(decoded.incomplete),
    peers,
    raw: decoded,
  };
}

function httpGet(url: string, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolveBody, reject) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => {
        clearTimeout(timer);
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('latin1')}`));
        else resolveBody(Buffer.concat(chunks));
      });
      res.once('error', reject);
    });
    // `timeout` is an idle timeout; this bounds the whole exchange.
    const timer = setTimeout(() => req.destroy(new Error(`GET ${url}: no complete reply within ${timeoutMs} ms`)), timeoutMs);
    req.once('timeout', () => req.destroy(new Error(`GET ${url}: idle for ${timeoutMs} ms`)));
    req.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}

const UDP_PROTOCOL_ID = 0x41727101980n;
const UDP_EVENTS = { none: 0, completed: 1, started: 2, stopped: 3 } as const;

/**
 * BEP 15 connect + announce to udp://host:port. Each request gets
 * `attemptTimeoutMs` and is sent at most `attempts` times (a lost datagram on
 * loopback is rare, but the tracker may drop requests it does not like).
 */
export async function udpAnnounce(
  announceUrl: string,
  params: AnnounceParams,
  { attemptTimeoutMs = 1500, attempts = 2 }: { attemptTimeoutMs?: number; attempts?: number } = {},
): Promise<AnnounceResult> {
  const url = new URL(announceUrl);
  if (url.protocol !== 'udp:') throw new Error(`not a udp:// URL: ${announceUrl}`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port);
  const family = host.includes(':') ? 6 : 4;
  const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolveBind, reject) => {
    socket.once('error', reject);
    socket.bind(0, family === 6 ? '::1' : '127.0.0.1', () => {
      socket.off('error', reject);
      resolveBind();
    });
  });
  try {
    const exchange = async (packet: Buffer, transactionId: number, what: string): Promise<Buffer> => {
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const reply = await new Promise<Buffer | null>((resolveReply) => {
          const onMessage = (message: Buffer): void => {
            if (message.length >= 8 && message.readUInt32BE(4) === transactionId) {
              cleanup();
              resolveReply(message);
            }
          };
          const timer = setTimeout(() => {
            cleanup();
            resolveReply(null);
          }, attemptTimeoutMs);
          const cleanup = (): void => {
            clearTimeout(timer);
            socket.off('message', onMessage);
          };
          socket.on('message', onMessage);
          socket.send(packet, port, host);
        });
        if (reply) return reply;
      }
      throw new Error(`udp ${announceUrl}: no reply to ${what} after ${attempts} attempts of ${attemptTimeoutMs} ms`);
    };

    const connectTx = randomBytes(4).readUInt32BE(0);
    const connect = Buffer.alloc(16);
    connect.writeBigUInt64BE(UDP_PROTOCOL_ID, 0);
    connect.writeUInt32BE(0, 8);
    connect.writeUInt32BE(connectTx, 12);
    const connectReply = await exchange(connect, connectTx, 'connect');
    const connectAction = connectReply.readUInt32BE(0);
    if (connectAction === 3) {
      return { failure: connectReply.subarray(8).toString('utf8'), peers: [], raw: connectReply };
    }
    if (connectAction !== 0 || connectReply.length < 16) {
      throw new Error(`udp ${announceUrl}: bad connect reply ${connectReply.toString('hex')}`);
    }
    const connectionId = connectReply.subarray(8, 16);

    const announceTx = randomBytes(4).readUInt32BE(0);
    const announce = Buffer.alloc(98);
    connectionId.copy(announce, 0);
    announce.writeUInt32BE(1, 8);
    announce.writeUInt32BE(announceTx, 12);
    Buffer.from(params.infoHash).copy(announce, 16);
    Buffer.from(params.peerId ?? Buffer.concat([Buffer.from('-E2E000-'), randomBytes(12)])).copy(announce, 36);
    announce.writeBigUInt64BE(0n, 56); // downloaded
    announce.writeBigUInt64BE(BigInt(params.left ?? 0), 64);
    announce.writeBigUInt64BE(0n, 72); // uploaded
    announce.writeUInt32BE(UDP_EVENTS[params.event ?? 'none'], 80);
    announce.writeUInt32BE(0, 84); // ip: default
    announce.writeUInt32BE(randomBytes(4).readUInt32BE(0), 88); // key
    announce.writeInt32BE(params.numwant ?? 50, 92);
    announce.writeUInt16BE(params.port, 96);
    const reply = await exchange(announce, announceTx, 'announce');
    const action = reply.readUInt32BE(0);
    if (action === 3) return { failure: reply.subarray(8).toString('utf8'), peers: [], raw: reply };
    if (action !== 1 || reply.length < 20) throw new Error(`udp ${announceUrl}: bad announce reply ${reply.toString('hex')}`);
    return {
      interval: reply.readUInt32BE(8),
      incomplete: reply.readUInt32BE(12),
      complete: reply.readUInt32BE(16),
      peers: decodeCompactPeers(reply.subarray(20), family),
      raw: reply,
    };
  } finally {
    socket.close();
  }
}

/** JSON for failure messages: byte strings shown as text when printable, else hex. */
export function describeReply(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) {
      const text = Buffer.from(v).toString('latin1');
      return /^[\x20-\x7e]*$/.test(text) ? text : `hex:${Buffer.from(v).toString('hex')}`;
    }
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return `hex:${Buffer.from((v as { data: number[] }).data).toString('hex')}`;
    }
    return v;
  });
}
