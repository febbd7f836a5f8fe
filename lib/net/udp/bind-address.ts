/** Turns the host given to bind() into the family and address bytes a socket binds to. */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseIp } from '../ip.js';

export interface BindTarget {
  family: 4 | 6;
  bytes: Uint8Array;
  text: string;
}

export async function resolveBindAddress(host: string): Promise<BindTarget> {
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
