/**
 * A real browser WebTorrent client: Debian's Chromium, driven by
 * playwright-core, opens a page served from 127.0.0.1 that loads WebTorrent's
 * own browser bundle (node_modules/webtorrent/dist/webtorrent.min.js) and
 * leeches a torrent through the ws:// tracker under test. The page hashes what
 * it received (SHA-256, WebCrypto) and hands the digest back to the test.
 *
 *   const page = await startPageServer(scope);
 *   const torrentUrl = page.addFile('/t.torrent', torrent.torrentBytes, 'application/x-bittorrent');
 *   const browser = await launchChromium(scope);
 *   const result = await leechInBrowser(browser, page, { torrentUrl, announce, timeoutMs: 30_000 });
 *   assert.equal(result.sha256, torrent.sha256);
 *
 * Chromium needs `bash scripts/install-test-deps.sh`; playwright-core comes from
 * node_modules (it never downloads a browser of its own here).
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../torrent.js';
import { raceTimeout, REPO_ROOT, type CleanupContext } from '../tracker-process.js';
import { EventLog, importPackage, WT_INSTALL_HINT } from './webtorrent-node.js';

/** Debian's Chromium; WT_E2E_CHROMIUM overrides. */
export const CHROMIUM_PATH = process.env.WT_E2E_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Our flags. Playwright adds its own automation defaults (among them
 * --disable-background-networking, --disable-component-update, --no-sandbox
 * and a --disable-features list) and puts these after them.
 * - The background-networking flags: without them Chromium keeps dialling
 *   Google's hosts, which this machine refuses.
 * - --host-resolver-rules: Chromium resolves no host name at all (the test
 *   only uses 127.0.0.1), so the lookups it still makes at start-up
 *   (accounts.google.com, update.googleapis.com) never leave the machine.
 * - WebRtcHideLocalIpsWithMdns off: Chromium would otherwise announce a
 *   random <uuid>.local name for its ICE host candidates by multicast DNS
 *   (224.0.0.251, out of the real interface) and the Node peer would look that
 *   name up through the system resolver. Chromium keeps only the last
 *   --disable-features switch, so the launcher merges every list into one.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/**
 * A launcher for `chromium` that merges every --disable-features and every
 * --enable-features switch into one each (Chromium honours only the last
 * occurrence of a switch, so ours would silently drop Playwright's list).
 */
function launcherScript(chromium: string): string {
  return `#!/bin/bash
set -u
disable=() enable=() rest=()
for arg in "$@"; do
  case "$arg" in
    --disable-features=*) disable+=("\${arg#--disable-features=}") ;;
    --enable-features=*) enable+=("\${arg#--enable-features=}") ;;
    *) rest+=("$arg") ;;
  esac
done
merged=()
IFS=,
if [ \${#disable[@]} -gt 0 ]; then merged+=("--disable-features=\${disable[*]}"); fi
if [ \${#enable[@]} -gt 0 ]; then merged+=("--enable-features=\${enable[*]}"); fi
unset IFS
exec ${JSON.stringify(chromium)} "\${merged[@]}" "\${rest[@]}"
`;
}

// The part of playwright-core's API used here.
interface PwConsoleMessage {
  type(): string;
  text(): string;
}
export interface PwPage {
  goto(url: string, options?: { timeout?: number; waitUntil?: string }): Promise<unknown>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  waitForFunction(expression: string, arg?: unknown, options?: { timeout?: number }): Promise<unknown>;
  on(event: 'console', listener: (message: PwConsoleMessage) => void): void;
  on(event: 'pageerror', listener: (error: Error) => void): void;
  on(event: 'requestfailed', listener: (request: { url(): string; failure(): { errorText: string } | null }) => void): void;
  on(event: 'crash' | 'close', listener: () => void): void;
}
interface PwContext {
  pages(): PwPage[];
  newPage(): Promise<PwPage>;
  close(): Promise<void>;
  on(event: 'close', listener: () => void): void;
}
interface PwChromium {
  launchPersistentContext(userDataDir: string, options: Record<string, unknown>): Promise<PwContext>;
}

export interface ChromiumSession {
  readonly page: PwPage;
  readonly userDataDir: string;
  /** The page's console, page errors and failed requests. */
  readonly log: EventLog;
  describe(message: string): string;
  /** Closes Chromium (bounded; kills what is left of it). */
  close(): Promise<void>;
}

/**
 * Launches Chromium (headless, fresh profile in a temporary directory) with one
 * page. Everything is closed, and the profile removed, when `scope` ends.
 */
