/**
 * Loading one of the project's N-API addons (native/<name>/build/Release/
 * <target>.node, built by `npm run build:native`): found by walking up from
 * the compiled code (dist/ or the source tree), checked for the ABI version
 * the JS side was written against, loaded once per process. Every failure
 * comes back as a one-line reason for the caller to log or refuse on; no
 * addon is ever required to be present.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AddonSpec {
  /** native/<dir> */
  dir: string;
  /** target_name in binding.gyp */
  target: string;
  /** The abiVersion the addon must export. */
  abi: number;
  /** An environment variable naming a file to load instead (tests, unusual installs). */
  overrideEnv?: string;
}

export type LoadedAddon<T> = { module: T; path: string } | { error: string; path?: string };

const requireHere = createRequire(import.meta.url);

function findAddon(relative: string): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Loads the addon (call once and keep the result: require() caches, the search does not). */
export function loadAddon<T extends { abiVersion: number }>(spec: AddonSpec): LoadedAddon<T> {
  const relative = path.join('native', spec.dir, 'build', 'Release', `${spec.target}.node`);
  if (process.platform !== 'linux') return { error: `native/${spec.dir} works on Linux only, this is ${process.platform}` };
  const override = spec.overrideEnv ? process.env[spec.overrideEnv] : undefined;
  const file = override || findAddon(relative);
  if (!file) return { error: `native/${spec.dir} is not built (${relative}; run npm run build:native)` };
  try {
    const module = requireHere(file) as T;
    if (module.abiVersion !== spec.abi) {
      throw new Error(`unexpected addon (abiVersion ${String(module.abiVersion)}, want ${spec.abi}); rebuild it (npm run build:native)`);
    }
    return { module, path: file };
  } catch (error) {
    // The first line says what failed; require() appends its "Require stack".
    return { error: (error as Error).message.split('\n')[0], path: file };
  }
}
