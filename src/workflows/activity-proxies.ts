/**
 * The activities the ingestion-job workflow calls, each group with the
 * timeouts, heartbeats and cancellation its calls need; each job kind's
 * reader proxies its own (src/sources/<kind>/workflow.ts) with the options
 * defined here. Changing any option changes the commands the workflow
 * records: it ships as a new worker version (docs/upgrades.md), and the
 * recorded histories must still replay.
 */
import { ActivityCancellationType, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ActivityOptions, RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';

export const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  nonRetryableErrorTypes: ['NonRecoverableIngestionError'],
};

/**
 * Short activities: one page, one scan, one transaction (a flush of the
 * most files a compression job takes is one transaction too, well inside
 * this). A task that a frozen or dead worker took is retried elsewhere only
 * when this passes: it bounds what such a worker costs the job per task it
 * holds, so keep it short.
 */
export const shortCall: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry,
};
export const { registerJob, startJob, setJobStatus, getBufferSnapshot, flushBuffer } =
  proxyActivities<Activities>(shortCall);

/**
 * The job's start as a local activity: the worker runs it inside the run's
 * first workflow task (a marker in the history), so the first read is
 * scheduled by that task, without a round trip through an activity task and
 * a second workflow task (about 60 ms of every job's start). A worker that
 * dies during it loses the workflow task, and the next worker runs it again;
 * startJob is idempotent.
 */
export const { startJob: startJobLocally } = proxyLocalActivities<Activities>(shortCall);

/**
 * A long ingest call (an S3 scan, an SQS receive period, a look-up of listed
 * objects) runs for `periodMs` at most and heartbeats every second: a dead
 * worker is noticed within seconds and, with a short retry cap, the input is
 * read again soon after; pause and stop reach it within about 4 s (the SDK
 * sends heartbeats at 0.8 of the timeout).
 */
export function longIngestCall(periodMs: number): ActivityOptions {
  return {
    startToCloseTimeout: periodMs + 120_000,
    heartbeatTimeout: '5s',
    // Wait for the call to commit its last page or batch before moving on.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...retry, maximumInterval: '5s' },
  };
}

/**
 * An S3 scan call lists many pages (continuation tokens, one StartAfter per
 * call), and a look-up of listed objects many objects: a few history events
 * per call, not per page.
 */
export const S3_SCAN_PERIOD_MS = 60_000;

/**
 * Waits poll for up to AWAIT_MAX_WAIT_MS and heartbeat every 5 s between
 * polls: a wait held by a frozen or dead worker moves on after 10 s.
 */
export const AWAIT_MAX_WAIT_MS = 60_000;
export const { awaitCompressionJobs } = proxyActivities<Activities>({
  startToCloseTimeout: AWAIT_MAX_WAIT_MS + 60_000,
  heartbeatTimeout: '10s',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry,
});
