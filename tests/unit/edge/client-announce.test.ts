/**
 * What the edge's frontends hand on for an announce, through real sockets on
 * 127.0.0.1 (UDP, HTTP, WebSocket): besides what the swarm needs, what the
 * hooks will read: uploaded, downloaded, left, the client's peer_id and
 * address, and the request's path and extra parameters (UDP BEP 41 URL
 * data, HTTP query keys the tracker does not read, WebTorrent's extra keys
 * and its socket URL's query). The swarm here is real and in-process, behind
 * a service that records every request it is given.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../../lib/runtime/config.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import { buildAnnounceQuery } from '../../../lib/protocol/http/client.js';
import type { ClientAnnounce } from '../../../lib/tracker/announce.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { ClientWtAnnounce } from '../../../lib/tracker/webtorrent.js';
import { InProcessTransport } from '../../../lib/transport/in-process.js';
import { Frontends } from '../../../services/edge/frontends.js';
import { SingleDestination, SwarmRouter } from '../../../services/edge/router.js';
import { RequestPipeline } from '../../../services/edge/pipeline/pipeline.js';
import { WebTorrentSwarms } from '../../../services/swarm/store/webtorrent-swarms.js';
import { Swarm } from '../../../services/swarm/swarm.js';
import { makeStore } from '../../support/swarm-store.js';
import { AnnounceEvent, UdpTestClient, WtTestClient, bdecodeDict, httpGet, randomId20 } from '../../support/integration-helpers.js';

describe('an announce as the frontends hand it on', () => {
  const seen: SwarmRequest[] = [];
  let frontends: Frontends;
  let transport: InProcessTransport;

  before(async () => {
    const config = defaultConfig();
    config.host = '127.0.0.1';
    config.port = 0;
    const swarm = new Swarm(makeStore(), new WebTorrentSwarms(config.webtorrent));
    const recording = {
      handle(requests: readonly SwarmRequest[]): SwarmReply[] {
        seen.push(...requests);
        return swarm.handle(requests);
      },
      handleOne(request: SwarmRequest): SwarmReply {
        seen.push(request);
        return swarm.handleOne(request);
      },
    };
    transport = new InProcessTransport(recording);
    const router = new SwarmRouter(new SingleDestination(transport), 256, {
      count: 0,
      report(error: unknown) {
        throw error;
      },
    });
    frontends = await Frontends.start({
      config,
      edgeId: 'edge-test',
      pipeline: new RequestPipeline({ router, failures: { count: 0, report(error: unknown) { throw error; } } }),
      metrics: new TrackerMetrics({ defaultMetrics: false }),
      logger: silentLogger,
    });
  });

  after(async () => {
    await frontends?.stop(1000);
    await transport?.close();
  });

  /** The one announce the swarm was given for `infoHash`. */
  function announceFor<T extends SwarmRequest>(infoHash: string): T {
    const found = seen.filter((r) => 'infoHash' in r && r.infoHash === infoHash);
    assert.equal(found.length, 1, 'one request reached the swarm');
    return found[0] as T;
  }

  it('UDP: counters, peer_id, the source address and port, and the BEP 41 URL data as path and parameters', async () => {
    const client = await UdpTestClient.open('127.0.0.1', frontends.udpPort);
    try {
      const infoHash = randomId20();
      const peerId = randomId20('-qB4650-');
      const url = Buffer.from('/announce?passkey=p%40ss&x=1', 'latin1');
      await client.announceOk({
        infoHash, peerId, port: 6881, left: 1234, uploaded: 2 ** 40, downloaded: 77, event: AnnounceEvent.Started,
        options: Uint8Array.from([0x02, url.length, ...url, 0x00]),
      });
      const r = announceFor<ClientAnnounce>(infoHash);
      assert.equal(r.peerId, peerId);
      assert.deepEqual([r.left, r.uploaded, r.downloaded, r.event], [1234, 2 ** 40, 77, AnnounceEvent.Started]);
      assert.deepEqual([...r.endpoint], [127, 0, 0, 1, 6881 >> 8, 6881 & 0xff]);
      assert.equal(r.params.path, '/announce');
      assert.deepEqual(r.params.entries(), [['passkey', 'p@ss'], ['x', '1']]);
    } finally {
      client.close();
    }
  });

  it('HTTP: counters, peer_id, the client address, and the query keys the tracker does not read', async () => {
    const infoHash = randomId20();
    const peerId = randomId20('-TR4060-');
    const query = buildAnnounceQuery({ infoHash, peerId, port: 51413, left: 0, uploaded: 5, downloaded: 6, event: AnnounceEvent.Completed });
    const res = await httpGet('127.0.0.1', frontends.tcpPort, `/announce?${query}&supportcrypto=1&jwt=a.b.c`);
    assert.equal(res.status, 200);
    assert.equal(typeof bdecodeDict(res.body).interval, 'number', 'the announce was answered');
    const r = announceFor<ClientAnnounce>(infoHash);
    assert.equal(r.peerId, peerId);
    assert.deepEqual([r.left, r.uploaded, r.downloaded, r.event], [0, 5, 6, AnnounceEvent.Completed]);
    assert.deepEqual([...r.endpoint], [127, 0, 0, 1, 51413 >> 8, 51413 & 0xff]);
    assert.equal(r.params.path, '/announce');
    assert.deepEqual(r.params.entries(), [['supportcrypto', '1'], ['jwt', 'a.b.c']]);
    assert.equal(r.params.get('jwt'), 'a.b.c');
  });

  it('WebTorrent: counters, unknown left, peer_id, the client address, the message\'s extra keys and the socket URL', async () => {
    const client = await WtTestClient.open(frontends.tcpPort, { path: '/t/announce?jwt=x.y.z' });
    try {
      const infoHash = randomId20();
      const peerId = randomId20('-WW0208-');
      await client.announceOk({ infoHash, peerId, left: null, uploaded: 3, downloaded: 4, event: AnnounceEvent.Started, trackerId: 'tid-1' });
      const r = announceFor<ClientWtAnnounce>(infoHash);
      assert.equal(r.type, 'wt-announce');
      assert.equal(r.peerId, peerId);
      assert.deepEqual([r.left, r.seeder, r.uploaded, r.downloaded], [null, false, 3, 4]);
      assert.deepEqual([...r.address], [127, 0, 0, 1]);
      assert.equal(r.params.path, '/t/announce');
      assert.deepEqual(r.params.entries(), [['trackerid', 'tid-1'], ['jwt', 'x.y.z']]);
    } finally {
      client.close();
    }
  });
});
