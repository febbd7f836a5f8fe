/**
 * Random payloads and .torrent files for end-to-end tests.
 *
 *   const dir = await makeTempDir(t, 'seed');
 *   const torrent = await createTorrent({ dir, announce: tracker.httpAnnounceUrl() });
 *   torrent.torrentPath, torrent.payloadPath, torrent.infoHashHex, torrent.sha256
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CleanupContext } from './tracker-process.js';

// `bencode` ships no type declarations; a non-literal specifier keeps tsc from
// looking for them and this interface types the part we use.
interface Bencode {
  encode(value: unknown): Uint8Array;
  decode(data: Uint8Array): unknown;
}
const bencodeSpecifier = 'bencode';
const bencode: Bencode = ((await import(bencodeSpecifier)) as { default: Bencode }).default;

export const MiB = 1024 * 1024;
export const DEFAULT_PIECE_LENGTH = 256 * 1024;

export interface TestTorrent {
  /** Directory holding the payload (what a seeder uses as its download directory). */
  readonly dir: string;
  /** The file name inside `dir` (also `info.name`). */
  readonly name: string;
  readonly payloadPath: string;
  readonly size: number;
  readonly torrentPath: string;
  /** The raw .torrent bytes. */
  readonly torrentBytes: Buffer;
  /** 20-byte SHA-1 of the bencoded info dictionary. */
  readonly infoHash: Buffer;
  readonly infoHashHex: string;
  /** SHA-256 of the payload, hex. */
  readonly sha256: string;
}

export interface CreateTorrentOptions {
  /** Where to write the payload and the .torrent (the torrent goes next to the payload). */
  dir: string;
  /** The `announce` URL. */
  announce: string;
  /** Optional BEP 12 `announce-list` (tiers of URLs). */
  announceList?: string[][];
  /** Payload size in bytes; default random in [2 MiB, 8 MiB), usually not a multiple of the piece length. */
  size?: number;
  pieceLength?: number;
  /** File name; default `payload-<random>.bin`. */
  name?: string;
  /** Where to write the .torrent; default `<dir>/<name>.torrent`. */
  torrentPath?: string;
}

/** Writes a random payload file and a single-file v1 .torrent for it. */
export async function createTorrent(options: CreateTorrentOptions): Promise<TestTorrent> {
  const size = options.size ?? randomInt(2 * MiB, 8 * MiB);
  const pieceLength = options.pieceLength ?? DEFAULT_PIECE_LENGTH;
  const name = options.name ?? `payload-${randomBytes(4).toString('hex')}.bin`;
  const payloadPath = join(options.dir, name);
  const torrentPath = options.torrentPath ?? join(options.dir, `${name}.torrent`);

  // Write the payload piece by piece, hashing as we go.
  const pieceHashes: Buffer[] = [];
  const whole = createHash('sha256');
  const file = await open(payloadPath, 'w');
  try {
    for (let offset = 0; offset < size; offset += pieceLength) {
      const piece = randomBytes(Math.min(pieceLength, size - offset));
      pieceHashes.push(createHash('sha1').update(piece).digest());
      whole.update(piece);
      await file.write(piece);
    }
  } finally {
    await file.close();
  }

  const info = {
    length: size,
    name,
    'piece length': pieceLength,
    pieces: Buffer.concat(pieceHashes),
  };
  const metainfo: Record<string, unknown> = {
    announce: options.announce,
    'created by': 'tracker e2e tests',
    'creation date': Math.floor(Date.now() / 1000),
    info,
  };
  if (options.announceList) metainfo['announce-list'] = options.announceList;
  const torrentBytes = Buffer.from(bencode.encode(metainfo));
  await writeFile(torrentPath, torrentBytes);

  const infoHash = sha1(bencode.encode(info));
  return {
    dir: options.dir,
    name,
    payloadPath,
    size,
    torrentPath,
    torrentBytes,
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    sha256: whole.digest('hex'),
  };
}

/** The info-hash of a .torrent (bytes or path): SHA-1 of its bencoded `info` dictionary. */
export async function infoHashOf(torrent: Uint8Array | string): Promise<Buffer> {
  const bytes = typeof torrent === 'string' ? await readFile(torrent) : torrent;
  const decoded = bencode.decode(bytes) as { info?: unknown };
  if (decoded === null || typeof decoded !== 'object' || decoded.info === undefined) {
    throw new Error('not a .torrent: no info dictionary');
  }
  // Decoding and re-encoding is exact for canonical (sorted-key) torrents like ours.
  return sha1(bencode.encode(decoded.info));
}

/** Writes a .torrent for an existing TestTorrent's payload with other trackers (same info-hash). */
export async function writeTorrentVariant(
  torrent: TestTorrent,
  path: string,
  announce: string,
  announceList?: string[][],
): Promise<string> {
  const decoded = bencode.decode(torrent.torrentBytes) as Record<string, unknown>;
  decoded.announce = announce;
  if (announceList) decoded['announce-list'] = announceList;
  else delete decoded['announce-list'];
  await writeFile(path, bencode.encode(decoded));
  return path;
}

/** SHA-256 of a file, hex. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolveHash, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .once('error', reject)
      .once('end', () => resolveHash(hash.digest('hex')));
  });
}

export function sha1(data: Uint8Array): Buffer {
  return createHash('sha1').update(data).digest();
}

export { bencode };

/**
 * A fresh temporary directory, removed when the test ends (kept when
 * TRACKER_E2E_KEEP_TMP=1, to look at client logs after a failure).
 */
export async function makeTempDir(t: CleanupContext | undefined, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tracker-e2e-${prefix}-`));
  t?.after(async () => {
    if (process.env.TRACKER_E2E_KEEP_TMP === '1') {
      process.stderr.write(`kept ${dir}\n`);
      return;
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  return dir;
}
