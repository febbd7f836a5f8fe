/**
 * IP address text <-> bytes. Addresses are 4 bytes (IPv4) or 16 bytes
 * (IPv6); an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is IPv4, so a v4
 * client on a dual-stack socket is stored and answered as IPv4.
 */
import { isIPv6 } from 'node:net';

function parseIPv4Into(text: string, start: number, out: Uint8Array, offset: number): boolean {
  let part = 0;
  let digits = 0;
  let index = 0;
  for (let i = start; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; /* '.' terminates the last part */
    if (c === 46) {
      if (digits === 0 || index > 3) return false;
      out[offset + index++] = part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return false;
    } else {
      return false;
    }
  }
  return index === 4;
}

function parseIPv6(text: string): Uint8Array | null {
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (!isIPv6(text)) return null;
  const out = new Uint8Array(16);
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap !== -1) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const words = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const headWords = words(head);
  const tailWords = words(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) takes two 16-bit words.
  const expand = (list: string[]): number[] | null => {
    const result: number[] = [];
    for (const w of list) {
      if (w.includes('.')) {
        const v4 = new Uint8Array(4);
        if (!parseIPv4Into(w, 0, v4, 0)) return null;
        result.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        result.push(parseInt(w, 16));
      }
    }
    return result;
  };
  const h = expand(headWords);
  const t = expand(tailWords);
  if (!h || !t) return null;
  const all = gap === -1 ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  if (all.length !== 8) return null;
  for (let i = 0; i < 8; i++) {
    out[i * 2] = all[i] >> 8;
    out[i * 2 + 1] = all[i] & 0xff;
  }
  return out;
}

/** True for ::ffff:0:0/96. */
export function isIPv4Mapped(address: Uint8Array): boolean {
  if (address.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (address[i] !== 0) return false;
  return address[10] === 0xff && address[11] === 0xff;
}

/** Parses an IP address; IPv4-mapped IPv6 comes back as 4 bytes. Null when not an address. */
export function parseIp(text: string): Uint8Array | null {
  if (text.indexOf(':') === -1) {
    const out = new Uint8Array(4);
    return parseIPv4Into(text, 0, out, 0) ? out : null;
  }
  // Fast path: what a dual-stack socket reports for every IPv4 client.
  if (text.length <= 22 && text.startsWith('::ffff:') && text.indexOf('.') !== -1) {
    const out = new Uint8Array(4);
    return parseIPv4Into(text, 7, out, 0) ? out : null;
  }
  const v6 = parseIPv6(text);
  if (v6 && isIPv4Mapped(v6)) return v6.slice(12);
  return v6;
}

/**
 * Whether peers could reach this address: false for the unspecified
 * addresses (0.0.0.0/8, ::), IPv4 limited broadcast and the reserved
 * 240.0.0.0/4 it sits in, and multicast (224.0.0.0/4, ff00::/8). A tracker
 * that stored one would hand it out as a peer, and a reply sent to a
 * multicast or broadcast source would reach hosts that never asked.
 * Loopback and private ranges are usable (labs, LANs, tests).
 */
export function isUsableUnicast(address: Uint8Array): boolean {
  if (address.length === 4) {
    const a = address[0];
    return a !== 0 && a < 224;
  }
  if (address.length !== 16) return false;
  if (address[0] === 0xff) return false;
  if (isIPv4Mapped(address)) return isUsableUnicast(address.subarray(12));
  for (let i = 0; i < 16; i++) if (address[i] !== 0) return true;
  return false;
}

/** Normalises raw address bytes (e.g. from uWebSockets.js): mapped IPv6 -> 4 bytes. */
export function normalizeIp(address: Uint8Array): Uint8Array {
  return isIPv4Mapped(address) ? address.slice(12) : address;
}

/** Compact endpoint: address bytes followed by the port, big-endian. */
export function compactEndpoint(address: Uint8Array, port: number): Uint8Array {
  const out = new Uint8Array(address.length + 2);
  out.set(address, 0);
  out[address.length] = port >> 8;
  out[address.length + 1] = port & 0xff;
  return out;
}

export function formatIp(address: Uint8Array): string {
  if (address.length === 4) return `${address[0]}.${address[1]}.${address[2]}.${address[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((address[i] << 8) | address[i + 1]);
  // RFC 5952: compress the longest run (>= 2) of zero words.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]): string => list.map((w) => w.toString(16)).join(':');
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}
