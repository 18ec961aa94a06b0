/**
 * The ingestion-job workflow: one long-running execution per ingestion job.
 *
 * Temporal's history is the journal of control (what the job decided to do
 * next); the CLP DB is the record of data (which files exist and where each
 * one is). Three loops run side by side:
 *   ingest     - scan / receive a page or batch, recorded by an activity in one transaction
 *   flush      - submit the buffer as a compression job (size, hard timeout, stop)
 *   completion - await submitted compression jobs and record each file's fate
 * Every activity returns the DB's view of the buffer, so the workflow's state
 * is always derived from the record and never drifts from it after a crash.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
  patched,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import { isOneTime, jobSource } from '../config/job-source';
import type { ScanResult } from '../activities/s3-scan';
import { REQUEST_TARGET, refusal, type ControlRequest } from '../lifecycle';
import type { BufferSnapshot } from '../store/ingestion-store';
import {
  currentDetails,
  oneLine,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  SA,
  statusQuery,
  stopSignal,
  stopUpdate,
  type CarriedState,
  type IngestionJobInput,
  type JobProgress,
  type NewJobInput,
  type WorkflowJobStatus,
} from './messages';

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
const { registerJob, startJob, setJobStatus, getBufferSnapshot, scanS3Page, flushBuffer } =
  proxyActivities<Activities>({
    startToCloseTimeout: '10s',
    retry,
  });
/** A directory walk may take long on a huge tree; it heartbeats per batch. */
const { scanFsDirectory } = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '30s',
  retry,
});

/**
 * An S3 scan call lists many pages (continuation tokens, one StartAfter per
 * call): a few history events per call, not per page. Heartbeats every second
 * bring pause and stop to it within about 4 s (the SDK sends them at 0.8 of the timeout).
 */
const S3_SCAN_PERIOD_MS = 60_000;
const { scanS3, recordS3ObjectList } = proxyActivities<Activities>({
  startToCloseTimeout: S3_SCAN_PERIOD_MS + 120_000,
  heartbeatTimeout: '5s',
  // Wait for the call to commit its last page before moving on.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...retry, maximumInterval: '5s' },
});

/** An SQS receive call runs this long at most, so history grows by a few events a minute. */
const SQS_RECEIVE_PERIOD_MS = 60_000;
const { receiveSqsMessages } = proxyActivities<Activities>({
  startToCloseTimeout: SQS_RECEIVE_PERIOD_MS + 120_000,
  // Heartbeats every second: a dead listener is noticed within seconds and,
  // with a short retry cap, the queue is being drained again soon after.
  heartbeatTimeout: '5s',
  // Wait for the activity to persist its last batch before moving on.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...retry, maximumInterval: '5s' },
});

/**
 * Waits poll for up to AWAIT_MAX_WAIT_MS and heartbeat every 5 s between
 * polls: a wait held by a frozen or dead worker moves on after 10 s.
 */
const AWAIT_MAX_WAIT_MS = 60_000;
const { awaitCompressionJobs } = proxyActivities<Activities>({
  startToCloseTimeout: AWAIT_MAX_WAIT_MS + 60_000,
  heartbeatTimeout: '10s',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry,
});

/**
 * A workflow started with a job kind and config (from any Temporal client)
 * records its job first, once, and goes on as one started with the job's id.
 */
async function registered(input: NewJobInput): Promise<IngestionJobInput> {
  const { workflowId, firstExecutionRunId } = workflowInfo();
  let r;
  try {
    r = await registerJob.executeWithOptions({ summary: oneLine(`record the ${String(input.kind)} job`) }, [
      { workflowId, firstRunId: firstExecutionRunId },
      input,
    ]);
  } catch (err) {
    const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
    const message = cause instanceof Error ? cause.message : String(cause);
    log.error('the job could not be created', { error: message });
    throw ApplicationFailure.nonRetryable(message, 'InvalidIngestionJob');
  }
  log.info('recorded the job', { jobId: r.jobId });
  upsertSearchAttributes([
    { key: SA.jobId, value: r.jobId },
    { key: SA.kind, value: r.job.kind },
    { key: SA.dataset, value: r.job.config.dataset },
    { key: SA.bucket, value: r.bucket },
    { key: SA.status, value: 'requested' },
  ]);
  return { jobId: r.jobId, job: r.job, maxHistoryEvents: input.maxHistoryEvents };
}

