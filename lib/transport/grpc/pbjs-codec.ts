/**
 * The same API as codec.ts, built on the protobufjs static code that
 * scripts/gen-proto.mjs generates from proto/tracker.proto. It converts
 * between the domain model's shapes (lib/tracker/: latin1 string ids,
 * discriminated unions) and the generated message objects.
 *
 * Not used at run time (codec.ts is faster: `bench/grpc-transport.js
 * --codec-only`); grpc-codec.test.ts compares codec.ts's bytes with it. It
 * can be plugged into the transport for comparisons (the client's and
 * server's `codec` option; `bench/grpc-transport.js --codecs fast,pbjs`).
 */
import * as generated from './generated/tracker.js';
import type { tracker } from './generated/tracker.types.js';
import type { AnnounceEvent } from '../../tracker/events.js';
import type { TorrentStats } from '../../tracker/scrape.js';
import type { SwarmReply, SwarmRequest } from '../../tracker/swarm.js';
import type { SessionDescription, SocketRef, WtRelayMessage } from '../../tracker/webtorrent.js';
import type { DecodedEdgeBatch, DecodedSwarmBatch, OutgoingEdgeBatch, Relay } from './codec.js';

/** The generated namespace, typed by the pbts declarations. */
export const pb = (generated as unknown as { tracker: typeof tracker }).tracker.v1;

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');
const str = (b: Uint8Array | null | undefined): string => (b && b.length ? Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1') : '');
const ref = (r: SocketRef): tracker.v1.SocketRef.$Properties => ({ edge: r.edge, socket: r.socket });
const sdp = (d: SessionDescription): tracker.v1.SessionDescription.$Properties => ({ type: d.type, sdp: d.sdp });
const fromRef = (r: tracker.v1.SocketRef.$Properties | null | undefined): SocketRef => ({ edge: r?.edge ?? '', socket: Number(r?.socket ?? 0) });
const fromSdp = (d: tracker.v1.SessionDescription.$Properties | null | undefined): SessionDescription => ({ type: d?.type ?? '', sdp: d?.sdp ?? '' });
const stats = (f: TorrentStats): tracker.v1.TorrentStats.$Properties => ({ complete: f.complete, incomplete: f.incomplete, downloaded: f.downloaded });
const fromStats = (f: tracker.v1.TorrentStats.$Properties): TorrentStats => ({ complete: f.complete ?? 0, incomplete: f.incomplete ?? 0, downloaded: f.downloaded ?? 0 });

export function toPbRequest(id: number, r: SwarmRequest): tracker.v1.Request.$Properties {
  switch (r.type) {
    case 'announce':
      return {
        id,
        announce: {
          infoHash: bin(r.infoHash),
          peerId: bin(r.peerId),
          endpoint: r.endpoint,
          event: r.event,
          left: r.left,
          numwant: r.numwant,
          sameSubnetBits: r.sameSubnetBits ?? 0,
          minAnnounceSeconds: r.minAnnounceSeconds ?? 0,
          ...(r.userId ? {
            userId: r.userId,
            uploaded: r.uploaded ?? 0,
            downloaded: r.downloaded ?? 0,
            userUp: r.userUpMultiplier ?? 0,
            userDown: r.userDownMultiplier ?? 0,
            clientId: r.clientId ?? 0,
            hideAddress: r.hideAddress ?? false,
          } : {}),
        },
      };
    case 'scrape':
      return { id, scrape: { infoHashes: r.infoHashes.map(bin) } };
    case 'wt-scrape':
      return { id, wtScrape: { infoHashes: r.infoHashes.map(bin) } };
    case 'wt-announce':
      return {
        id,
        wtAnnounce: {
          infoHash: bin(r.infoHash),
          peerId: bin(r.peerId),
          from: ref(r.from),
          event: r.event,
          seeder: r.seeder,
          offers: r.offers.map((o) => ({ offerId: bin(o.offerId), offer: sdp(o.offer) })),
        },
      };
    case 'wt-answer':
      return {
        id,
        wtAnswer: { infoHash: bin(r.infoHash), peerId: bin(r.peerId), from: ref(r.from), toPeerId: bin(r.toPeerId), offerId: bin(r.offerId), answer: sdp(r.answer) },
      };
    case 'wt-disconnect':
      return { id, wtDisconnect: { from: ref(r.from), peers: r.peers.map((p) => ({ infoHash: bin(p.infoHash), peerId: bin(p.peerId) })) } };
  }
}

export function fromPbRequest(q: tracker.v1.Request.$Properties): SwarmRequest | undefined {
  if (q.announce) {
    const a = q.announce;
    return {
      type: 'announce',
      infoHash: str(a.infoHash),
      peerId: str(a.peerId),
      endpoint: a.endpoint ?? new Uint8Array(0),
      event: (a.event ?? 0) as AnnounceEvent,
      left: Number(a.left ?? 0),
      numwant: a.numwant ?? 0,
      sameSubnetBits: a.sameSubnetBits ?? 0,
      minAnnounceSeconds: a.minAnnounceSeconds ?? 0,
      ...(a.userId ? {
        userId: a.userId,
        uploaded: Number(a.uploaded ?? 0),
        downloaded: Number(a.downloaded ?? 0),
        userUpMultiplier: a.userUp ?? 0,
        userDownMultiplier: a.userDown ?? 0,
        clientId: a.clientId ?? 0,
        hideAddress: a.hideAddress ?? false,
      } : {}),
    };
  }
  if (q.scrape) return { type: 'scrape', infoHashes: (q.scrape.infoHashes ?? []).map(str) };
  if (q.wtScrape) return { type: 'wt-scrape', infoHashes: (q.wtScrape.infoHashes ?? []).map(str) };
  if (q.wtAnnounce) {
    const a = q.wtAnnounce;
    return {
      type: 'wt-announce',
      infoHash: str(a.infoHash),
      peerId: str(a.peerId),
      from: fromRef(a.from),
      event: (a.event ?? 0) as AnnounceEvent,
      seeder: a.seeder ?? false,
      offers: (a.offers ?? []).map((o) => ({ offerId: str(o.offerId), offer: fromSdp(o.offer) })),
    };
  }
  if (q.wtAnswer) {
    const a = q.wtAnswer;
    return {
      type: 'wt-answer',
      infoHash: str(a.infoHash),
      peerId: str(a.peerId),
      from: fromRef(a.from),
      toPeerId: str(a.toPeerId),
      offerId: str(a.offerId),
      answer: fromSdp(a.answer),
    };
  }
  if (q.wtDisconnect) {
    const d = q.wtDisconnect;
    return { type: 'wt-disconnect', from: fromRef(d.from), peers: (d.peers ?? []).map((p) => ({ infoHash: str(p.infoHash), peerId: str(p.peerId) })) };
  }
  return undefined;
}

export function toPbReply(id: number, r: SwarmReply): tracker.v1.Reply.$Properties {
  switch (r.type) {
    case 'announce':
      return {
        id,
        announce: { interval: r.interval, minInterval: r.minInterval, complete: r.complete, incomplete: r.incomplete, downloaded: r.downloaded, peers: r.peers },
      };
    case 'scrape':
      return { id, scrape: { files: r.files.map(stats) } };
    case 'wt-scrape':
      return { id, wtScrape: { files: r.files.map(stats) } };
    case 'error':
      return { id, error: { message: r.message } };
    case 'wt-announce':
      return { id, wtAnnounce: { interval: r.interval, complete: r.complete, incomplete: r.incomplete, offersRelayed: r.offersRelayed } };
    case 'wt-answer':
      return { id, wtAnswer: {} };
    case 'wt-disconnect':
      return { id, wtDisconnect: { removed: r.removed } };
    case 'moved':
      return { id, moved: { owner: r.owner ?? '' } };
  }
}

export function fromPbReply(p: tracker.v1.Reply.$Properties): SwarmReply {
  if (p.announce) {
    const a = p.announce;
    return {
      type: 'announce',
      interval: a.interval ?? 0,
      minInterval: a.minInterval ?? 0,
      complete: a.complete ?? 0,
      incomplete: a.incomplete ?? 0,
      downloaded: a.downloaded ?? 0,
      peers: a.peers ?? new Uint8Array(0),
    };
  }
  if (p.scrape) return { type: 'scrape', files: (p.scrape.files ?? []).map(fromStats) };
  if (p.wtScrape) return { type: 'wt-scrape', files: (p.wtScrape.files ?? []).map(fromStats) };
  if (p.error) return { type: 'error', message: p.error.message ?? '' };
  if (p.wtAnnounce) {
    const a = p.wtAnnounce;
    return { type: 'wt-announce', interval: a.interval ?? 0, complete: a.complete ?? 0, incomplete: a.incomplete ?? 0, offersRelayed: a.offersRelayed ?? 0 };
  }
  if (p.wtAnswer) return { type: 'wt-answer' };
  if (p.wtDisconnect) return { type: 'wt-disconnect', removed: p.wtDisconnect.removed ?? 0 };
  if (p.moved) return p.moved.owner ? { type: 'moved', owner: p.moved.owner } : { type: 'moved' };
  return { type: 'error', message: 'unsupported reply type' };
}

export function toPbRelay(relay: Relay): tracker.v1.WtRelay.$Properties {
  const m = relay.message;
  const body = { infoHash: bin(m.infoHash), fromPeerId: bin(m.fromPeerId), offerId: bin(m.offerId) };
  return m.kind === 'offer'
    ? { socket: relay.socket, offer: { ...body, offer: sdp(m.offer) } }
    : { socket: relay.socket, answer: { ...body, answer: sdp(m.answer) } };
}

export function fromPbRelay(p: tracker.v1.WtRelay.$Properties): Relay | undefined {
  const socket = Number(p.socket ?? 0);
  let message: WtRelayMessage;
  if (p.offer) {
    const o = p.offer;
    message = { kind: 'offer', infoHash: str(o.infoHash), fromPeerId: str(o.fromPeerId), offerId: str(o.offerId), offer: fromSdp(o.offer) };
  } else if (p.answer) {
    const a = p.answer;
    message = { kind: 'answer', infoHash: str(a.infoHash), fromPeerId: str(a.fromPeerId), offerId: str(a.offerId), answer: fromSdp(a.answer) };
  } else {
    return undefined;
  }
  return { socket, message };
}

export function encodeEdgeBatch(batch: OutgoingEdgeBatch): Buffer {
  const requests = batch.requests.map((r, i) => toPbRequest((batch.firstId + i) >>> 0, r));
  const out = pb.EdgeBatch.encode({ requests, tableIdentity: batch.tableIdentity }).finish();
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

export function decodeEdgeBatch(buf: Buffer): DecodedEdgeBatch {
  const batch = pb.EdgeBatch.decode(buf);
  const ids: number[] = [];
  const requests: (SwarmRequest | undefined)[] = [];
  for (const q of batch.requests ?? []) {
    ids.push(q.id ?? 0);
    requests.push(fromPbRequest(q));
  }
  return { ids, requests, tableIdentity: Number(batch.tableIdentity ?? 0) };
}

export function encodeSwarmBatch(ids: ArrayLike<number>, replies: readonly SwarmReply[], relays: readonly Relay[] = []): Buffer {
  const out = pb.SwarmBatch.encode({ replies: replies.map((r, i) => toPbReply(ids[i], r)), relays: relays.map(toPbRelay) }).finish();
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

export function decodeSwarmBatch(buf: Buffer): DecodedSwarmBatch {
  const batch = pb.SwarmBatch.decode(buf);
  const ids: number[] = [];
  const replies: SwarmReply[] = [];
  for (const p of batch.replies ?? []) {
    ids.push(p.id ?? 0);
    replies.push(fromPbReply(p));
  }
  const relays: Relay[] = [];
  for (const p of batch.relays ?? []) {
    const relay = fromPbRelay(p);
    if (relay) relays.push(relay);
  }
  return { ids, replies, relays };
}
