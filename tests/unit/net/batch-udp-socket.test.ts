import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import {
  createBatchUdpSocket,
  nativeUdpStatus,
  type BatchUdpSocket,
  type BatchUdpSocketOptions,
  type ReceivedBatch,
  type UdpEndpoint,
} from '../../../lib/net/udp/index.js';

/*
 * One suite, run against both implementations (the native addon and the
 * node:dgram fallback) over 127.0.0.1 and ::1. The native runs are skipped
 * (with the reason) when the addon is not built, unless
 * TRACKER_UDP__BATCHED_IO=required (as in CI) makes that a failure.
 * Loopback only; every wait is bounded.
 */

const status = nativeUdpStatus();
const nativeRequired = process.env.TRACKER_UDP__BATCHED_IO?.trim() === 'required';
const IMPLEMENTATIONS = ['native', 'dgram'] as const;
type Impl = (typeof IMPLEMENTATIONS)[number];
const HOSTS = ['127.0.0.1', '::1'] as const;
const BUFFERS = { recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 };

function skipReason(impl: Impl): string | false {
  if (impl === 'native' && !status.available && !nativeRequired) return `native addon unavailable: ${status.error}`;
  return false;
}

function open(impl: Impl, options: BatchUdpSocketOptions = {}): BatchUdpSocket {
  return createBatchUdpSocket({ implementation: impl, ...BUFFERS, ...options });
}

async function echoServer(impl: Impl, host: string, options: BatchUdpSocketOptions = {}): Promise<BatchUdpSocket> {
  const s = open(impl, options);
  await s.bind(host, 0);
  s.onBatch((b) => {
    for (let i = 0; i < b.count; i++) {
      const d = b.data(i);
      b.reply(i, (out) => {
        out.set(d);
        return d.length;
      }, d.length);
    }
  });
  return s;
}

async function client(type: 'udp4' | 'udp6', host: string): Promise<dgram.Socket> {
  const c = dgram.createSocket({ type, ...BUFFERS });
  await new Promise<void>((resolve, reject) => {
    c.once('error', reject);
    c.bind(0, host, () => {
      c.off('error', reject);
      resolve();
    });
  });
  return c;
}

function closeClient(c: dgram.Socket): Promise<void> {
  return new Promise((resolve) => c.close(() => resolve()));
}

/** Resolves when `done()` is true, or after `ms` (the caller then asserts on what it saw). */
async function waitFor(done: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

const typeOf = (host: string): 'udp4' | 'udp6' => (host.includes(':') ? 'udp6' : 'udp4');
const bytesOf = (host: string): Uint8Array => (host.includes(':') ? Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 1 : 0)) : Uint8Array.of(127, 0, 0, 1));

