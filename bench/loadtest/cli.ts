/**
 * `loadtest` command line. Wire it as `tracker loadtest ...` with
 * `runLoadtestCli(argv)` (argv without the command name), or run it directly:
 *   node dist/bench/loadtest/cli.js udp --target 127.0.0.1:6969 --duration 10
 *   node dist/bench/loadtest/cli.js ws --target 127.0.0.1:6969 --connections 200
 * Exit codes: 0 = a run with replies, 1 = a run without replies, a hard stop
 * or a failure, 2 = usage error.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { LoadModel } from './model.js';
import { USAGE, UsageError, parseArgv, parseModel, parseRunArgs } from './options.js';
import { runLoadtest } from './runner.js';
import { formatSummary } from './stats.js';

function log(s: string): void {
  process.stdout.write(s + '\n');
}

async function whitelist(argv: readonly string[]): Promise<number> {
  const { positional, opts } = parseArgv(argv, new Set());
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]}`);
  for (const k of opts.keys()) if (!['seed', 'torrents', 'out'].includes(k)) throw new UsageError(`unknown option --${k}`);
  const out = opts.get('out');
  opts.delete('out');
  const text = new LoadModel(parseModel(opts)).whitelist();
  if (typeof out === 'string') writeFileSync(out, text);
  else process.stdout.write(text);
  return 0;
}

async function echo(argv: readonly string[]): Promise<number> {
  const { runEchoServer } = await import('./echo-server.js');
  return runEchoServer(argv);
}

export async function runLoadtestCli(argv: string[]): Promise<number> {
  try {
    const cmd = argv[0];
    if (cmd === undefined || cmd === 'help' || argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === 'whitelist') return await whitelist(argv.slice(1));
    if (cmd === 'echo') return await echo(argv.slice(1));
    const { config, json } = parseRunArgs(argv);
    const { summary, errorMessages } = await runLoadtest(config);
    log(formatSummary(summary));
    const errs = Object.entries(errorMessages);
    if (errs.length > 0) log(`  error replies  ${errs.map(([k, v]) => `${JSON.stringify(k)} x${v}`).join(', ')}`);
    if (json !== undefined) {
      writeFileSync(json, JSON.stringify({ ...summary, errorMessages, finishedAt: new Date().toISOString() }, null, 2) + '\n');
    }
    return summary.replies > 0 && !summary.truncated ? 0 : 1;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`loadtest: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`loadtest: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

// Run directly: node dist/bench/loadtest/cli.js ...
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runLoadtestCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`loadtest: ${String(e)}\n`);
      process.exit(1);
    },
  );
}
