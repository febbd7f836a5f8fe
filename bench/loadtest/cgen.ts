/**
 * The C generator (udpgen.c: UDP, HTTP and WebTorrent over WebSocket): compiled with gcc into <project>/.bench/
 * on first use (and whenever the source is newer), run as a child process,
 * its JSON result turned into the same summary as the Node engine's. Its
 * stderr progress lines are passed through; the "#measure-start" /
 * "#measure-end" markers drive the run hooks. The child is killed at the
 * hard-stop deadline if it has not exited by itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LatencyHistogram, summarize, zeroCounters, addCounters, addWsCounters, zeroWsCounters, type WindowCounters, type WsCounters } from './stats.js';
import { DEFAULT_WS, completeSummary, graceMs, modelRecord, requestsPerConnection, type LoadtestConfig, type RunHooks, type RunResult } from './runner.js';
import type { LoadModelOptions } from './model.js';

/** The project root: the nearest ancestor of this file holding package.json and bench/loadtest/udpgen.c. */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'bench', 'loadtest', 'udpgen.c'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error('cannot find the project root (package.json with bench/loadtest/udpgen.c)');
}

/**
 * Compile a C file from bench/loadtest into .bench/<name> unless a binary
 * newer than it and than the header both programs include (ws-frame.h)
 * exists. Returns its path.
 */
export function compileC(name: 'udpgen' | 'echo-server'): string {
  const root = projectRoot();
  const src = path.join(root, 'bench', 'loadtest', `${name}.c`);
  const header = path.join(root, 'bench', 'loadtest', 'ws-frame.h');
  const outDir = path.join(root, '.bench');
  const bin = path.join(outDir, name);
  const newest = Math.max(statSync(src).mtimeMs, statSync(header).mtimeMs);
  if (existsSync(bin) && statSync(bin).mtimeMs >= newest) return bin;
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-pthread', '-o', bin, src, '-lm'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`gcc failed for ${src}:\n${r.stderr || r.error?.message || ''}`);
  return bin;
}

export function modelArgs(m: LoadModelOptions): string[] {
  return [
    `--seed=${m.seed}`,
    `--torrents=${m.torrents}`,
    `--popularity=${m.popularity}`,
    `--zipf-s=${m.zipfExponent}`,
    `--gamma-shape=${m.gammaShape}`,
    `--gamma-scale=${m.gammaScale}`,
    `--scrape-ratio=${m.announcesPerScrape}`,
    `--scrape-hashes=${m.scrapeMaxHashes}`,
    `--seeders=${m.seederShare}`,
    `--numwant=${m.numwant}`,
    `--sources=${m.sources}`,
    `--first-address=${m.firstAddress}`,
    `--ports-per-source=${m.portsPerSource}`,
    `--first-port=${m.firstPort}`,
  ];
}

type CHistogram = { counts: number[]; count: number; sum: number; max: number };

interface CResult {
  threads: number;
  cpuSeconds: number;
  measuredSeconds: number;
  counters: WindowCounters;
  histogram: CHistogram;
  errorMessages: Record<string, number>;
  /** ws runs only */
  ws?: { counters: WsCounters; signalling: CHistogram };
}

/** udpgen's arguments for the protocol-specific part of a run. */
function protocolArgs(cfg: LoadtestConfig): string[] {
  if (cfg.protocol === 'http') {
    return [
      '--protocol=http',
      `--connections=${cfg.sockets}`,
      `--close=${cfg.connectionPerRequest ? 1 : 0}`,
      `--requests-per-connection=${requestsPerConnection(cfg)}`,
      `--announce-path=${cfg.announcePath}`,
      `--scrape-path=${cfg.scrapePath}`,
    ];
  }
  if (cfg.protocol === 'ws') {
    const o = cfg.ws ?? DEFAULT_WS;
    return [
      '--protocol=ws',
      `--connections=${cfg.sockets}`,
      `--window=${cfg.window}`,
      `--ws-path=${o.path}`,
      `--torrents-per-connection=${o.torrentsPerConnection}`,
      `--offers=${o.offers}`,
      `--sdp-min=${o.sdpMinBytes}`,
      `--sdp-max=${o.sdpMaxBytes}`,
      `--interval-ms=${o.intervalMs}`,
      `--answer=${o.answer ? 1 : 0}`,
    ];
  }
  return [`--sockets=${cfg.sockets}`, `--window=${cfg.window}`];
}

/** Seconds a ws run may spend opening its connections before the clock starts (udpgen's WS_HANDSHAKE_MS, plus slack). */
const WS_OPEN_SECONDS = 12;

export async function runCGenerator(cfg: LoadtestConfig, hooks: RunHooks): Promise<RunResult> {
  if (cfg.host.includes(':')) throw new Error('the C generator speaks IPv4 only');
  const bin = compileC('udpgen');
  const args = [
    `--target=${cfg.host}:${cfg.port}`,
    `--duration=${cfg.durationSeconds}`,
    `--warmup=${cfg.warmupSeconds}`,
    ...protocolArgs(cfg),
    `--threads=${Math.max(1, cfg.workers)}`,
    `--timeout-ms=${cfg.timeoutMs}`,
    `--reconnect-after-ms=${cfg.reconnectAfterMs}`,
    `--max-failures=${cfg.maxFailures}`,
    `--progress=${cfg.progress ? 1 : 0}`,
    ...modelArgs(cfg.model),
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderrTail = '';
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    partial += d;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line === '#measure-start') hooks.onMeasureStart?.();
      else if (line === '#measure-end') hooks.onMeasureEnd?.();
      else {
        if (cfg.progress) process.stderr.write(line + '\n');
        stderrTail = (stderrTail + line + '\n').slice(-2000);
      }
    }
  });
  const deadlineMs = (cfg.warmupSeconds + cfg.durationSeconds + (cfg.protocol === 'ws' ? WS_OPEN_SECONDS : 0)) * 1000 + graceMs(cfg) + 2000;
  let killed = false;
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  let r: CResult | undefined;
  if (code === 0) {
    try {
      r = JSON.parse(stdout) as CResult;
    } catch {
      r = undefined;
    }
  }
  if (!r) {
    throw new Error(`udpgen ${killed ? 'hung and was killed' : `exited with ${code}`}: ${stderrTail.trim()}`);
  }
  const counters = addCounters(zeroCounters(), r.counters);
  const histogram = new LatencyHistogram();
  histogram.merge(r.histogram);
  const summary = summarize({
    protocol: cfg.protocol,
    engine: 'c',
    target: `${cfg.host}:${cfg.port}`,
    seed: cfg.model.seed,
    workers: r.threads,
    sockets: cfg.sockets,
    window: cfg.protocol === 'http' ? 1 : cfg.window,
    warmupSeconds: cfg.warmupSeconds,
    durationSeconds: cfg.durationSeconds,
    measuredSeconds: r.measuredSeconds,
    counters,
    histogram,
    truncated: false,
    model: modelRecord(cfg.model),
    label: cfg.label,
    generatorCpuSeconds: r.cpuSeconds,
  });
  const signalling = new LatencyHistogram();
  if (r.ws) signalling.merge(r.ws.signalling);
  completeSummary(summary, cfg, { counters: addWsCounters(zeroWsCounters(), r.ws?.counters ?? {}), signalling, measuredSeconds: r.measuredSeconds });
  return { summary, errorMessages: r.errorMessages };
}
