/** Waiting in tests and benchmarks: on a condition where there is one, for a time only where time is the point. */

/** Resolves after `ms`: for pacing load and for faults at random moments, never to let something happen. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns a truthy value and returns that; an error
 * counts as not yet (the last one is in the timeout's message).
 */
export async function eventually<T>(
  check: () => Promise<T>,
  timeoutMs = 60_000,
  what = 'condition',
  everyMs = 200,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}
