/**
 * Test-only pacing (CLP_EXECUTOR_THROTTLE_BYTES_PER_SEC): slows reading an
 * input to a steady rate, so a test can kill an executor while it is
 * demonstrably in the middle of writing an archive.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function* throttled(
  chunks: AsyncIterable<Buffer>,
  bytesPerSec: number | undefined,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  if (!bytesPerSec) {
    yield* chunks;
    return;
  }
  const started = Date.now();
  let sent = 0;
  for await (const chunk of chunks) {
    yield chunk;
    sent += chunk.length;
    // Wait until the clock catches up with the bytes already passed on.
    const due = started + (sent / bytesPerSec) * 1000 - Date.now();
    if (due > 0) await sleep(due, undefined, { signal });
  }
}
