/**
 * loadtest command-line parsing, HTTP response framing and the echo reply.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError, parseRunArgs, parseTarget } from '../../../bench/loadtest/options.js';
import { parseHttpResponse } from '../../../bench/loadtest/http-response.js';
import { echoUdpReply } from '../../../bench/loadtest/echo-server.js';
import { parseUdpReply, writeAnnounceRequest, writeConnectRequest, writeScrapeRequest } from '../../../lib/protocol/udp/client.js';

describe('targets', () => {
  it('accepts loopback host:port and URLs', () => {
    assert.deepEqual(parseTarget('127.0.0.1:6969'), { host: '127.0.0.1', port: 6969 });
    assert.deepEqual(parseTarget('localhost:80'), { host: '127.0.0.1', port: 80 });
    assert.deepEqual(parseTarget('127.1.2.3:1'), { host: '127.1.2.3', port: 1 });
    assert.deepEqual(parseTarget('http://127.0.0.1:7000/announce'), { host: '127.0.0.1', port: 7000, path: '/announce' });
    assert.deepEqual(parseTarget('udp://127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
  });

  it('refuses anything off loopback, and bad ports', () => {
    for (const t of ['10.0.0.1:6969', '8.8.8.8:53', 'example.com:80', 'http://192.168.1.1:80/announce', '127.0.0.1:0', '127.0.0.1:70000', '127.0.0.1', '128.0.0.1:1']) {
      assert.throws(() => parseTarget(t), UsageError, t);
    }
  });
});

describe('run arguments', () => {
  it('defaults', () => {
    const { config, json } = parseRunArgs(['udp', '--target', '127.0.0.1:6969']);
    assert.equal(json, undefined);
    assert.equal(config.protocol, 'udp');
    assert.equal(config.engine, 'node');
    assert.equal(config.durationSeconds, 10);
    assert.equal(config.warmupSeconds, 2);
    assert.equal(config.workers, 1);
    assert.equal(config.sockets, 64);
    assert.equal(config.window, 16);
    assert.equal(config.timeoutMs, 1000);
    assert.equal(config.reconnectAfterMs, 60_000);
    assert.equal(config.model.torrents, 10_000);
    assert.equal(config.model.popularity, 'zipf');
    assert.equal(config.model.announcesPerScrape, 100);
    assert.equal(config.model.scrapeMaxHashes, 10);
    assert.equal(config.model.seederShare, 0.5);
    assert.equal(config.model.numwant, 50);
    assert.equal(config.model.sources, 16_384);
    assert.equal(config.model.firstAddress, '127.1.0.1');
    assert.equal(config.model.portsPerSource, 2);
    assert.equal(config.progress, true);
  });

  it('client addresses and HTTP requests per connection', () => {
    const { config } = parseRunArgs(['http', '--target', '127.0.0.1:1', '--sources', '300', '--first-address', '127.9.0.0', '--requests-per-connection', '5']);
    assert.equal(config.model.sources, 300);
    assert.equal(config.model.firstAddress, '127.9.0.0');
    assert.equal(config.requestsPerConnection, 5);
    assert.equal(parseRunArgs(['http', '--target', '127.0.0.1:1']).config.requestsPerConnection, 100);
  });

  it('http options, --k=v form, flags', () => {
    const { config, json } = parseRunArgs([
      'http', '--target=http://127.0.0.1:8000/tr/announce', '--connections', '8', '--close', '--quiet',
      '--duration=3', '--json', '/tmp/x.json', '--seed', '42', '--popularity', 'gamma',
    ]);
    assert.equal(config.protocol, 'http');
    assert.equal(config.sockets, 8);
    assert.equal(config.window, 1);
    assert.equal(config.connectionPerRequest, true);
    assert.equal(config.progress, false);
    assert.equal(config.announcePath, '/tr/announce');
    assert.equal(config.scrapePath, '/tr/scrape');
    assert.equal(config.timeoutMs, 5000);
    assert.equal(config.durationSeconds, 3);
    assert.equal(config.model.seed, 42);
    assert.equal(config.model.popularity, 'gamma');
    assert.equal(json, '/tmp/x.json');
  });

  it('usage errors', () => {
    const bad: string[][] = [
      [],
      ['tcp', '--target', '127.0.0.1:1'],
      ['udp'],
      ['udp', '--target', '127.0.0.1:1', '--bogus', '1'],
      ['udp', '--target', '127.0.0.1:1', '--duration', '0'],
      ['udp', '--target', '127.0.0.1:1', '--duration', '99999'],
      ['udp', '--target', '127.0.0.1:1', '--window', '300'],
      ['udp', '--target', '127.0.0.1:1', '--close'],
      ['http', '--target', '127.0.0.1:1', '--engine', 'rust'],
      ['http', '--target', '127.0.0.1:1', '--window', '4'],
      ['udp', '--target', '127.0.0.1:1', '--seeders', '2'],
      ['udp', '--target', '127.0.0.1:1', '--sources', '0'],
      ['udp', '--target', '127.0.0.1:1', '--sources', String(2 ** 20 + 1)],
      ['udp', '--target', '127.0.0.1:1', '--first-address', '10.0.0.1'],
      ['udp', '--target', '127.0.0.1:1', '--first-address', '127.255.255.255'],
      ['udp', '--target', '127.0.0.1:1', '--requests-per-connection', '5'],
      ['http', '--target', '127.0.0.1:1', '--requests-per-connection', '0'],
      ['http', '--target', '127.0.0.1:1', '--close', '--requests-per-connection', '5'],
      ['ws', '--target', '127.0.0.1:1', '--requests-per-connection', '5'],
      ['udp', '--target', '127.0.0.1:1', '--json'],
    ];
    for (const argv of bad) assert.throws(() => parseRunArgs(argv), UsageError, argv.join(' '));
  });
});

describe('HTTP response framing', () => {
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');

  it('Content-Length, keep-alive by default on 1.1', () => {
    const r = parseHttpResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT'));
    assert.equal(r.state, 'complete');
    if (r.state !== 'complete') return;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello');
    assert.equal(r.consumed, 43);
    assert.equal(r.close, false);
  });

  it('incomplete header / body', () => {
    assert.equal(parseHttpResponse(b('HTTP/1.1 200 OK\r\nContent-Len')).state, 'incomplete');
    assert.equal(parseHttpResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel')).state, 'incomplete');
  });

  it('HTTP/1.0 closes unless keep-alive; Connection: close on 1.1', () => {
    const r10 = parseHttpResponse(b('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    assert.ok(r10.state === 'complete' && r10.close);
    const r10ka = parseHttpResponse(b('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok'));
    assert.ok(r10ka.state === 'complete' && !r10ka.close);
    const r11 = parseHttpResponse(b('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok'));
    assert.ok(r11.state === 'complete' && r11.close);
  });

  it('chunked bodies', () => {
    const full = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nd1:a\r\n5;x=y\r\ni1ee0\r\n0\r\n\r\n';
    const r = parseHttpResponse(b(full));
    assert.equal(r.state, 'complete');
    if (r.state === 'complete') {
      assert.equal(r.body.toString(), 'd1:ai1ee0');
      assert.equal(r.consumed, full.length);
    }
    assert.equal(parseHttpResponse(b(full.slice(0, -2))).state, 'incomplete');
    assert.equal(parseHttpResponse(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')).state, 'error');
  });

  it('no length: read until close; no body for 204', () => {
    const r = parseHttpResponse(b('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nd8:completei0ee'));
    assert.deepEqual(r, { state: 'until-close', status: 200, bodyStart: 45 });
    const n = parseHttpResponse(b('HTTP/1.1 204 No Content\r\n\r\n'));
    assert.ok(n.state === 'complete' && n.body.length === 0);
  });

  it('garbage', () => {
    assert.equal(parseHttpResponse(b('SSH-2.0-x\r\n\r\n')).state, 'error');
    assert.equal(parseHttpResponse(b('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n')).state, 'error');
    assert.equal(parseHttpResponse(Buffer.alloc(20_000, 65)).state, 'error');
  });
});

describe('UDP echo replies', () => {
  const out = Buffer.alloc(2048);
  it('connect -> connect reply with the same transaction id', () => {
    const req = Buffer.alloc(16);
    writeConnectRequest(req, 0xdeadbeef);
    const r = parseUdpReply(out.subarray(0, echoUdpReply(req, new Uint8Array(0), out)), 6);
    assert.equal(r.type, 'connect');
    assert.equal(r.transactionId, 0xdeadbeef);
  });

  it('announce -> 20-byte header (+ peers); scrape -> one entry per hash', () => {
    const req = Buffer.alloc(98);
    writeAnnounceRequest(req, {
      connectionIdHigh: 1, connectionIdLow: 2, transactionId: 77, infoHash: 'a'.repeat(20), peerId: 'b'.repeat(20),
      downloaded: 0, left: 0, uploaded: 0, event: 0, key: 1, port: 1000,
    });
    const n = echoUdpReply(req, new Uint8Array(0), out);
    assert.equal(n, 20);
    const r = parseUdpReply(out.subarray(0, n), 6);
    assert.ok(r.type === 'announce' && r.transactionId === 77 && r.peerCount === 0);
    const withPeers = parseUdpReply(out.subarray(0, echoUdpReply(req, new Uint8Array(12), out)), 6);
    assert.ok(withPeers.type === 'announce' && withPeers.peerCount === 2);
    const sreq = Buffer.alloc(16 + 60);
    writeScrapeRequest(sreq, 1, 2, 78, ['x'.repeat(20), 'y'.repeat(20), 'z'.repeat(20)]);
    const s = parseUdpReply(out.subarray(0, echoUdpReply(sreq, new Uint8Array(0), out)), 6);
    assert.ok(s.type === 'scrape' && s.transactionId === 78 && s.stats.length === 3);
  });
});