export async function ingestionJob(request: IngestionJobInput | NewJobInput): Promise<JobProgress> {
  const input = 'jobId' in request ? request : await registered(request);
  const { jobId, job } = input;
  /** What the job reads (s3://bucket/prefix, a queue's sources, a directory), for the Web UI. */
  const source = jobSource(job);
  /** The S3 scanner's cursor as the last call left it (for the next call's summary). */
  let scanCursor: string | null = null;
  const bufferConfig = job.config.buffer_config;
  let nextFlushSeq: number;
  let completionBackoffMs: number;

  let progress: JobProgress = input.carried?.progress ?? {
    jobId,
    status: 'requested',
    stopRequested: input.drain === true,
    error: null,
    buffer: { files: 0, bytes: 0, oldestTs: null },
    outstandingCompressionJobs: 0,
    filesRecorded: 0,
    messagesIgnored: 0,
    filesSubmitted: 0,
    filesCompressed: 0,
    filesFailed: 0,
    compressionJobsSubmitted: 0,
    listingExhausted: false,
    runs: 0,
  };
  // Answer queries from the first activation on, even while the first activity runs.
  setHandler(statusQuery, () => progress);
  // The status the DB row and search attribute hold; a loop mirrors changes.
  let mirroredStatus: WorkflowJobStatus | null = input.carried ? progress.status : null;
  for (const [update, request] of [
    [pauseUpdate, 'pause'],
    [resumeUpdate, 'resume'],
    [stopUpdate, 'stop'],
  ] as const) {
    setHandler(update, () => control(request), {
      validator: () => {
        const why = refusal(request, jobId, progress.status, progress.stopRequested);
        if (why !== null) throw new Error(why);
      },
    });
  }
  /** A request the job's state allows: a stop drains the job; a pause or resume sets its status. */
  function grant(request: ControlRequest): void {
    if (request === 'stop') progress.stopRequested = true;
    else progress.status = REQUEST_TARGET[request];
  }
  /** An accepted pause or resume returns once the row holds its status; a stop, once the job drains. */
  async function control(request: ControlRequest): Promise<JobProgress> {
    grant(request);
    if (request !== 'stop') {
      const target = REQUEST_TARGET[request];
      await condition(() => mirroredStatus === target || progress.status !== target);
    }
    return { ...progress };
  }

  if (input.carried) {
    ({ progress, nextFlushSeq, completionBackoffMs } = input.carried);
    progress.runs += 1;
    applySnapshot(await getBufferSnapshot(jobId));
  } else {
    const start = await startJob.executeWithOptions({ summary: `start job ${jobId}: recover its buffer` }, [
      jobId,
    ]);
    nextFlushSeq = start.nextFlushSeq;
    completionBackoffMs = 1_000;
    progress.status = start.status === 'requested' ? 'running' : start.status;
    progress.runs = 1;
    applySnapshot(start.snapshot);
    if (start.status === 'finished' || start.status === 'failed') {
      // The record says this job is over (e.g. stopped while no workflow ran).
      log.warn('job already terminal; nothing to do', { jobId, status: start.status });
      return progress;
    }
  }

  // The signals older clients send: the same rules as the Updates; an illegal one is ignored.
  for (const [signal, request] of [
    [pauseSignal, 'pause'],
    [resumeSignal, 'resume'],
    [stopSignal, 'stop'],
  ] as const) {
    setHandler(signal, () => {
      const why = refusal(request, jobId, progress.status, progress.stopRequested);
      if (why === null) grant(request);
      else log.warn(`${request} ignored: ${why}`, { jobId });
    });
  }

  function applySnapshot(s: BufferSnapshot): void {
    progress.buffer = { files: s.files, bytes: s.bytes, oldestTs: s.oldestTs };
    progress.outstandingCompressionJobs = s.outstandingCompressionJobs;
    showDetails();
  }
  /** The Web UI's current details: progress as of the last activity (user metadata; no command). */
  function showDetails(): void {
    setCurrentDetails(currentDetails(jobId, job.kind, source, job.config.dataset, progress));
  }

  const continueAsNewDue = () =>
    workflowInfo().continueAsNewSuggested ||
    (input.maxHistoryEvents !== undefined && workflowInfo().historyLength >= input.maxHistoryEvents);
  /** Ingestion has ended for good (stop, failure, or a one-time job's input read to its end); what is buffered still gets flushed. */
  const ingestDone = () =>
    progress.stopRequested || progress.status === 'failed' || progress.inputEnded === true;
  const oneTime = isOneTime(job);
  /** A one-time job has read all its input: it drains (flush, await compression) and finishes, as on stop. */
  function endOfInput(): void {
    if (patched('one-time-jobs')) {
      log.info('one-time job read all its input; draining', { jobId });
      progress.inputEnded = true;
    }
  }
  let ingestLoopExited = false;
  let flushLoopExited = false;

  async function ingestLoop(): Promise<void> {
    try {
      while (!ingestDone() && !continueAsNewDue()) {
        if (progress.status === 'paused') {
          await condition(() => progress.status !== 'paused' || ingestDone() || continueAsNewDue());
          continue;
        }
        // Back-pressure: don't outrun compression by more than the buffer allows.
        await condition(
          () =>
            progress.buffer.bytes < bufferConfig.flush_threshold_bytes || ingestDone() || continueAsNewDue(),
        );
        if (ingestDone() || continueAsNewDue()) break;
        try {
          const idle = await ingestOnce();
          if (idle) {
            await condition(
              () => ingestDone() || continueAsNewDue() || progress.status === 'paused',
              scanningIntervalMs,
            );
          }
        } catch (err) {
          if (isCancellation(err)) {
            // A cancelled receive recorded files whose snapshot it never returned.
            applySnapshot(await getBufferSnapshot(jobId));
            continue;
          }
          fail(err);
        }
      }
    } finally {
      ingestLoopExited = true;
    }
  }

  const scanningIntervalMs =
    job.kind === 'sqs_listener' || job.kind === 's3_object_list'
      ? 0
      : job.config.scanning_interval_sec * 1000;
  /** Where an fs pass stopped for a flush (null: the next pass starts at the beginning). */
  let fsResumeAfter: string[] | null = input.carried?.fsResumeAfter ?? null;
  /** Files a one-time fs job's current pass found not yet settled (the pass must be repeated). */
  let fsPassUnsettled = input.carried?.fsPassUnsettled ?? 0;

  /** One page, scan or receive period of the job's input; true when there is nothing more for now. */
  async function ingestOnce(): Promise<boolean> {
    switch (job.kind) {
      case 's3_scanner': {
        if (patched('s3-scan-many-pages-per-call')) {
          const r = await untilPausedOrDone((): Promise<ScanResult> =>
            scanS3.executeWithOptions(
              { summary: oneLine(scanCursor ? `pages after ${scanCursor}` : `pages of ${source}`) },
              [jobId, job.config, S3_SCAN_PERIOD_MS],
            ),
          );
          if (r.cursor !== undefined) scanCursor = r.cursor;
          progress.filesRecorded += r.recorded;
          progress.listingExhausted = r.exhausted;
          applySnapshot(r.snapshot);
          if (oneTime && r.complete) endOfInput();
          return r.exhausted;
        }
        const r = await scanS3Page(jobId, job.config);
        progress.filesRecorded += r.recorded;
        progress.listingExhausted = r.exhausted;
        applySnapshot(r.snapshot);
        return r.exhausted;
      }
      case 'fs': {
        if (patched('fs-scan-stops-for-flush')) {
          // A pass stops where a flush is due and the next call goes on from there at once.
          const r = await scanFsDirectory.executeWithOptions(
            {
              summary: oneLine(
                fsResumeAfter ? `walk ${source} after ${fsResumeAfter.join('/')}` : `walk ${source}`,
              ),
            },
            [jobId, job.config, { resumeAfter: fsResumeAfter }],
          );
          progress.filesRecorded += r.recorded;
          applySnapshot(r.snapshot);
          fsResumeAfter = r.resumeAfter ?? null;
          if (oneTime) {
            // The input ends with a whole pass that found every file settled.
            fsPassUnsettled += r.unsettled;
            if (fsResumeAfter === null) {
              if (fsPassUnsettled === 0) endOfInput();
              fsPassUnsettled = 0;
            }
          }
          return fsResumeAfter === null;
        }
        const r = await scanFsDirectory(jobId, job.config);
        progress.filesRecorded += r.recorded;
        applySnapshot(r.snapshot);
        return true;
      }
      case 'sqs_listener': {
        const r = await untilPausedOrDone(() =>
          receiveSqsMessages.executeWithOptions(
            {
              summary: oneLine(
                `receive from ${job.config.queue_url} for up to ${SQS_RECEIVE_PERIOD_MS / 1000} s`,
              ),
            },
            [jobId, job.config, SQS_RECEIVE_PERIOD_MS],
          ),
        );
        progress.filesRecorded += r.recorded;
        progress.messagesIgnored += r.ignored;
        applySnapshot(r.snapshot);
        return false;
      }
      case 's3_object_list': {
        // The list is read from the job's row, not passed: it would go into history per call.
        const r = await untilPausedOrDone(() =>
          recordS3ObjectList.executeWithOptions(
            { summary: `look up listed objects after ${progress.filesRecorded}` },
            [jobId, S3_SCAN_PERIOD_MS],
          ),
        );
        progress.filesRecorded += r.recorded + r.failed;
        progress.filesFailed += r.failed;
        progress.listingExhausted = r.exhausted;
        applySnapshot(r.snapshot);
        if (r.exhausted) endOfInput();
        return false;
      }
    }
  }

  /**
   * Runs a long ingest call until it ends, or cancels it when the job is
   * paused, stopped or continuing-as-new; the activity persists what it has
   * before it acknowledges the cancellation.
   */
  async function untilPausedOrDone<T>(call: () => Promise<T>): Promise<T> {
    const scope = new CancellationScope();
    let ended = false;
    const running = scope.run(call).finally(() => (ended = true));
    await condition(() => ended || progress.status === 'paused' || ingestDone() || continueAsNewDue());
    if (!ended) scope.cancel();
    return running;
  }

  function fail(err: unknown): void {
    const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
    const message = cause instanceof Error ? cause.message : String(cause);
    log.error('ingestion job failed', { jobId, error: message });
    progress.error = message;
    progress.status = 'failed';
  }

  /** When the buffer must be flushed: size threshold, hard timeout, or ingestion over. */
  function flushDueIn(): number | null {
    if (progress.buffer.files === 0) return null;
    if (progress.buffer.bytes >= bufferConfig.flush_threshold_bytes) return 0;
    if (ingestDone() && ingestLoopExited) return 0;
    const deadline = (progress.buffer.oldestTs ?? Date.now()) + bufferConfig.timeout_sec * 1000;
    return Math.max(0, deadline - Date.now());
  }

  /** The job as a flush needs it: an object list's URLs (if its input carried them) stay out of every flush's history events. */
  const compactJob = job.kind === 's3_object_list' ? { ...job, config: { ...job.config, urls: [] } } : job;

  async function flushLoop(): Promise<void> {
    try {
      for (;;) {
        const due = flushDueIn();
        if (due === null) {
          if (ingestDone() && ingestLoopExited) return;
          if (continueAsNewDue()) return;
          await condition(
            () => flushDueIn() !== null || (ingestDone() && ingestLoopExited) || continueAsNewDue(),
          );
          continue;
        }
        if (due > 0) {
          // Woken early by a size crossing, stop or continue-as-new; else at the deadline.
          const woken = await condition(() => flushDueIn() === 0 || continueAsNewDue(), due);
          if (woken && continueAsNewDue() && flushDueIn() !== 0) return;
          continue;
        }
        const result = await flushBuffer.executeWithOptions(
          {
            summary: `flush ${nextFlushSeq}: ${progress.buffer.files} files, ${progress.buffer.bytes} bytes`,
          },
          [jobId, compactJob, nextFlushSeq],
        );
        nextFlushSeq += 1;
        if (result.compressionJobId !== null) {
          progress.compressionJobsSubmitted += 1;
          progress.filesSubmitted += result.numFiles;
          log.info('flushed buffer', {
            jobId,
            compressionJobId: result.compressionJobId,
            files: result.numFiles,
          });
        }
        applySnapshot(result.snapshot);
      }
    } finally {
      flushLoopExited = true;
    }
  }

  async function completionLoop(): Promise<void> {
    for (;;) {
      const drained = () => ingestLoopExited && flushLoopExited && ingestDone();
      await condition(() => progress.outstandingCompressionJobs > 0 || drained() || continueAsNewDue());
      if (progress.outstandingCompressionJobs === 0) return;
      if (continueAsNewDue()) return;
      // Continue-as-new need not wait for a poll to end: the DB is the record,
      // and the next run polls again from what it holds.
      const scope = new CancellationScope();
      let pollEnded = false;
      const poll = scope
        .run(() =>
          awaitCompressionJobs.executeWithOptions(
            { summary: `await ${progress.outstandingCompressionJobs} compression job(s)` },
            [jobId, completionBackoffMs, AWAIT_MAX_WAIT_MS],
          ),
        )
        .finally(() => (pollEnded = true));
      await condition(() => pollEnded || continueAsNewDue());
      if (!pollEnded) scope.cancel();
      try {
        const result = await poll;
        completionBackoffMs = result.nextBackoffMs;
        for (const f of result.finalized) {
          if (f.status === 'compressed') progress.filesCompressed += f.numFiles;
          else progress.filesFailed += f.numFiles;
        }
        applySnapshot(result.snapshot);
      } catch (err) {
        if (isCancellation(err)) return;
        throw err;
      }
    }
  }

  async function statusMirrorLoop(done: () => boolean): Promise<void> {
    for (;;) {
      await condition(() => progress.status !== mirroredStatus || done());
      if (progress.status === mirroredStatus) return;
      const target = progress.status;
      const actual = await setJobStatus.executeWithOptions({ summary: `job row: ${target}` }, [
        jobId,
        target,
        target === 'failed' ? (progress.error ?? undefined) : undefined,
      ]);
      if (actual !== target) log.warn('job row did not take status', { jobId, target, actual });
      upsertSearchAttributes([{ key: SA.status, value: target }]);
      mirroredStatus = target;
      showDetails();
    }
  }

  let loopsDone = false;
  const mirror = statusMirrorLoop(() => loopsDone);
  await Promise.all([ingestLoop(), flushLoop(), completionLoop()]);

  // The loops end early only to continue-as-new; otherwise all work is done.
  const drained = ingestDone() && progress.buffer.files === 0 && progress.outstandingCompressionJobs === 0;
  if (drained && progress.status !== 'failed') progress.status = 'finished';
  loopsDone = true;
  await mirror;
  if (!drained) {
    await condition(allHandlersFinished);
    const carried: CarriedState = {
      progress,
      nextFlushSeq,
      completionBackoffMs,
      ...(fsResumeAfter ? { fsResumeAfter } : {}),
      ...(fsPassUnsettled ? { fsPassUnsettled } : {}),
    };
    return await continueAsNew<typeof ingestionJob>({ ...input, carried, drain: false });
  }
  return progress;
}