export async function launchChromium(scope: CleanupContext, options: { launchTimeoutMs?: number } = {}): Promise<ChromiumSession> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found (Debian package chromium): run \`bash scripts/install-test-deps.sh\` as root\n${WT_INSTALL_HINT}`);
  }
  const { chromium } = await importPackage<{ chromium: PwChromium }>('playwright-core');
  const userDataDir = await makeTempDir(scope, 'chromium-profile');
  const launcher = join(await makeTempDir(scope, 'chromium-launcher'), 'chromium');
  await writeFile(launcher, launcherScript(CHROMIUM_PATH), { mode: 0o755 });
  const log = new EventLog('chromium');
  const launchTimeoutMs = options.launchTimeoutMs ?? 30_000;
  let context: PwContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: launcher,
      headless: true,
      args: [...CHROMIUM_ARGS],
      timeout: launchTimeoutMs,
      // Playwright must not look for, or download, a browser of its own.
      env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' },
    });
  } catch (error) {
    throw new Error(`cannot launch ${CHROMIUM_PATH}: ${(error as Error).message}`);
  }

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      const done = await raceTimeout(context.close().then(() => true, () => true), 10_000);
      // Whatever Chromium process is still alive with our profile is ours: kill it by pid.
      if (done === null) log.push('context.close() did not finish within 10 s; killing the browser');
      await killProcessesUsing(userDataDir);
    })();
    return closed;
  };
  // Registered after makeTempDir, so it runs before the profile is removed.
  scope.after(close);

  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => log.push(`console.${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => log.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => log.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? '?'})`));
  page.on('crash', () => log.push('page crashed'));

  return {
    page,
    userDataDir,
    log,
    describe: (message) => `${message}\n--- chromium page log ---\n${log.toString() || '(nothing)'}\n--- end of chromium page log ---`,
    close,
  };
}

/** SIGKILLs every process whose command line mentions `marker` (our unique profile directory). */
async function killProcessesUsing(marker: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The page and its server

/** WebTorrent's browser bundle (an ES module with a default export) from node_modules. */
export function webTorrentBundlePath(): string {
  const candidates: string[] = [];
  try {
    // Resolve the package the same way Node would, then its dist/ folder.
    const main = fileURLToPath(import.meta.resolve('webtorrent'));
    candidates.push(join(dirname(main), 'dist', 'webtorrent.min.js'));
  } catch {
    // fall through to the repository's node_modules
  }
  candidates.push(join(REPO_ROOT, 'node_modules', 'webtorrent', 'dist', 'webtorrent.min.js'));
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error(`WebTorrent's browser bundle is missing (looked at ${candidates.join(', ')})\n${WT_INSTALL_HINT}`);
  return found;
}

const PAGE_HTML = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>webtorrent e2e</title><link rel="icon" href="data:,"></head>
<body>
<p id="status">loading</p>
<script type="module">
import WebTorrent from '/webtorrent.min.js';

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
const say = (text) => {
  console.log('[wt] ' + text);
  document.getElementById('status').textContent = text;
};

// Leeches one torrent through the given tracker only; resolves with the
// SHA-256 of the bytes received, rejects on error or after timeoutMs.
window.wtLeech = async ({ torrentUrl, magnet, announce, timeoutMs }) => {
  const started = performance.now();
  let torrentId = magnet;
  if (torrentUrl) {
    const response = await fetch(torrentUrl);
    if (!response.ok) throw new Error('GET ' + torrentUrl + ': HTTP ' + response.status);
    torrentId = new Uint8Array(await response.arrayBuffer());
  }
  // Kept until the browser closes: a WebRTC peer in Node (@roamhq/wrtc) can
  // crash when the remote side closes first, so the test stops the Node peers
  // before it closes the browser.
  const client = new WebTorrent({ utPex: false, webSeeds: false, tracker: { rtcConfig: { iceServers: [] } } });
  window.wtClients = [...(window.wtClients || []), client];
  const wires = [];
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not done within ' + timeoutMs + ' ms')), timeoutMs);
    const fail = (error) => {
      clearTimeout(timer);
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    client.on('error', fail);
    const torrent = client.add(torrentId, { announce: [announce] });
    torrent.on('error', fail);
    torrent.on('warning', (error) => say('warning: ' + (error && error.message ? error.message : error)));
    torrent.on('trackerAnnounce', () => say('tracker answered an announce'));
    torrent.on('metadata', () => say('metadata: ' + torrent.length + ' bytes'));
    torrent.on('wire', (wire, addr) => {
      wires.push(wire.type + ' ' + (addr || wire.remoteAddress || ''));
      say('wire ' + wire.type + ' ' + (addr || wire.remoteAddress || ''));
    });
    torrent.on('done', async () => {
      try {
        say('done');
        const file = torrent.files[0];
        const bytes = await file.arrayBuffer();
        const digest = await crypto.subtle.digest('SHA-256', bytes);
        clearTimeout(timer);
        resolve({
          sha256: hex(digest),
          bytes: bytes.byteLength,
          name: file.name,
          files: torrent.files.length,
          announce: [...new Set(torrent.announce)],
          wires: wires.slice(),
          durationMs: Math.round(performance.now() - started),
        });
      } catch (error) {
        fail(error);
      }
    });
  });
};
window.wtReady = true;
say('ready');
</script>
</body>
</html>
`;

export interface PageServer {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** The page that defines window.wtLeech. */
  readonly pageUrl: string;
  /** Serves `bytes` at `path` from now on; returns its absolute URL. */
  addFile(path: string, bytes: Uint8Array, contentType: string): string;
  close(): Promise<void>;
}

/** A tiny HTTP server on 127.0.0.1 for the page, the bundle and test files; closed when `scope` ends. */
export async function startPageServer(scope: CleanupContext): Promise<PageServer> {
  const bundle = await readFile(webTorrentBundlePath());
  const files = new Map<string, { bytes: Uint8Array; type: string }>([
    ['/', { bytes: Buffer.from(PAGE_HTML), type: 'text/html; charset=utf-8' }],
    ['/webtorrent.min.js', { bytes: bundle, type: 'text/javascript; charset=utf-8' }],
  ]);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const file = req.method === 'GET' || req.method === 'HEAD' ? files.get(path) : undefined;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.bytes.byteLength, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : file.bytes);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('page server has no address');
  const origin = `http://127.0.0.1:${address.port}`;

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      const done = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      server.closeAllConnections();
      await raceTimeout(done, 5000);
    })();
    return closed;
  };
  scope.after(close);

  return {
    origin,
    pageUrl: `${origin}/`,
    addFile(path, bytes, contentType) {
      if (!path.startsWith('/')) throw new Error(`path must start with "/": ${path}`);
      files.set(path, { bytes, type: contentType });
      return `${origin}${path}`;
    },
    close,
  };
}

