/** What every long ingest call (many pages, batches or polls in one activity call) sets up first. */
import { setMaxListeners } from 'node:events';
import type { Context } from '@temporalio/activity';

export interface LongCall {
  /** Aborted when the call is cancelled (pause, stop): requests in flight listen on its signal. */
  stop: AbortController;
  /** Stops the heartbeats and unhooks the cancellation: call it in a `finally`. */
  finish(): void;
}

/**
 * Heartbeats every second with `details()`, and ties `stop` to the call's
 * cancellation. Temporal delivers a cancellation only in a heartbeat's reply,
 * so a call that heartbeats only per page would hear of a pause a page late.
 * `listeners`: how many requests may wait on the signal at once (Node warns
 * past 10).
 */
export function startLongCall(ctx: Context, details: () => unknown, listeners = 10): LongCall {
  const stop = new AbortController();
  if (listeners > 10) setMaxListeners(listeners, stop.signal);
  const onCancel = () => stop.abort();
  ctx.cancellationSignal.addEventListener('abort', onCancel);
  const beat = setInterval(() => ctx.heartbeat(details()), 1_000);
  return {
    stop,
    finish() {
      clearInterval(beat);
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
    },
  };
}
