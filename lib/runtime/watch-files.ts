/**
 * Tells a reloader when files it read may have changed.
 *
 * It watches the files' directories, not the files: editors replace a file
 * by rename, and a Kubernetes Secret or ConfigMap volume swaps its `..data`
 * symlink to a new directory without touching the visible file names
 * (cert-manager's Secrets update this way). fs.watch can miss events (some
 * file systems, a watch that failed), so a periodic check runs too. Events
 * are debounced: a volume update touches several entries at once.
 *
 * It only calls `onChange`; the caller re-reads and compares contents, so a
 * spurious call costs one read.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { silentLogger, type Logger } from './logger.js';

export interface WatchFilesOptions {
  /** Quiet time after a change event before `onChange`. Default 200 ms. */
  debounceMs?: number;
  /** Periodic `onChange` in case a watch event is missed; 0 disables. Default 15 000 ms. */
  pollIntervalMs?: number;
  /** Use fs.watch; false leaves only the periodic check. Default true. */
  fsWatch?: boolean;
  logger?: Logger;
}

export interface FileWatch {
  close(): void;
}

export function watchFiles(files: readonly string[], onChange: () => void, options: WatchFilesOptions = {}): FileWatch {
  const debounceMs = options.debounceMs ?? 200;
  const pollIntervalMs = options.pollIntervalMs ?? 15_000;
  const logger = options.logger ?? silentLogger;
  const directories = [...new Set(files.map((file) => dirname(resolvePath(file))))];
  const watchers = new Map<string, FSWatcher>();
  let debounce: NodeJS.Timeout | undefined;
  let closed = false;

  const schedule = (): void => {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (!closed) onChange();
    }, debounceMs);
    debounce.unref();
  };

  const startWatcher = (directory: string): void => {
    try {
      const watcher = fsWatch(directory, { persistent: false }, schedule);
      watcher.on('error', (error) => {
        logger.warn('directory watch failed; relying on the periodic check until it can be re-established', { directory, error });
        watcher.close();
        if (watchers.get(directory) === watcher) watchers.delete(directory);
        schedule();
      });
      watchers.set(directory, watcher);
    } catch (error) {
      logger.warn('cannot watch directory; relying on the periodic check', { directory, error });
    }
  };

  const useFsWatch = options.fsWatch ?? true;
  if (useFsWatch) for (const directory of directories) startWatcher(directory);
  const poll =
    pollIntervalMs > 0
      ? setInterval(() => {
          if (useFsWatch) for (const directory of directories) if (!watchers.has(directory)) startWatcher(directory);
          onChange();
        }, pollIntervalMs)
      : undefined;
  poll?.unref();

  return {
    close() {
      closed = true;
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
      if (debounce) clearTimeout(debounce);
      if (poll) clearInterval(poll);
    },
  };
}
