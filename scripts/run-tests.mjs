#!/usr/bin/env node
// Runs the compiled test suites with Node's own test runner.
// Usage: node scripts/run-tests.mjs [unit|integration|chart|e2e ...]  (default: all)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'chart', 'e2e'];
const dirs = suites.map((s) => `dist/tests/${s}`).filter((d) => existsSync(d));
if (dirs.length === 0) {
  console.error('No compiled tests found under dist/tests. Run `npm run build` first.');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-timeout=300000', ...dirs], { stdio: 'inherit' });
process.exit(result.status ?? 1);
