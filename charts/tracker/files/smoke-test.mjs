// The chart's `helm test`: announces and scrapes through the edge Service
// over UDP (BEP 15) and HTTP (BEP 3/48), as two peers of one torrent, checks
// that each protocol sees the other's peer, then stops both peers again.
// Node built-ins only: it runs in the tracker image, which has no shell.
//
//   TARGET_HOST, TARGET_PORT  the edge Service (UDP and TCP on one port)
//   INFO_HASH                 40 hex digits; "" = a random torrent (with
//                             accessList.mode=allow, give a listed one)
//   TIMEOUT_MS                per request (default 5000)
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { lookup } from 'node:dns/promises';

const host = process.env.TARGET_HOST;
const port = Number(process.env.TARGET_PORT);
const timeoutMs = Number(process.env.TIMEOUT_MS || 5000);
if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
  fail('set TARGET_HOST and TARGET_PORT to the edge Service');
}
const infoHash = process.env.INFO_HASH ? Buffer.from(process.env.INFO_HASH, 'hex') : randomBytes(20);
if (infoHash.length !== 20) fail(`INFO_HASH must be 40 hex digits, got ${JSON.stringify(process.env.INFO_HASH)}`);
const udpPeer = { peerId: randomBytes(20), port: 40000 + (randomBytes(2).readUInt16BE() % 10000) };
const httpPeer = { peerId: randomBytes(20), port: udpPeer.port + 1 };

function fail(message) {
  process.stderr.write(`helm test: FAILED: ${message}\n`);
  process.exit(1);
}

function say(message) {
  process.stdout.write(`helm test: ${message}\n`);
}

// ------------------------------------------------------------------ UDP

function udpExchange(socket, address, packet, transactionId) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error(`no UDP reply from ${address}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (msg) => {
      if (msg.length < 8 || msg.readUInt32BE(4) !== transactionId) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      if (msg.readUInt32BE(0) === 3) reject(new Error(`UDP error reply: ${msg.subarray(8).toString()}`));
      else resolve(msg);
    };
    socket.on('message', onMessage);
    socket.send(packet, port, address);
  });
}

async function udp(address, event) {
  const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  try {
    let tid = randomBytes(4).readUInt32BE();
    const connect = Buffer.alloc(16);
    connect.writeBigUInt64BE(0x41727101980n, 0);
    connect.writeUInt32BE(0, 8);
    connect.writeUInt32BE(tid, 12);
    const connected = await udpExchange(socket, address, connect, tid);
    const connectionId = connected.subarray(8, 16);

    tid = randomBytes(4).readUInt32BE();
    const announce = Buffer.alloc(98);
    connectionId.copy(announce, 0);
    announce.writeUInt32BE(1, 8);
    announce.writeUInt32BE(tid, 12);
    infoHash.copy(announce, 16);
    udpPeer.peerId.copy(announce, 36);
    announce.writeBigUInt64BE(0n, 56); // downloaded
    announce.writeBigUInt64BE(event === 'stopped' ? 0n : 1000n, 64); // left: a leecher
    announce.writeBigUInt64BE(0n, 72); // uploaded
    announce.writeUInt32BE(event === 'stopped' ? 3 : 2, 80);
    announce.writeInt32BE(-1, 92); // numwant: default
    announce.writeUInt16BE(udpPeer.port, 96);
    const reply = await udpExchange(socket, address, announce, tid);
    if (reply.readUInt32BE(0) !== 1 || reply.length < 20) throw new Error(`UDP announce: unexpected reply of ${reply.length} bytes`);
    const result = { interval: reply.readUInt32BE(8), leechers: reply.readUInt32BE(12), seeders: reply.readUInt32BE(16) };
    if (event === 'stopped') return result;

    tid = randomBytes(4).readUInt32BE();
    const scrape = Buffer.alloc(36);
    connectionId.copy(scrape, 0);
    scrape.writeUInt32BE(2, 8);
    scrape.writeUInt32BE(tid, 12);
    infoHash.copy(scrape, 16);
    const scraped = await udpExchange(socket, address, scrape, tid);
    return { ...result, scrape: { seeders: scraped.readUInt32BE(8), completed: scraped.readUInt32BE(12), leechers: scraped.readUInt32BE(16) } };
  } finally {
    socket.close();
  }
}

// ------------------------------------------------------------------ HTTP

/** Bencode decoder for replies: byte strings stay Buffers. */
function bdecode(buf) {
  let i = 0;
  const next = () => {
    const c = buf[i];
    if (c === 0x69) {
      const end = buf.indexOf(0x65, i);
      const n = Number(buf.subarray(i + 1, end).toString());
      i = end + 1;
      return n;
    }
    if (c === 0x6c || c === 0x64) {
      i++;
      const items = [];
      while (buf[i] !== 0x65) {
        if (i >= buf.length) throw new Error('truncated bencode');
        items.push(next());
      }
      i++;
      if (c === 0x6c) return items;
      const dict = {};
      for (let k = 0; k < items.length; k += 2) dict[items[k].toString('latin1')] = items[k + 1];
      return dict;
    }
    const colon = buf.indexOf(0x3a, i);
    if (colon < 0) throw new Error('not bencode');
    const len = Number(buf.subarray(i, colon).toString());
    const out = buf.subarray(colon + 1, colon + 1 + len);
    i = colon + 1 + len;
    return out;
  };
  return next();
}

const pct = (bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

async function httpGet(address, path) {
  const url = `http://${isIPv6(address) ? `[${address}]` : address}:${port}${path}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`GET ${url.split('?')[0]} answered HTTP ${res.status}`);
  const reply = bdecode(body);
  if (reply['failure reason']) throw new Error(`HTTP failure reason: ${reply['failure reason'].toString()}`);
  return reply;
}

