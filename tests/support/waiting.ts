/**
 * Waiting in tests without betting on timing.
 *
 * - `eventually` polls for something that must happen, with a generous
 *   deadline: it returns as soon as it happens, so a busy machine only makes
 *   it slower, never wrong.
 * - `withinTurn` checks that something happens before the event loop turns
 *   (answered from memory, not after I/O or a timer): no clock involved.
 * - A check that something does NOT happen cannot be awaited. Give it a
 *   positive control instead: in the same test, the same setup with the
 *   trigger does produce the effect, and is observed in an order that
 *   guarantees the unwanted effect would have been seen first (a later
 *   datagram from the same socket, a twin started after the subject, the
 *   next change event).
 */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `check` every `everyMs` until it returns something other than
 * undefined or false, and returns that; rejects after `ms` naming `what`
 * (and the last error `check` threw, if it threw).
 */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, ms: number, what: string, everyMs = 50): Promise<T> {
  const until = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= until) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

/** Rejects after `ms` with a message naming what was awaited. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The value of `promise` if it settles before the event loop's next turn
 * (microtasks only: no I/O, no timer); otherwise rejects naming `what`.
 */
export function withinTurn<T>(promise: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    promise.then(
      (value) => {
        settled = true;
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        reject(error);
      },
    );
    setImmediate(() => {
      if (!settled) reject(new Error(`${what}: not settled within the event-loop turn (it waited for I/O or a timer)`));
    });
  });
}
