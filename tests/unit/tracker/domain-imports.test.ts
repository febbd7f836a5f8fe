/**
 * The domain model (lib/tracker/) stands alone: codecs (lib/protocol) and
 * transports (lib/transport) import it, and it imports neither, nor
 * anything else outside itself, so hooks, codecs and transports can all
 * build on it without cycles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../support/tracker-process.js';

const DIR = join(REPO_ROOT, 'lib', 'tracker');

/** Every module specifier a source file imports or re-exports. */
function specifiers(source: string): string[] {
  return [...source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/gm), ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
}

test('lib/tracker imports only its own modules', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5, 'the domain modules are there');
  for (const file of files) {
    for (const spec of specifiers(readFileSync(join(DIR, file), 'utf8'))) {
      assert.match(spec, /^\.\/[\w-]+\.js$/, `lib/tracker/${file} imports ${spec}`);
    }
  }
});

test('the check sees imports (positive control)', () => {
  assert.deepEqual(specifiers("import type { X } from '../protocol/udp/server.js';\nexport { Y } from './y.js';\nconst m = await import('node:fs');"), [
    '../protocol/udp/server.js',
    './y.js',
    'node:fs',
  ]);
});
