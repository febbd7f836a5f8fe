/**
 * Minimal HTTP/1.x response framing for the load generator (client side):
 * status line, Content-Length / chunked / read-until-close bodies,
 * Connection semantics. Tracker replies are small, so the caller keeps the
 * unparsed bytes in one Buffer and calls `parseHttpResponse` again when more
 * arrive. No I/O.
 */

export type HttpResponseParse =
  /** Need more bytes. */
  | { readonly state: 'incomplete' }
  /** A whole response: `consumed` bytes of the input belong to it. */
  | {
      readonly state: 'complete';
      readonly status: number;
      readonly body: Buffer;
      readonly consumed: number;
      /** The server will close (or wants us to): do not reuse the connection. */
      readonly close: boolean;
    }
  /** No length given: the body is everything from `bodyStart` until the server closes. */
  | { readonly state: 'until-close'; readonly status: number; readonly bodyStart: number }
  | { readonly state: 'error'; readonly error: string };

const INCOMPLETE: HttpResponseParse = Object.freeze({ state: 'incomplete' });
/** Refuse header blocks larger than this (a broken or hostile peer). */
export const MAX_HEADER_BYTES = 16 * 1024;

function error(e: string): HttpResponseParse {
  return { state: 'error', error: e };
}

/** Index of "\r\n\r\n" in buf, or -1. */
function headerEnd(buf: Buffer): number {
  return buf.indexOf('\r\n\r\n', 0, 'latin1');
}

export function parseHttpResponse(buf: Buffer): HttpResponseParse {
  const he = headerEnd(buf);
  if (he < 0) return buf.length > MAX_HEADER_BYTES ? error('header too large') : INCOMPLETE;
  const head = buf.toString('latin1', 0, he);
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
  if (!m) return error('bad status line');
  const http10 = m[1] === '0';
  const status = Number(m[2]);
  let contentLength = -1;
  let chunked = false;
  let close = http10;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) return error('bad header line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') {
      if (!/^\d{1,10}$/.test(value)) return error('bad content-length');
      contentLength = Number(value);
    } else if (name === 'transfer-encoding') {
      chunked = value.split(',').some((v) => v.trim() === 'chunked');
    } else if (name === 'connection') {
      const tokens = value.split(',').map((v) => v.trim());
      if (tokens.includes('close')) close = true;
      else if (tokens.includes('keep-alive')) close = false;
    }
  }
  const bodyStart = he + 4;
  // 1xx, 204 and 304 carry no body.
  if ((status >= 100 && status < 200) || status === 204 || status === 304) {
    return { state: 'complete', status, body: buf.subarray(bodyStart, bodyStart), consumed: bodyStart, close };
  }
  if (chunked) return parseChunked(buf, bodyStart, status, close);
  if (contentLength >= 0) {
    if (buf.length < bodyStart + contentLength) return INCOMPLETE;
    return {
      state: 'complete',
      status,
      body: buf.subarray(bodyStart, bodyStart + contentLength),
      consumed: bodyStart + contentLength,
      close,
    };
  }
  return { state: 'until-close', status, bodyStart };
}

function parseChunked(buf: Buffer, start: number, status: number, close: boolean): HttpResponseParse {
  const parts: Buffer[] = [];
  let o = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', o, 'latin1');
    if (eol < 0) return INCOMPLETE;
    const sizeText = buf.toString('latin1', o, eol).split(';')[0].trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return error('bad chunk size');
    const size = parseInt(sizeText, 16);
    o = eol + 2;
    if (size === 0) {
      // Trailers (ignored) end with an empty line.
      for (;;) {
        const t = buf.indexOf('\r\n', o, 'latin1');
        if (t < 0) return INCOMPLETE;
        const empty = t === o;
        o = t + 2;
        if (empty) break;
      }
      return { state: 'complete', status, body: Buffer.concat(parts), consumed: o, close };
    }
    if (buf.length < o + size + 2) return INCOMPLETE;
    parts.push(buf.subarray(o, o + size));
    if (buf[o + size] !== 13 || buf[o + size + 1] !== 10) return error('bad chunk terminator');
    o += size + 2;
  }
}