function peersOf(reply) {
  const out = [];
  const v4 = reply.peers;
  if (Buffer.isBuffer(v4)) for (let o = 0; o + 6 <= v4.length; o += 6) out.push(v4.readUInt16BE(o + 4));
  const v6 = reply.peers6;
  if (Buffer.isBuffer(v6)) for (let o = 0; o + 18 <= v6.length; o += 18) out.push(v6.readUInt16BE(o + 16));
  return out;
}

async function http(address, event) {
  const query = `info_hash=${pct(infoHash)}&peer_id=${pct(httpPeer.peerId)}&port=${httpPeer.port}&uploaded=0&downloaded=0&left=${event === 'stopped' ? 0 : 1000}&compact=1&event=${event}`;
  const announced = await httpGet(address, `/announce?${query}`);
  if (event === 'stopped') return announced;
  const scraped = await httpGet(address, `/scrape?info_hash=${pct(infoHash)}`);
  const files = scraped.files ?? {};
  const stats = Object.values(files)[0];
  if (!stats) throw new Error('HTTP scrape: the torrent is missing from `files`');
  return { interval: announced.interval, peerPorts: peersOf(announced), scrape: { complete: stats.complete, incomplete: stats.incomplete } };
}

// ------------------------------------------------------------------ run

try {
  const { address } = await lookup(host);
  say(`edge ${host} (${address}) port ${port}, torrent ${infoHash.toString('hex')}`);
  const u = await udp(address, 'started');
  if (!(u.interval > 0)) throw new Error(`UDP announce: interval ${u.interval}`);
  if (!(u.scrape.leechers >= 1)) throw new Error(`UDP scrape: ${u.scrape.leechers} leechers after our announce`);
  say(`UDP announce ok (interval ${u.interval} s), UDP scrape ok (${u.scrape.leechers} leechers)`);
  const h = await http(address, 'started');
  if (!(h.interval > 0)) throw new Error(`HTTP announce: interval ${h.interval}`);
  if (!h.peerPorts.includes(udpPeer.port)) throw new Error(`HTTP announce: the UDP peer (port ${udpPeer.port}) is not among the peers ${JSON.stringify(h.peerPorts)}`);
  if (!(h.scrape.incomplete >= 2)) throw new Error(`HTTP scrape: ${h.scrape.incomplete} leechers after two announces`);
  say(`HTTP announce ok (got the UDP peer back), HTTP scrape ok (${h.scrape.incomplete} leechers)`);
  await udp(address, 'stopped');
  await http(address, 'stopped');
  say('both test peers stopped; PASSED');
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