export interface BrowserLeechOptions {
  /** URL of the .torrent (served by the page server), or ... */
  torrentUrl?: string;
  /** ... a magnet URI. */
  magnet?: string;
  /** The ws:// tracker: the only one the page announces to. */
  announce: string;
  /** Bound for the whole download, in the page and here. */
  timeoutMs: number;
}

export interface BrowserLeechResult {
  sha256: string;
  bytes: number;
  name: string;
  files: number;
  announce: string[];
  wires: string[];
  /** From the page's start of the download to 'done' and the hash. */
  durationMs: number;
}

/** Opens the page, leeches in it, and returns what the page received (bounded). */
export async function leechInBrowser(session: ChromiumSession, server: PageServer, options: BrowserLeechOptions): Promise<BrowserLeechResult> {
  if (!options.torrentUrl && !options.magnet) throw new Error('leechInBrowser needs torrentUrl or magnet');
  await session.page.goto(server.pageUrl, { timeout: 15_000, waitUntil: 'load' });
  await session.page.waitForFunction('window.wtReady === true', undefined, { timeout: 15_000 }).catch((error: Error) => {
    throw new Error(session.describe(`the page did not load WebTorrent's bundle: ${error.message}`));
  });
  const run = session.page.evaluate(
    (arg) => (globalThis as unknown as { wtLeech(a: typeof arg): Promise<BrowserLeechResult> }).wtLeech(arg),
    { torrentUrl: options.torrentUrl, magnet: options.magnet, announce: options.announce, timeoutMs: options.timeoutMs },
  );
  // The page has its own timer; this one guards against a page that stops answering.
  const result = await raceTimeout(
    run.then(
      (value) => ({ value }),
      (error: Error) => ({ error }),
    ),
    options.timeoutMs + 5000,
  );
  if (result === null) throw new Error(session.describe(`the browser leecher did not answer within ${options.timeoutMs + 5000} ms`));
  if ('error' in result) throw new Error(session.describe(`the browser leecher failed: ${result.error.message}`));
  return result.value;
}
