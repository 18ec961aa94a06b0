/**
 * The activities the ingestion-job workflow calls, each group with the
 * timeouts, heartbeats and cancellation its calls need. Changing any option
 * here changes the commands the workflow records: it ships as a new worker
 * version (docs/upgrades.md), and the recorded histories must still replay.
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { ActivityOptions, RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  nonRetryableErrorTypes: ['NonRecoverableIngestionError'],
};

// Short activities: one page, one scan, one transaction (a 20,000-file flush
// takes 0.73 s at N=1,000,000). A task that a frozen or dead worker took is
// retried elsewhere only when this passes: it bounds what such a worker costs
// the job per task it holds, so keep it short.
export const { registerJob, startJob, setJobStatus, getBufferSnapshot, scanS3Page, flushBuffer } =
  proxyActivities<Activities>({
    startToCloseTimeout: '10s',
    retry,
  });
/** A directory walk may take long on a huge tree; it heartbeats per batch. */
export const { scanFsDirectory } = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '30s',
  retry,
});

/**
 * A long ingest call (an S3 scan, an SQS receive period, a look-up of listed
 * objects) runs for `periodMs` at most and heartbeats every second: a dead
 * worker is noticed within seconds and, with a short retry cap, the input is
 * read again soon after; pause and stop reach it within about 4 s (the SDK
 * sends heartbeats at 0.8 of the timeout).
 */
function longIngestCall(periodMs: number): ActivityOptions {
  return {
    startToCloseTimeout: periodMs + 120_000,
    heartbeatTimeout: '5s',
    // Wait for the call to commit its last page or batch before moving on.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...retry, maximumInterval: '5s' },
  };
}

/** An S3 scan call lists many pages (continuation tokens, one StartAfter per call): a few history events per call, not per page. */
export const S3_SCAN_PERIOD_MS = 60_000;
export const { scanS3, recordS3ObjectList } = proxyActivities<Activities>(longIngestCall(S3_SCAN_PERIOD_MS));

/** An SQS receive call runs this long at most, so history grows by a few events a minute. */
export const SQS_RECEIVE_PERIOD_MS = 60_000;
export const { receiveSqsMessages } = proxyActivities<Activities>(longIngestCall(SQS_RECEIVE_PERIOD_MS));

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
