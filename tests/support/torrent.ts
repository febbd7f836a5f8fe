/**
 * Random payloads and .torrent files for end-to-end tests.
 *
 *   const dir = await makeTempDir(t, 'seed');
 *   const torrent = await createTorrent({ dir, announce: tracker.httpAnnounceUrl() });
 *   torrent.torrentPath, torrent.payloadPath, torrent.infoHashHex, torrent.sha256
 *
 * createMultiFileTorrent writes a directory of files and its .torrent;
 * magnetUri makes a magnet link naming one tracker.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
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
  /** BEP 27 `private: 1` in the info dictionary (clients then use only the tracker: no DHT, PEX or LPD). */
  private?: boolean;
}

/** Writes a random payload file and a single-file v1 .torrent for it. */
export async function createTorrent(options: CreateTorrentOptions): Promise<TestTorrent> {
  const size = options.size ?? randomInt(2 * MiB, 8 * MiB);
  const pieceLength = options.pieceLength ?? DEFAULT_PIECE_LENGTH;
  const name = options.name ?? `payload-${randomBytes(4).toString('hex')}.bin`;
  const payloadPath = join(options.dir, name);
  const torrentPath = options.torrentPath ?? join(options.dir, `${name}.torrent`);
  const payload = await writeRandomPayload([payloadPath], [size], pieceLength);
  const info = {
    length: size,
    name,
    'piece length': pieceLength,
    pieces: payload.pieces,
    ...(options.private ? { private: 1 } : {}),
  };
  const { torrentBytes, infoHash } = await writeMetainfo(torrentPath, info, options);
  return {
    dir: options.dir,
    name,
    payloadPath,
    size,
    torrentPath,
    torrentBytes,
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    sha256: payload.sha256[0]!,
  };
}

/** One file of a MultiFileTestTorrent. */
export interface TestTorrentFile {
  /** The file name inside the torrent's directory (`info.files[i].path`). */
  readonly name: string;
  readonly payloadPath: string;
  readonly size: number;
  /** SHA-256 of the file, hex. */
  readonly sha256: string;
}

export interface MultiFileTestTorrent {
  /** Directory holding the torrent's directory (what a seeder uses as its download directory). */
  readonly dir: string;
  /** The torrent's directory name inside `dir` (also `info.name`). */
  readonly name: string;
  /** In the torrent's order. */
  readonly files: readonly TestTorrentFile[];
  /** Total bytes. */
  readonly size: number;
  readonly torrentPath: string;
  readonly torrentBytes: Buffer;
  readonly infoHash: Buffer;
  readonly infoHashHex: string;
}

export interface CreateMultiFileTorrentOptions {
  /** Where to write the torrent's directory and the .torrent. */
  dir: string;
  announce: string;
  announceList?: string[][];
  /** One size per file, in bytes. */
  fileSizes: number[];
  pieceLength?: number;
  /** Directory name; default `payload-<random>`. */
  name?: string;
}

/**
 * Writes random files `<dir>/<name>/file-<i>.bin` and a multi-file v1
 * .torrent (`<dir>/<name>.torrent`); pieces run across file boundaries.
 */
export async function createMultiFileTorrent(options: CreateMultiFileTorrentOptions): Promise<MultiFileTestTorrent> {
  const pieceLength = options.pieceLength ?? DEFAULT_PIECE_LENGTH;
  const name = options.name ?? `payload-${randomBytes(4).toString('hex')}`;
  const torrentPath = join(options.dir, `${name}.torrent`);
  await mkdir(join(options.dir, name));
  const names = options.fileSizes.map((_, i) => `file-${i}.bin`);
  const paths = names.map((file) => join(options.dir, name, file));
  const payload = await writeRandomPayload(paths, options.fileSizes, pieceLength);
  const info = {
    files: names.map((file, i) => ({ length: options.fileSizes[i]!, path: [file] })),
    name,
    'piece length': pieceLength,
    pieces: payload.pieces,
  };
  const { torrentBytes, infoHash } = await writeMetainfo(torrentPath, info, options);
  return {
    dir: options.dir,
    name,
    files: names.map((file, i) => ({ name: file, payloadPath: paths[i]!, size: options.fileSizes[i]!, sha256: payload.sha256[i]! })),
    size: options.fileSizes.reduce((a, b) => a + b, 0),
    torrentPath,
    torrentBytes,
    infoHash,
    infoHashHex: infoHash.toString('hex'),
  };
}

/**
 * Writes random files of `sizes` bytes at `paths`, hashing v1 pieces of
 * `pieceLength` over their concatenation (pieces cross file boundaries).
 */
async function writeRandomPayload(paths: string[], sizes: number[], pieceLength: number): Promise<{ pieces: Buffer; sha256: string[] }> {
  const pieceHashes: Buffer[] = [];
  const fileHashes: string[] = [];
  let piece = createHash('sha1');
  let inPiece = 0;
  for (let i = 0; i < paths.length; i++) {
    const size = sizes[i]!;
    const whole = createHash('sha256');
    const file = await open(paths[i]!, 'w');
    try {
      for (let offset = 0; offset < size; ) {
        const chunk = randomBytes(Math.min(pieceLength - inPiece, size - offset));
        piece.update(chunk);
        whole.update(chunk);
        await file.write(chunk);
        offset += chunk.length;
        inPiece += chunk.length;
        if (inPiece === pieceLength) {
          pieceHashes.push(piece.digest());
          piece = createHash('sha1');
          inPiece = 0;
        }
      }
    } finally {
      await file.close();
    }
    fileHashes.push(whole.digest('hex'));
  }
  if (inPiece > 0) pieceHashes.push(piece.digest());
  return { pieces: Buffer.concat(pieceHashes), sha256: fileHashes };
}

/** Writes the .torrent for `info` at `path`; returns its bytes and the info-hash. */
async function writeMetainfo(
  path: string,
  info: Record<string, unknown>,
  trackers: { announce: string; announceList?: string[][] },
): Promise<{ torrentBytes: Buffer; infoHash: Buffer }> {
  const metainfo: Record<string, unknown> = {
    announce: trackers.announce,
    'created by': 'tracker e2e tests',
    'creation date': Math.floor(Date.now() / 1000),
    info,
  };
  if (trackers.announceList) metainfo['announce-list'] = trackers.announceList;
  const torrentBytes = Buffer.from(bencode.encode(metainfo));
  await writeFile(path, torrentBytes);
  return { torrentBytes, infoHash: sha1(bencode.encode(info)) };
}

/** magnet:?xt=urn:btih:<hex>&dn=<name>&tr=<announce>: the tracker is the only way to peers. */
export function magnetUri(torrent: { readonly infoHashHex: string; readonly name: string }, announce: string): string {
  return `magnet:?xt=urn:btih:${torrent.infoHashHex}&dn=${encodeURIComponent(torrent.name)}&tr=${encodeURIComponent(announce)}`;
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

/** Writes a .torrent for an existing test torrent's payload (one file or several) with other trackers (same info-hash). */
export async function writeTorrentVariant(
  torrent: { readonly torrentBytes: Buffer },
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