for (const impl of IMPLEMENTATIONS) {
  const skip = skipReason(impl);

  test(`${impl}: createBatchUdpSocket picks the requested implementation`, { skip }, async () => {
    const s = open(impl);
    assert.equal(s.native, impl === 'native');
    assert.equal(s.port, 0);
    await s.close();
    await s.close(); // twice is fine
  });

  for (const host of HOSTS) {
    test(`${impl} ${host}: echo to many clients, sources reported right`, { skip }, async () => {
      const server = open(impl);
      await server.bind(host, 0);
      const seen: { family: number; address: Uint8Array; port: number }[] = [];
      server.onBatch((b) => {
        for (let i = 0; i < b.count; i++) {
          seen.push({ family: b.family(i), address: b.address(i).slice(), port: b.port(i) });
          const d = b.data(i);
          assert.equal(b.length(i), d.length);
          assert.equal(b.truncated(i), false);
          b.reply(i, (out) => {
            out.set(d);
            return d.length;
          });
        }
      });
      const clients = await Promise.all(Array.from({ length: 40 }, () => client(typeOf(host), host)));
      const perClient = 25;
      const got = clients.map(() => new Set<string>());
      const wrong: string[] = [];
      clients.forEach((c, k) =>
        c.on('message', (msg, rinfo) => {
          if (rinfo.port !== server.port) wrong.push(`reply from port ${rinfo.port}`);
          const text = msg.toString();
          if (!text.startsWith(`c${k}-`)) wrong.push(`client ${k} got ${text}`);
          got[k].add(text);
        }),
      );
      for (let n = 0; n < perClient; n++) clients.forEach((c, k) => c.send(`c${k}-${n}-${'x'.repeat(n * 7)}`, server.port, host));
      await waitFor(() => got.every((g) => g.size === perClient));
      assert.deepEqual(wrong, []);
      assert.deepEqual(
        got.map((g) => g.size),
        clients.map(() => perClient),
      );
      const ports = new Set(clients.map((c) => c.address().port));
      assert.equal(seen.length, clients.length * perClient);
      for (const s of seen) {
        assert.equal(s.family, host.includes(':') ? 6 : 4);
        assert.deepEqual(s.address, bytesOf(host));
        assert.ok(ports.has(s.port));
      }
      const st = server.stats();
      assert.equal(st.received, clients.length * perClient);
      await waitFor(() => server.stats().sent === clients.length * perClient, 1000);
      assert.equal(server.stats().sent, clients.length * perClient);
      assert.equal(server.stats().sendErrors, 0);
      await Promise.all(clients.map(closeClient));
      await server.close();
    });

    test(`${impl} ${host}: 5,000 datagrams sent quickly all come back`, { skip }, async () => {
      const server = await echoServer(impl, host);
      let biggest = 0;
      let batches = 0;
      const inner = server;
      // Wrap the echo handler to watch batch sizes.
      inner.onBatch((b: ReceivedBatch) => {
        batches++;
        biggest = Math.max(biggest, b.count);
        for (let i = 0; i < b.count; i++) {
          const d = b.data(i);
          b.reply(i, d);
        }
      });
      const c = await client(typeOf(host), host);
      const total = 5000;
      const replies = new Uint8Array(total);
      let received = 0;
      c.on('message', (msg) => {
        const n = msg.readUInt32BE(0);
        if (n < total && replies[n] === 0) {
          replies[n] = 1;
          received++;
        }
      });
      // Bursts of 500 back to back: far more than one recvmmsg takes, well under the socket buffers.
      const payload = Buffer.alloc(64);
      for (let sent = 0; sent < total; ) {
        for (const end = Math.min(total, sent + 500); sent < end; sent++) {
          const m = Buffer.from(payload);
          m.writeUInt32BE(sent, 0);
          c.send(m, server.port, host);
        }
        await waitFor(() => received >= sent - 100, 2000);
      }
      await waitFor(() => received === total);
      assert.equal(received, total);
      assert.equal(server.stats().received, total);
      if (impl === 'native') assert.ok(biggest > 1, `expected batches of more than one datagram, biggest ${biggest} over ${batches}`);
      else assert.equal(biggest, 1);
      await closeClient(c);
      await server.close();
    });

    test(`${impl} ${host}: 65,507-byte datagrams, truncation, oversize replies`, { skip }, async () => {
      const server = await echoServer(impl, host);
      const small = open(impl, { maxDatagramSize: 1000 });
      await small.bind(host, 0);
      const cut: { length: number; truncated: boolean; first: number; last: number }[] = [];
      small.onBatch((b) => {
        for (let i = 0; i < b.count; i++) {
          const d = b.data(i);
          cut.push({ length: b.length(i), truncated: b.truncated(i), first: d[0], last: d[d.length - 1] });
          // Replies: too big for any UDP datagram (refused by the kernel), a writer that overruns, a cancelled one.
          assert.equal(b.reply(i, new Uint8Array(65_600)), true);
          assert.throws(() => b.reply(i, () => 20, 10), RangeError);
          assert.equal(b.reply(i, () => -1), false);
          b.reply(i, Uint8Array.of(1, 2, 3));
        }
      });
      const c = await client(typeOf(host), host);
      const max = Buffer.alloc(65_507);
      for (let i = 0; i < max.length; i++) max[i] = (i * 31) & 0xff;
      const echoed: Buffer[] = [];
      const fromSmall: Buffer[] = [];
      c.on('message', (msg, rinfo) => (rinfo.port === server.port ? echoed : fromSmall).push(msg));
      c.send(max, server.port, host);
      c.send(max, small.port, host);
      c.send(Buffer.alloc(1000, 7), small.port, host);
      await waitFor(() => echoed.length === 1 && fromSmall.length === 2);
      assert.equal(echoed.length, 1);
      assert.ok(sameBytes(echoed[0], max), 'the 65,507-byte datagram came back intact');
      assert.deepEqual(cut, [
        { length: 1000, truncated: true, first: max[0], last: max[999] },
        { length: 1000, truncated: false, first: 7, last: 7 },
      ]);
      assert.deepEqual(
        fromSmall.map((m) => [...m]),
        [
          [1, 2, 3],
          [1, 2, 3],
        ],
      );
      await waitFor(() => small.stats().sendErrors === 2, 1000);
      const st = small.stats();
      assert.equal(st.truncated, 1);
      assert.equal(st.sendErrors, 2);
      assert.equal(st.lastSendError, 'EMSGSIZE');
      assert.equal(st.sent, 2);
      await closeClient(c);
      await Promise.all([server.close(), small.close()]);
    });

    test(`${impl} ${host}: async replies (after the handler returned) are flushed without flush()`, { skip }, async () => {
      const server = open(impl);
      await server.bind(host, 0);
      let maxQueued = 0;
      server.onBatch((b) => {
        for (let i = 0; i < b.count; i++) {
          const to: UdpEndpoint = b.source(i);
          const body = b.data(i).slice();
          const delay = body[0] % 3;
          const answer = (): void => {
            assert.equal(
              server.send(to, (out) => {
                out.set(body);
                out[0] = 0xee;
                return body.length;
              }),
              true,
            );
            maxQueued = Math.max(maxQueued, server.stats().queued);
          };
          if (delay === 0) queueMicrotask(answer);
          else setTimeout(answer, delay);
        }
      });
      const c = await client(typeOf(host), host);
      const got = new Set<number>();
      c.on('message', (msg) => {
        assert.equal(msg[0], 0xee);
        got.add(msg.readUInt16BE(1));
      });
      for (let n = 0; n < 300; n++) {
        const m = Buffer.alloc(8);
        m[0] = n;
        m.writeUInt16BE(n, 1);
        c.send(m, server.port, host);
      }
      await waitFor(() => got.size === 300);
      assert.equal(got.size, 300);
      assert.ok(maxQueued >= 1, 'replies were queued, then flushed on their own');
      assert.equal(server.stats().queued, 0);
      await closeClient(c);
      await server.close();
    });

    test(`${impl} ${host}: close while traffic flows`, { skip }, async () => {
      const server = await echoServer(impl, host);
      let afterClose = 0;
      let closing = false;
      let batches = 0;
      server.onBatch((b) => {
        if (closing) afterClose++;
        batches++;
        for (let i = 0; i < b.count; i++) b.reply(i, b.data(i));
      });
      const c = await client(typeOf(host), host);
      c.on('message', () => undefined);
      const port = server.port;
      let stop = false;
      const until = Date.now() + 3000;
      const flood = (async () => {
        while (!stop && Date.now() < until) {
          for (let k = 0; k < 50; k++) c.send(Buffer.alloc(32), port, host);
          await new Promise((r) => setImmediate(r));
        }
      })();
      await waitFor(() => batches > 20, 2000);
      assert.ok(batches > 20);
      const endpoint: UdpEndpoint = { address: bytesOf(host), port: c.address().port };
      closing = true;
      const closed = server.close();
      assert.equal(server.send(endpoint, Uint8Array.of(1)), false, 'sends after close are dropped');
      await closed;
      await new Promise((r) => setTimeout(r, 50));
      stop = true;
      await flood;
      assert.equal(afterClose, 0, 'no batch after close()');
      assert.ok(server.stats().sendDropped >= 1);
      // The port is free again.
      const again = open(impl);
      await again.bind(host, port);
      assert.equal(again.port, port);
      await again.close();
      await closeClient(c);
    });

    test(`${impl} ${host}: bind errors reject, send before bind throws`, { skip }, async () => {
      const a = open(impl);
      await a.bind(host, 0);
      const b = open(impl);
      await assert.rejects(b.bind(host, a.port), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
      const c = open(impl);
      assert.throws(() => c.send({ address: bytesOf(host), port: 9 }, Uint8Array.of(1)), /before bind/);
      assert.throws(() => a.send({ address: bytesOf(host), port: 0 }, Uint8Array.of(1)), RangeError);
      await a.bind(host, 0).then(
        () => assert.fail('second bind'),
        () => undefined,
      );
      await Promise.all([a.close(), b.close(), c.close()]);
    });
  }

  test(`${impl}: dual-stack "::" reports IPv4 clients as IPv4 and answers them`, { skip }, async () => {
    const server = open(impl);
    await server.bind('::', 0);
    assert.equal(server.family, 6);
    const sources: UdpEndpoint[] = [];
    const families: number[] = [];
    server.onBatch((b) => {
      for (let i = 0; i < b.count; i++) {
        families.push(b.family(i));
        sources.push(b.source(i));
        b.reply(i, b.data(i));
      }
    });
    const v4 = await client('udp4', '127.0.0.1');
    const v6 = await client('udp6', '::1');
    const got4: string[] = [];
    const got6: string[] = [];
    v4.on('message', (m, r) => got4.push(`${m.toString()} from ${r.address}`));
    v6.on('message', (m, r) => got6.push(`${m.toString()} from ${r.address}`));
    v4.send('four', server.port, '127.0.0.1');
    await waitFor(() => got4.length === 1);
    v6.send('six', server.port, '::1');
    await waitFor(() => got6.length === 1);
    assert.deepEqual(got4, ['four from 127.0.0.1']);
    assert.deepEqual(got6, ['six from ::1']);
    assert.deepEqual(families, [4, 6]);
    assert.deepEqual(sources[0].address, Uint8Array.of(127, 0, 0, 1));
    assert.equal(sources[0].port, v4.address().port);
    assert.deepEqual(sources[1].address, bytesOf('::1'));
    // Later sends to the copied endpoints, and to an IPv4-mapped 16-byte address.
    server.send(sources[0], Buffer.from('later4'));
    const mapped = new Uint8Array(16);
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    mapped.set([127, 0, 0, 1], 12);
    server.send({ address: mapped, port: v4.address().port }, Buffer.from('mapped'));
    server.send(sources[1], Buffer.from('later6'));
    await waitFor(() => got4.length === 3 && got6.length === 2);
    assert.deepEqual(got4.slice(1).sort(), ['later4 from 127.0.0.1', 'mapped from 127.0.0.1']);
    assert.deepEqual(got6.slice(1), ['later6 from ::1']);
    await Promise.all([closeClient(v4), closeClient(v6), server.close()]);
  });

  test(`${impl}: ipv6Only refuses IPv4; an IPv4 socket refuses IPv6 destinations without throwing`, { skip }, async () => {
    const only6 = open(impl, { ipv6Only: true });
    await only6.bind('::', 0);
    const got: string[] = [];
    only6.onBatch((b) => {
      for (let i = 0; i < b.count; i++) got.push(Buffer.from(b.data(i)).toString());
    });
    const v4 = await client('udp4', '127.0.0.1');
    const v6 = await client('udp6', '::1');
    v4.send('four', only6.port, '127.0.0.1');
    // Positive control: an IPv6 datagram sent after it is delivered; the IPv4 one, had the socket
    // accepted it, would have been queued first.
    v6.send('six', only6.port, '::1');
    await waitFor(() => got.length > 0);
    assert.deepEqual(got, ['six']);
    const four = open(impl);
    await four.bind('127.0.0.1', 0);
    assert.equal(four.family, 4);
    four.send({ address: bytesOf('::1'), port: 9 }, Uint8Array.of(1));
    four.flush();
    await waitFor(() => four.stats().sendErrors === 1, 1000);
    assert.equal(four.stats().sendErrors, 1);
    assert.equal(four.stats().lastSendError, 'EAFNOSUPPORT');
    await Promise.all([closeClient(v4), closeClient(v6), only6.close(), four.close()]);
  });

  test(`${impl}: a small send queue flushes early instead of dropping`, { skip }, async () => {
    const server = open(impl, { sendQueueLength: 4, sendQueueBytes: 4096, maxReplyLength: 100 });
    await server.bind('127.0.0.1', 0);
    server.onBatch((b) => {
      for (let i = 0; i < b.count; i++) {
        const d = b.data(i);
        for (let k = 0; k < 50; k++) {
          b.reply(i, (out) => {
            out[0] = d[0];
            out[1] = k;
            return 2;
          });
        }
      }
    });
    const c = await client('udp4', '127.0.0.1');
    const got = new Set<number>();
    c.on('message', (m) => got.add(m[0] * 100 + m[1]));
    for (let n = 0; n < 20; n++) c.send(Uint8Array.of(n), server.port, '127.0.0.1');
    await waitFor(() => got.size === 1000);
    assert.equal(got.size, 1000);
    assert.equal(server.stats().sendDropped, 0);
    assert.throws(() => server.send({ address: bytesOf('127.0.0.1'), port: 9 }, new Uint8Array(8192)), RangeError);
    await Promise.all([closeClient(c), server.close()]);
  });

  test(`${impl}: setReceiving(false) stops delivery, sending still works`, { skip }, async () => {
    const server = open(impl);
    await server.bind('127.0.0.1', 0);
    let receiving = true;
    const got: string[] = [];
    const whileOff: string[] = [];
    server.onBatch((b) => {
      for (let i = 0; i < b.count; i++) (receiving ? got : whileOff).push(Buffer.from(b.data(i)).toString());
    });
    const c = await client('udp4', '127.0.0.1');
    c.send('a', server.port, '127.0.0.1');
    await waitFor(() => got.length === 1);
    server.setReceiving(false);
    receiving = false;
    c.send('b', server.port, '127.0.0.1');
    // Sending still works; the reply's round trip also gives the loop turns in which 'b' would have been delivered.
    const replies: string[] = [];
    c.on('message', (m) => replies.push(m.toString()));
    server.send({ address: Uint8Array.of(127, 0, 0, 1), port: c.address().port }, Buffer.from('still'));
    await waitFor(() => replies.length === 1);
    assert.deepEqual(replies, ['still']);
    // Positive control: resumed, a datagram sent now is delivered, after 'b' had it been delivered.
    server.setReceiving(true);
    receiving = true;
    c.send('c', server.port, '127.0.0.1');
    await waitFor(() => got.includes('c'));
    assert.deepEqual(whileOff, [], 'nothing delivered while receiving was off');
    // The native socket leaves 'b' in the kernel buffer until resumed; the dgram fallback drops it.
    assert.deepEqual(got, impl === 'native' ? ['a', 'b', 'c'] : ['a', 'c']);
    await Promise.all([closeClient(c), server.close()]);
  });
}

/*
 * A full kernel send buffer (EAGAIN from sendmmsg): loopback never pushes
 * back, so this runs in a private network namespace whose lo has a slow
 * token-bucket qdisc, with SO_SNDBUF at its minimum. Needs root and
 * iproute2 (ip, tc); skipped otherwise.
 */
const SEND_BLOCKED_CHILD = `
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
const { createBatchUdpSocket } = await import(process.env.UDPB_MODULE);
const out = {};
for (const [name, queueLength] of [['roomy', 1024], ['small', 100]]) {
  const s = createBatchUdpSocket({ implementation: process.env.UDPB_IMPL, sendBufferSize: 1, sendQueueLength: queueLength });
  await s.bind('127.0.0.1', 0);
  const c = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise((r) => c.bind(0, '127.0.0.1', r));
  const seen = new Set();
  c.on('message', (m) => seen.add(m.readUInt32BE(0)));
  const to = { address: Uint8Array.of(127, 0, 0, 1), port: c.address().port };
  let accepted = 0;
  for (let i = 0; i < 400; i++) {
    const ok = s.send(to, (o) => { o.fill(i & 0xff); new DataView(o.buffer, o.byteOffset).setUint32(0, i); return 500; }, 500);
    if (ok) accepted++;
  }
  s.flush();
  const queuedAfterFlush = s.stats().queued;
  const t0 = Date.now();
  while (seen.size < accepted && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  out[name] = { accepted, delivered: seen.size, queuedAfterFlush, stats: s.stats(), sndbuf: s.bufferSizes().send };
  c.close();
  await s.close();
}
process.stdout.write(JSON.stringify(out));
`;

function canUseNetns(): string | false {
  if (process.getuid?.() !== 0) return 'needs root for a network namespace';
  const ok = (cmd: string): boolean => spawnSync(cmd, ['-V'], { encoding: 'utf8' }).status === 0;
  if (!ok('ip') || !ok('tc')) return 'needs iproute2 (ip, tc)';
  return false;
}

for (const impl of IMPLEMENTATIONS) {
  const skip = skipReason(impl) || canUseNetns();
  test(`${impl}: a full kernel send buffer keeps replies queued until writable`, { skip, timeout: 60_000 }, () => {
    const ns = `udpb-${process.pid}-${impl}`;
    const sh = (args: string[]): void => {
      const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
      if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    };
    sh(['netns', 'add', ns]);
    try {
      sh(['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
      sh(['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', '20mbit', 'burst', '16kb', 'limit', '4mb']);
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', SEND_BLOCKED_CHILD], {
        encoding: 'utf8',
        timeout: 45_000,
        env: { ...process.env, UDPB_IMPL: impl, UDPB_MODULE: new URL('../../../lib/net/udp/index.js', import.meta.url).href },
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Record<string, { accepted: number; delivered: number; queuedAfterFlush: number; stats: { sent: number; sendDropped: number; sendErrors: number; queued: number }; sndbuf: number }>;
      const roomy = out.roomy;
      assert.equal(roomy.accepted, 400);
      assert.equal(roomy.delivered, 400, 'everything queued is sent once the socket is writable again');
      assert.equal(roomy.stats.sent, 400);
      assert.equal(roomy.stats.queued, 0);
      assert.equal(roomy.stats.sendErrors, 0);
      const small = out.small;
      assert.equal(small.delivered, small.accepted);
      assert.equal(small.stats.sent, small.accepted);
      if (impl === 'native') {
        // sendmmsg met EAGAIN: part stayed queued after the first flush...
        assert.ok(roomy.queuedAfterFlush > 0, `queued after flush: ${roomy.queuedAfterFlush}`);
        // ...and a 100-entry queue that stays blocked drops (and counts) the overflow.
        assert.ok(small.accepted < 400 && small.accepted >= 100, `accepted ${small.accepted}`);
        assert.equal(small.stats.sendDropped, 400 - small.accepted);
      } else {
        // dgram buffers inside libuv instead: nothing is refused.
        assert.equal(small.accepted, 400);
      }
    } finally {
      spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    }
  });
}

test('batch views are only valid inside the handler', { skip: skipReason('native') }, async () => {
  for (const impl of IMPLEMENTATIONS) {
    if (skipReason(impl)) continue;
    const server = open(impl);
    await server.bind('127.0.0.1', 0);
    let kept: ReceivedBatch | undefined;
    server.onBatch((b) => (kept = b));
    const c = await client('udp4', '127.0.0.1');
    c.send('x', server.port, '127.0.0.1');
    await waitFor(() => kept !== undefined);
    assert.ok(kept);
    assert.throws(() => kept!.data(0), RangeError);
    assert.throws(() => kept!.reply(0, Uint8Array.of(1)), RangeError);
    await Promise.all([closeClient(c), server.close()]);
  }
});

test('the native addon status is reported', () => {
  assert.equal(typeof status.available, 'boolean');
  if (!status.available) assert.ok(status.error);
  if (nativeRequired) assert.equal(status.available, true, status.error);
});
