/**
 * The npm `bittorrent-tracker` client (what WebTorrent uses) against the real
 * tracker process, over udp:// and http://.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { launchTracker, withTimeout, type LaunchedTracker } from '../support/integration-helpers.js';

interface TrackerClient extends EventEmitter {
  start(opts?: Record<string, unknown>): void;
  stop(opts?: Record<string, unknown>): void;
  complete(opts?: Record<string, unknown>): void;
  update(opts?: Record<string, unknown>): void;
  scrape(opts?: Record<string, unknown>): void;
  destroy(cb?: (err?: unknown) => void): void;
}
type TrackerClientConstructor = new (opts: {
  infoHash: string;
  peerId: string;
  announce: string[];
  port: number;
  getAnnounceOpts?: () => Record<string, unknown>;
}) => TrackerClient;

// No type declarations ship with the package: load it by a non-literal specifier.
const CLIENT_SPECIFIER: string = 'bittorrent-tracker';
const Client = ((await import(CLIENT_SPECIFIER)) as { default: TrackerClientConstructor }).default;

const WAIT_MS = 5000;

/** A hex info-hash whose bytes are ASCII, so every decoder keys scrape results the same way. */
function asciiInfoHashHex(): string {
  return Buffer.from(Array.from(randomBytes(20), (b) => 0x30 + (b % 0x40))).toString('hex');
}

function nextEvent<T = unknown>(client: TrackerClient, event: string, what: string, predicate: (value: T) => boolean = () => true): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => {
      const onEvent = (value: T): void => {
        if (!predicate(value)) return;
        client.off(event, onEvent);
        resolve(value);
      };
      client.on(event, onEvent);
    }),
    WAIT_MS,
    what,
  );
}

describe('bittorrent-tracker client against the real tracker', () => {
  let tracker: LaunchedTracker;
  const clients: TrackerClient[] = [];

  interface Peer {
    client: TrackerClient;
    /** What `left` the client reports from now on. */
    state: { left: number };
    problems: string[];
  }

  function makeClient(url: string, infoHash: string, port: number, left: number): Peer {
    const state = { left };
    const client = new Client({
      infoHash,
      peerId: randomBytes(20).toString('hex'),
      announce: [url],
      port,
      getAnnounceOpts: () => ({ left: state.left }),
    });
    const problems: string[] = [];
    client.on('error', (error: Error) => problems.push(`error: ${error.message}`));
    client.on('warning', (error: Error) => problems.push(`warning: ${error.message}`));
    clients.push(client);
    return { client, state, problems };
  }

  before(async () => {
    tracker = await launchTracker(['--announce.intervalJitterSeconds=0']);
  });

  after(async () => {
    await Promise.all(clients.map((c) => withTimeout(new Promise<void>((resolve) => c.destroy(() => resolve())), 3000, 'client destroy').catch(() => undefined)));
    await tracker?.stop();
  });

  // The client's UDP side only opens udp4 sockets, so udp://[::1] is out of its reach.
  const targets = [
    ['udp', '127.0.0.1'],
    ['http', '127.0.0.1'],
    ['http', '[::1]'],
  ] as const;
  for (const [scheme, host] of targets) {
    it(`${scheme}://${host}: two clients of one torrent find each other; scrape counts them`, async () => {
      const url = scheme === 'udp' ? `udp://${host}:${tracker.udpPort}` : `http://${host}:${tracker.httpPort}/announce`;
      const expectIp = host === '[::1]' ? '[::1]' : '127.0.0.1';
      const infoHash = asciiInfoHashHex();
      const base = 30000 + Math.floor(Math.random() * 20000);
      const s = makeClient(url, infoHash, base, 0);
      const l = makeClient(url, infoHash, base + 1, 1000);
      const seeder = s.client;
      const leecher = l.client;

      const seederUpdate = nextEvent<{ complete: number; incomplete: number }>(seeder, 'update', 'the seeder announce reply');
      seeder.start();
      const first = await seederUpdate;
      assert.equal(first.complete, 1);
      assert.equal(first.incomplete, 0);

      const leecherSeesSeeder = nextEvent<string>(leecher, 'peer', 'the leecher to get the seeder as a peer', (addr) => addr === `${expectIp}:${base}`);
      const leecherUpdate = nextEvent<{ complete: number; incomplete: number }>(leecher, 'update', 'the leecher announce reply');
      leecher.start();
      assert.equal(await leecherSeesSeeder, `${expectIp}:${base}`);
      const second = await leecherUpdate;
      assert.deepEqual([second.complete, second.incomplete], [1, 1]);

      const seederSeesLeecher = nextEvent<string>(seeder, 'peer', 'the seeder to get the leecher as a peer', (addr) => addr === `${expectIp}:${base + 1}`);
      // Every 'peer' event is emitted while its announce reply is handled, so by the checks at the end this has seen them all.
      let sawSelf = false;
      seeder.on('peer', (addr: string) => {
        if (addr === `${expectIp}:${base}`) sawSelf = true;
      });
      seeder.update();
      assert.equal(await seederSeesLeecher, `${expectIp}:${base + 1}`);

      const scraped = nextEvent<{ complete: number; incomplete: number; downloaded: number; infoHash: string }>(seeder, 'scrape', 'a scrape reply');
      seeder.scrape();
      const stats = await scraped;
      assert.equal(stats.infoHash, infoHash);
      assert.deepEqual([stats.complete, stats.incomplete], [1, 1]);

      // The leecher finishes: `completed` shows in the scrape's downloaded count.
      const leecherDone = nextEvent(leecher, 'update', 'the completed announce reply');
      l.state.left = 0;
      leecher.complete();
      await leecherDone;
      const scrapedAgain = nextEvent<{ complete: number; incomplete: number; downloaded: number }>(seeder, 'scrape', 'a second scrape reply');
      seeder.scrape();
      const after = await scrapedAgain;
      assert.deepEqual([after.complete, after.incomplete, after.downloaded], [2, 0, 1]);

      // Nobody was ever handed its own address, and the client saw no errors or warnings.
      // The seeder's 'peer' events did fire (it saw the leecher above): it was never handed its own address.
      assert.equal(sawSelf, false, 'the seeder was given its own address');
      assert.deepEqual(s.problems, []);
      assert.deepEqual(l.problems, []);
    });
  }
});
