/**
 * Frontends parse and render; every request reaches the swarm through the
 * request pipeline (services/edge/pipeline/), which runs the hooks. So no
 * frontend module imports the router or the access list: a frontend that
 * did could skip the hooks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../../support/tracker-process.js';

const EDGE = join(REPO_ROOT, 'services', 'edge');
const FRONTEND_FILES = [join(EDGE, 'frontends.ts'), ...['udp', 'http', 'ws'].flatMap((d) => readdirSync(join(EDGE, d)).filter((f) => f.endsWith('.ts')).map((f) => join(EDGE, d, f)))];
const FORBIDDEN = /(^|\/)(router|access-list|slot-destinations|destination-queue)\.js$/;

/** Every module specifier a source file imports or re-exports. */
function specifiers(source: string): string[] {
  return [...source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/gm), ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
}

test('no frontend imports the router or the access list; each takes the pipeline', () => {
  assert.ok(FRONTEND_FILES.length >= 6, 'the frontend modules are there');
  for (const file of FRONTEND_FILES) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      assert.doesNotMatch(spec, FORBIDDEN, `${relative(REPO_ROOT, file)} imports ${spec}`);
    }
  }
  for (const name of ['udp/udp-frontend.ts', 'http/http-frontend.ts', 'ws/ws-frontend.ts', 'frontends.ts']) {
    assert.ok(specifiers(readFileSync(join(EDGE, name), 'utf8')).some((s) => s.endsWith('pipeline/pipeline.js')), `${name} uses the pipeline`);
  }
});

test('the check sees a forbidden import (positive control)', () => {
  const found = specifiers("import type { SwarmRouter } from '../router.js';\nimport { AccessList } from '../access-list.js';").filter((s) => FORBIDDEN.test(s));
  assert.deepEqual(found, ['../router.js', '../access-list.js']);
});
