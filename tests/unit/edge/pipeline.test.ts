/**
 * The edge's request pipeline: hooks in order, refusals, context for the
 * swarm and the reply, a hook that throws, scrapes of refused torrents,
 * the swarm now or later, post-hooks after the reply.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { NO_PARAMS } from '../../../lib/tracker/params.js';
import type { AnnounceReply, ClientAnnounce } from '../../../lib/tracker/announce.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { ClientWtAnnounce } from '../../../lib/tracker/webtorrent.js';
import { RequestPipeline, type SwarmClient } from '../../../services/edge/pipeline/pipeline.js';
import { refusal, type AnnounceContext, type HookAnnounce, type PostHook, type PreHook } from '../../../services/edge/pipeline/hook.js';

const H1 = 'a'.repeat(20);
const H2 = 'b'.repeat(20);
const H3 = 'c'.repeat(20);

function announceOf(infoHash = H1): ClientAnnounce {
  return {
    type: 'announce',
    infoHash,
    peerId: '-qB4650-000000000000',
    endpoint: Uint8Array.of(10, 0, 0, 1, 0x1a, 0xe1),
    event: AnnounceEvent.None,
    left: 10,
    numwant: 50,
    sameSubnetBits: 0,
    minAnnounceSeconds: 0,
    uploaded: 0,
    downloaded: 0,
    params: NO_PARAMS,
  };
}

function wtAnnounceOf(infoHash = H1): ClientWtAnnounce {
  return {
    type: 'wt-announce',
    infoHash,
    peerId: '-WW0105-000000000000',
    from: { edge: 'e', socket: 1 },
    event: AnnounceEvent.None,
    seeder: false,
    offers: [],
    left: 10,
    uploaded: 0,
    downloaded: 0,
    address: Uint8Array.of(10, 0, 0, 1),
    params: NO_PARAMS,
    sinceLastAnnounce: Infinity,
  };
}

const SWARM_REPLY: AnnounceReply = { type: 'announce', interval: 1800, minInterval: 900, complete: 1, incomplete: 2, downloaded: 3, peers: new Uint8Array(0) };

/** A router stand-in: answers at once (in-process) or keeps the callback for later (gRPC). */
class FakeSwarm implements SwarmClient {
  readonly seen: SwarmRequest[] = [];
  readonly waiting: Array<(reply: SwarmReply) => void> = [];
  constructor(readonly inProcess: boolean) {}
  answer(request: SwarmRequest): SwarmReply {
    if (request.type === 'scrape' || request.type === 'wt-scrape') {
      return { type: request.type, files: request.infoHashes.map((h) => ({ complete: h.charCodeAt(0), incomplete: 0, downloaded: 0 })) };
    }
    if (request.type === 'wt-announce') return { type: 'wt-announce', interval: 120, complete: 0, incomplete: 0, offersRelayed: 0 };
    if (request.type === 'wt-answer') return { type: 'wt-answer' };
    return SWARM_REPLY;
  }
  trySync(request: SwarmRequest): SwarmReply | undefined {
    if (!this.inProcess) return undefined;
    this.seen.push(request);
    return this.answer(request);
  }
  request(request: SwarmRequest, callback: (reply: SwarmReply) => void): void {
    this.seen.push(request);
    this.waiting.push((reply) => callback(reply));
    this.pendingReplies.push(this.answer(request));
  }
  private readonly pendingReplies: SwarmReply[] = [];
  /** Answers what waits, as a swarm over gRPC would later. */
  release(): void {
    for (let i = 0; i < this.waiting.length; i++) this.waiting[i](this.pendingReplies[i]);
    this.waiting.length = 0;
    this.pendingReplies.length = 0;
  }
  flush(): void {}
}

class Failures {
  readonly reported: { error: unknown; fields: unknown }[] = [];
  get count(): number {
    return this.reported.length;
  }
  report(error: unknown, fields?: unknown): void {
    this.reported.push({ error, fields });
  }
}

class Counts {
  readonly byHook = new Map<string, number>();
  counter = (hook: string) => ({ inc: () => this.byHook.set(hook, (this.byHook.get(hook) ?? 0) + 1) });
}

/** A hook that records that it ran and does what `act` says. */
function hook(name: string, log: string[], act: (a: HookAnnounce, c: AnnounceContext) => ReturnType<NonNullable<PreHook['announce']>> = () => undefined): PreHook {
  return {
    name,
    announce(a, c) {
      log.push(name);
      return act(a, c);
    },
  };
}

