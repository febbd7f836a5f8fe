/**
 * TLS on the tracker port: with tls.certFile and tls.keyFile the same port
 * serves https:// announces and wss:// WebTorrent (UDP is unaffected).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import bencode from 'bencode';
import { buildAnnounceQuery } from '../../lib/protocol/http/client.js';
import { encodeAnnounceRequest, parseWtServerMessage } from '../../lib/protocol/webtorrent/client.js';
import { launchTracker, type LaunchedTracker } from '../support/integration-helpers.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';

const id20 = (c: string): string => c.repeat(20);

function httpsGet(port: number, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, rejectUnauthorized: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error('https request timed out')));
    req.on('error', reject);
  });
}

describe('TLS on the tracker port', () => {
  let dir: string;
  let tracker: LaunchedTracker;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tracker-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    tracker = await launchTracker([`--tls.certFile=${join(dir, 'cert.pem')}`, `--tls.keyFile=${join(dir, 'key.pem')}`]);
  });

  after(async () => {
    await tracker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers https:// announces with bencoded replies', async () => {
    const query = buildAnnounceQuery({ infoHash: id20('t'), peerId: id20('p'), port: 6881, uploaded: 0, downloaded: 0, left: 10 });
    const res = await httpsGet(tracker.httpPort, `/announce?${query}`);
    assert.equal(res.status, 200);
    const reply = bencode.decode(res.body) as Record<string, unknown>;
    assert.equal(reply.incomplete, 1);
  });

  it('serves WebTorrent over wss://', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${tracker.httpPort}/announce`, { rejectUnauthorized: false });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
      ws.send(encodeAnnounceRequest({ infoHash: id20('w'), peerId: id20('q'), left: 0, event: AnnounceEvent.Started, numwant: 0, offers: [] }));
      const message = parseWtServerMessage(await reply);
      assert.equal(message.type, 'announce');
      if (message.type === 'announce') assert.equal(message.complete, 1);
    } finally {
      ws.close();
    }
  });

  it('refuses plain HTTP on the TLS port', async () => {
    const plain = await fetch(`http://127.0.0.1:${tracker.httpPort}/announce`).then(
      () => 'answered',
      () => 'refused',
    );
    assert.equal(plain, 'refused');
  });
});
