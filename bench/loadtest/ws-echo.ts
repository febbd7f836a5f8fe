/**
 * A trivial WebTorrent target for measuring the ws generator's ceiling (and
 * for tests): uWebSockets.js, no swarm state. Every announce gets its reply
 * at once and each of its offers comes straight back to the same socket as
 * an offer from a fixed fake peer; every answer comes straight back to the
 * same socket as a relayed answer. So per announce the generator handles
 * exactly the traffic of a tracker that relays all offers (1 reply, N offers
 * to answer, N answers matching its own offers), without anybody's swarm
 * logic in the way. Scrapes get zero stats.
 *
 * Offers and answers are cut out of the frame and pasted into the replies
 * as raw bytes (wsEchoFast) so the echo costs much less than the generator;
 * any other frame is parsed in full (wsEchoReplies).
 *
 * CLI: `loadtest echo ws --port P [--host 127.0.0.1] [--max-seconds 600]` (run by echo-server.ts's runEchoServer).
 */
import uWS from 'uWebSockets.js';
import type { us_listen_socket, WebSocket } from 'uWebSockets.js';
import {
  encodeAnnounceReply,
  encodeAnswer,
  encodeOffer,
  encodeScrapeReply,
  encodeWtFailure,
  parseWtMessage,
} from '../../lib/protocol/webtorrent/server.js';
import type { EchoServer } from './echo-server.js';
import { ANSWER_KEY, INFO_HASH_KEY, OFFER_ID_KEY, OFFER_KEY, PEER_ID_KEY, literalRange, objectEnd } from './ws-client.js';

/** The peer every bounced offer claims to come from (20 chars). */
export const ECHO_PEER_ID = '-WSECHO-000000000000';

const LIMITS = { maxOffers: 100, maxScrapeHashes: 100 };
const ZERO = { complete: 0, incomplete: 0, downloaded: 0 };

/** The frames the echo sends back for one client frame (pure; exported for tests). */
export function wsEchoReplies(text: string): string[] {
  const m = parseWtMessage(text, LIMITS);
  switch (m.type) {
    case 'invalid':
      return [encodeWtFailure(m.reason, { action: m.action, infoHash: m.infoHash })];
    case 'scrape':
      return [encodeScrapeReply(m.infoHashes.map((h) => [h, ZERO] as const))];
    case 'announce': {
      if (m.answer) {
        return [encodeAnswer({ infoHash: m.infoHash, fromPeerId: m.peerId, offerId: m.answer.offerId, answer: m.answer.answer })];
      }
      const out = [encodeAnnounceReply({ infoHash: m.infoHash, interval: 120, complete: 0, incomplete: 1 })];
      for (const o of m.offers) out.push(encodeOffer({ infoHash: m.infoHash, fromPeerId: ECHO_PEER_ID, offerId: o.offerId, offer: o.offer }));
      return out;
    }
  }
}

const ACTION_ANNOUNCE = Buffer.from('"action":"announce"');
const OFFERS_KEY = Buffer.from('"offers":[');
const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const ANNOUNCE_HEAD = B('{"action":"announce","info_hash":');
const REPLY_TAIL = B(',"interval":120,"complete":0,"incomplete":1}');
const PEER_ID = B(',"peer_id":');
const ECHO_PEER = B(',"peer_id":' + JSON.stringify(ECHO_PEER_ID));
const OFFER_ID = B(',"offer_id":');
const OFFER = B(',"offer":');
const ANSWER = B(',"answer":');
const CLOSE = B('}');

/**
 * The echo's replies for an announce with offers, or an answer, built from
 * byte ranges of the frame without decoding it; null for anything else (or
 * anything that does not scan), which then takes wsEchoReplies.
 */
export function wsEchoFast(b: Buffer): Buffer[] | null {
  if (b.indexOf(ACTION_ANNOUNCE) < 0) return null;
  const ih = literalRange(b, INFO_HASH_KEY);
  if (ih === null) return null;
  const infoHash = b.subarray(ih[0], ih[1]);
  const a = b.indexOf(ANSWER_KEY);
  if (a >= 0) {
    const objStart = a + ANSWER_KEY.length - 1;
    const objStop = objectEnd(b, objStart);
    const pid = literalRange(b, PEER_ID_KEY);
    const oid = literalRange(b, OFFER_ID_KEY);
    if (objStop < 0 || pid === null || oid === null) return null;
    return [
      Buffer.concat([ANNOUNCE_HEAD, infoHash, PEER_ID, b.subarray(pid[0], pid[1]), OFFER_ID, b.subarray(oid[0], oid[1]), ANSWER, b.subarray(objStart, objStop), CLOSE]),
    ];
  }
  let at = b.indexOf(OFFERS_KEY);
  if (at < 0) return null;
  const out: Buffer[] = [Buffer.concat([ANNOUNCE_HEAD, infoHash, REPLY_TAIL])];
  for (;;) {
    const k = b.indexOf(OFFER_KEY, at);
    if (k < 0) break;
    const objStart = k + OFFER_KEY.length - 1;
    const objStop = objectEnd(b, objStart);
    if (objStop < 0) return null;
    const oid = literalRange(b, OFFER_ID_KEY, objStop);
    if (oid === null) return null;
    out.push(Buffer.concat([ANNOUNCE_HEAD, infoHash, ECHO_PEER, OFFER_ID, b.subarray(oid[0], oid[1]), OFFER, b.subarray(objStart, objStop), CLOSE]));
    at = oid[1];
  }
  return out;
}

export async function startWsEcho(host: string, port: number): Promise<EchoServer> {
  const app = uWS.App();
  const sockets = new Set<WebSocket<unknown>>();
  app.ws('/*', {
    maxPayloadLength: 1 << 20,
    maxBackpressure: 64 << 20,
    idleTimeout: 0,
    open: (ws) => {
      sockets.add(ws);
    },
    message: (ws, message, isBinary) => {
      if (isBinary) return;
      const b = Buffer.from(message);
      const fast = wsEchoFast(b);
      if (fast !== null) {
        ws.cork(() => {
          for (const r of fast) ws.send(r, false);
        });
        return;
      }
      for (const r of wsEchoReplies(b.toString('utf8'))) ws.send(r, false);
    },
    close: (ws) => {
      sockets.delete(ws);
    },
  });
  const token = await new Promise<us_listen_socket | false>((resolve) => app.listen(host, port, resolve));
  if (!token) throw new Error(`ws echo: cannot listen on ${host}:${port}`);
  return {
    port: uWS.us_socket_local_port(token as never),
    close: async () => {
      uWS.us_listen_socket_close(token);
      for (const ws of [...sockets]) {
        try {
          ws.end(1001, 'echo closing');
        } catch {
          // already closed
        }
      }
      sockets.clear();
    },
  };
}