function collect(): { replies: SwarmReply[]; respond: (r: SwarmReply) => void } {
  const replies: SwarmReply[] = [];
  return { replies, respond: (r) => replies.push(r) };
}

describe('RequestPipeline', () => {
  it('runs the hooks in order; the first refusal answers, is counted for its hook, and the swarm never sees the announce', () => {
    const swarm = new FakeSwarm(true);
    const counts = new Counts();
    const log: string[] = [];
    const NO = refusal('no: try another tracker');
    const pipeline = new RequestPipeline({
      router: swarm,
      failures: new Failures(),
      refusals: counts.counter,
      preHooks: [hook('one', log), hook('two', log, (a) => (a.infoHash === H2 ? NO : undefined)), hook('three', log)],
    });
    const { replies, respond } = collect();
    assert.equal(pipeline.announce(announceOf(H1), respond), true, 'answered within the call (in-process swarm)');
    assert.deepEqual(log, ['one', 'two', 'three']);
    assert.equal(swarm.seen.length, 1);
    log.length = 0;
    assert.equal(pipeline.announce(announceOf(H2), respond), true, 'a refusal is answered within the call');
    assert.deepEqual(log, ['one', 'two'], 'hooks after the refusing one do not run');
    assert.equal(swarm.seen.length, 1, 'the swarm never saw it');
    assert.equal(replies[1], NO);
    assert.equal(replies[1].type === 'error' && replies[1].denied, true, 'frontends count it as denied');
    assert.deepEqual([...counts.byHook], [['two', 1]]);
  });

  it('what hooks add reaches the swarm on the request, and the reply\'s intervals, now or later', () => {
    for (const inProcess of [true, false]) {
      const swarm = new FakeSwarm(inProcess);
      const pipeline = new RequestPipeline({
        router: swarm,
        failures: new Failures(),
        preHooks: [
          hook('subnet', [], (_a, c) => void (c.sameSubnetBits = 24)),
          hook('rate', [], (_a, c) => void (c.minAnnounceSeconds = 60)),
          hook('vary', [], (_a, c) => void ((c.intervalDelta += 7), (c.minIntervalDelta += 3))),
        ],
      });
      const { replies, respond } = collect();
      assert.equal(pipeline.announce(announceOf(), respond), inProcess);
      if (!inProcess) {
        assert.equal(replies.length, 0, 'not answered before the swarm is');
        swarm.release();
      }
      const sent = swarm.seen[0] as ClientAnnounce;
      assert.equal(sent.sameSubnetBits, 24);
      assert.equal(sent.minAnnounceSeconds, 60);
      assert.deepEqual(replies, [{ ...SWARM_REPLY, interval: 1807, minInterval: 903 }]);
      // The next announce starts from a clean context.
      const plain = new RequestPipeline({ router: swarm, failures: new Failures(), preHooks: [hook('noop', [])] });
      const again = collect();
      plain.announce(announceOf(), again.respond);
      swarm.release();
      assert.deepEqual(again.replies, [SWARM_REPLY]);
    }
  });

  it('a WebTorrent announce goes through the same hooks; its interval moves too', () => {
    const swarm = new FakeSwarm(true);
    const seen: string[] = [];
    const pipeline = new RequestPipeline({
      router: swarm,
      failures: new Failures(),
      preHooks: [hook('wt', seen, (a, c) => void (a.type === 'wt-announce' && (c.intervalDelta = 5)))],
    });
    const { replies, respond } = collect();
    pipeline.wtAnnounce(wtAnnounceOf(), respond);
    assert.deepEqual(seen, ['wt']);
    assert.equal(replies[0].type === 'wt-announce' && replies[0].interval, 125);
  });

  it('a hook that throws refuses that request with "internal error", is reported with its name, and the next request is served', () => {
    const swarm = new FakeSwarm(true);
    const failures = new Failures();
    let boom = true;
    const pipeline = new RequestPipeline({
      router: swarm,
      failures,
      preHooks: [
        hook('fragile', [], () => {
          if (boom) throw new TypeError('bug in a hook');
          return undefined;
        }),
      ],
    });
    const { replies, respond } = collect();
    assert.equal(pipeline.announce(announceOf(), respond), true);
    assert.equal(replies[0].type === 'error' && replies[0].message, 'internal error');
    assert.equal(swarm.seen.length, 0);
    assert.equal(failures.count, 1);
    assert.match(String(failures.reported[0].error), /bug in a hook/);
    assert.deepEqual(failures.reported[0].fields, { hook: 'fragile', request: 'announce' });
    boom = false;
    pipeline.announce(announceOf(), respond);
    assert.equal(replies[1], SWARM_REPLY);
  });

  it('scrapes: torrents a hook refuses are reported as unknown (zeros), in request order; the swarm gets only the others', () => {
    for (const inProcess of [true, false]) {
      const swarm = new FakeSwarm(inProcess);
      const counts = new Counts();
      const deny: PreHook = { name: 'list', torrent: (h) => (h === H2 ? refusal('torrent not allowed') : undefined) };
      const pipeline = new RequestPipeline({ router: swarm, failures: new Failures(), refusals: counts.counter, preHooks: [deny] });
      const { replies, respond } = collect();
      pipeline.scrape({ type: 'scrape', infoHashes: [H1, H2, H3] }, respond);
      swarm.release();
      assert.deepEqual((swarm.seen[0] as { infoHashes: readonly string[] }).infoHashes, [H1, H3]);
      assert.deepEqual(replies[0], {
        type: 'scrape',
        files: [
          { complete: 0x61, incomplete: 0, downloaded: 0 },
          { complete: 0, incomplete: 0, downloaded: 0 },
          { complete: 0x63, incomplete: 0, downloaded: 0 },
        ],
      });
      assert.equal(counts.byHook.get('list'), 1);
      // Every hash refused: answered without the swarm.
      const before = swarm.seen.length;
      assert.equal(pipeline.scrape({ type: 'wt-scrape', infoHashes: [H2] }, respond), true);
      assert.equal(swarm.seen.length, before);
      assert.deepEqual(replies[1], { type: 'wt-scrape', files: [{ complete: 0, incomplete: 0, downloaded: 0 }] });
    }
  });

  it('a WebTorrent answer for a refused torrent is refused; a disconnect always reaches the swarm', () => {
    const swarm = new FakeSwarm(true);
    const NO = refusal('torrent not allowed');
    const pipeline = new RequestPipeline({ router: swarm, failures: new Failures(), preHooks: [{ name: 'list', torrent: (h) => (h === H2 ? NO : undefined) }] });
    const { replies, respond } = collect();
    const answer = { type: 'wt-answer', infoHash: H2, peerId: 'p'.repeat(20), from: { edge: 'e', socket: 1 }, toPeerId: 'q'.repeat(20), offerId: 'o'.repeat(20), answer: { type: 'answer', sdp: 'v=0' } } as const;
    pipeline.wtAnswer(answer, respond);
    assert.equal(replies[0], NO);
    pipeline.wtAnswer({ ...answer, infoHash: H1 }, respond);
    assert.equal(replies[1].type, 'wt-answer');
    pipeline.wtDisconnect({ type: 'wt-disconnect', from: { edge: 'e', socket: 1 }, peers: [{ infoHash: H2, peerId: 'p'.repeat(20) }] }, respond);
    assert.equal(swarm.seen.at(-1)?.type, 'wt-disconnect');
  });

  it('without hooks the request goes to the swarm as it is', () => {
    const swarm = new FakeSwarm(true);
    const pipeline = new RequestPipeline({ router: swarm, failures: new Failures() });
    const request = announceOf();
    const { replies, respond } = collect();
    pipeline.announce(request, respond);
    assert.equal(swarm.seen[0], request);
    assert.equal(replies[0], SWARM_REPLY, 'the swarm\'s own reply object');
  });

  it('post-hooks see the announce and its reply after the reply has gone, in a later turn; their exceptions are reported', async () => {
    const swarm = new FakeSwarm(true);
    const failures = new Failures();
    const order: string[] = [];
    const post: PostHook = {
      name: 'audit',
      announce(a, reply) {
        order.push(`post ${a.infoHash === H1 ? 'H1' : 'H2'} ${reply.type}`);
        if (a.infoHash === H2) throw new Error('audit failed');
      },
    };
    const pipeline = new RequestPipeline({
      router: swarm,
      failures,
      preHooks: [{ name: 'deny-h2', announce: (a) => (a.infoHash === H2 ? refusal('no') : undefined) }],
      postHooks: [post],
    });
    pipeline.announce(announceOf(H1), () => order.push('reply H1'));
    pipeline.announce(announceOf(H2), () => order.push('reply H2'));
    assert.deepEqual(order, ['reply H1', 'reply H2'], 'no post-hook ran on the way of a reply');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, ['reply H1', 'reply H2', 'post H1 announce', 'post H2 error']);
    assert.equal(failures.count, 1);
    assert.deepEqual(failures.reported[0].fields, { hook: 'audit', request: 'announce', post: true });
  });
});
