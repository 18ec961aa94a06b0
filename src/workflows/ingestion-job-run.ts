/**
 * One run of an ingestion job's workflow (continue-as-new starts the next):
 * its message handlers and its four loops, over the state in JobState.
 *
 *   ingest        reads the job's input (its kind's reader), one call at a time
 *   flush         submits the buffer as a compression job (size, hard timeout, ingestion over)
 *   completion    awaits submitted compression jobs and records each file's fate
 *   status mirror copies the job's status to its DB row and search attribute
 *
 * Every activity returns the DB's view of the buffer, so the state is always
 * derived from the record and never drifts from it after a crash.
 * The commands the loops issue, and their order, are in the recorded
 * histories (test/replay), which must keep replaying; a change to them ships as a
 * new worker version, behind patched() only when an unversioned worker would
 * replay the recorded histories across it (docs/upgrades.md).
 */
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  patched,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  AWAIT_MAX_WAIT_MS,
  awaitCompressionJobs,
  flushBuffer,
  getBufferSnapshot,
  setJobStatus,
  startJob,
  startJobLocally,
} from './activity-proxies';
import type { ingestionJob } from './ingestion-job';
import type { IngestContext, KindReader } from '../sources/workflow-half';
import { workflowHalfOf } from '../sources/workflow-kinds';
import { hasFailed, isOver, isPaused, statusOnStart, statusWhenDrained } from '../lifecycle';
import { failureMessage, illegalTransition, JobState } from './run-state';
import { workflowJob } from '../sources/describe';
import { SA, type CarriedState, type IngestionJobInput, type JobProgress } from './messages';

/**
 * Starts `call` in a scope of its own that can be cancelled; `ended()` is
 * true once it settled.
 */
function cancellable<T>(call: () => Promise<T>) {
  const scope = new CancellationScope();
  let ended = false;
  const result = scope.run(call).finally(() => (ended = true));
  return { result, ended: () => ended, cancel: () => scope.cancel() };
}

export class IngestionJobRun extends JobState implements IngestContext {
  private readonly reader: KindReader;

  constructor(input: IngestionJobInput) {
    super(input);
    this.reader = workflowHalfOf(this.job).reader(this, this.job.config, input.carried);
  }

  // ---- The run -----------------------------------------------------------

  async run(): Promise<JobProgress> {
    this.handleQueryAndUpdates();
    const { jobId, progress } = this;
    if (this.input.carried) {
      ({ nextFlushSeq: this.nextFlushSeq, completionBackoffMs: this.completionBackoffMs } =
        this.input.carried);
      progress.runs += 1;
      this.applySnapshot(await getBufferSnapshot(jobId));
    } else {
      const options = { summary: `start job ${jobId}: recover its buffer` };
      const start = patched('start-job-locally')
        ? await startJobLocally.executeWithOptions(options, [jobId])
        : await startJob.executeWithOptions(options, [jobId]);
      this.nextFlushSeq = start.nextFlushSeq;
      this.completionBackoffMs = 1_000;
      progress.status = statusOnStart(start.status);
      progress.runs = 1;
      this.applySnapshot(start.snapshot);
      if (isOver(start.status)) {
        // The record says this job is over (e.g. stopped while no workflow ran).
        log.warn('job already terminal; nothing to do', { jobId, status: start.status });
        return progress;
      }
    }
    this.handleSignals();

    const mirror = this.statusMirrorLoop();
    await Promise.all([this.ingestLoop(), this.flushLoop(), this.completionLoop()]);

    // The loops end early only to continue-as-new; otherwise all work is done.
    const drained =
      this.ingestionOver() && progress.buffer.files === 0 && progress.outstandingCompressionJobs === 0;
    if (drained) progress.status = statusWhenDrained(progress.status);
    this.loopsDone = true;
    await mirror;
    if (!drained) {
      await condition(allHandlersFinished);
      const carried: CarriedState = {
        progress,
        nextFlushSeq: this.nextFlushSeq,
        completionBackoffMs: this.completionBackoffMs,
        ...this.reader.carried(),
      };
      // Each run is pinned to the worker version it started on; the next one starts on the
      // deployment's current version, so a job takes up new workflow code here and only here.
      return await makeContinueAsNewFunc<typeof ingestionJob>({ initialVersioningBehavior: 'AUTO_UPGRADE' })({
        ...this.input,
        carried,
        drain: false,
      });
    }
    return progress;
  }

  // ---- Loops -------------------------------------------------------------

  private async ingestLoop(): Promise<void> {
    const { progress } = this;
    try {
      while (!this.ingestLoopMustExit()) {
        if (isPaused(progress.status)) {
          await condition(() => !isPaused(progress.status) || this.ingestLoopMustExit());
          continue;
        }
        // Back-pressure: don't outrun compression by more than the buffer allows.
        await condition(
          () =>
            progress.buffer.bytes < this.job.config.buffer_config.flush_threshold_bytes ||
            this.ingestLoopMustExit(),
        );
        if (this.ingestLoopMustExit()) break;
        try {
          const idle = await this.reader.readOnce();
          if (idle) {
            await condition(
              () => this.ingestLoopMustExit() || isPaused(progress.status),
              this.scanningIntervalMs,
            );
          }
        } catch (err) {
          if (isCancellation(err)) {
            // A cancelled receive recorded files whose snapshot it never returned.
            this.applySnapshot(await getBufferSnapshot(this.jobId));
            continue;
          }
          this.fail(err);
        }
      }
    } finally {
      this.ingestLoopExited = true;
    }
  }

  /**
   * Runs a long ingest call until it ends, or cancels it when the job is
   * paused, stopped or continuing-as-new; the activity persists what it has
   * before it acknowledges the cancellation.
   */
  async untilPausedOrDone<T>(call: () => Promise<T>): Promise<T> {
    const running = cancellable(call);
    await condition(() => running.ended() || isPaused(this.progress.status) || this.ingestLoopMustExit());
    if (!running.ended()) running.cancel();
    return running.result;
  }

  private async flushLoop(): Promise<void> {
    const { jobId, progress } = this;
    /** The job as a flush needs it: an object list's URLs stay out of every flush's history events. */
    const compactJob = workflowJob(this.job);
    try {
      for (;;) {
        const due = this.flushDueIn();
        if (due === null) {
          if (this.flushLoopMustExit()) return;
          await condition(() => this.flushDueIn() !== null || this.flushLoopMustExit());
          continue;
        }
        if (due > 0) {
          // Woken early by a size crossing, stop or continue-as-new; else at the deadline.
          const woken = await condition(() => this.flushDueIn() === 0 || this.continueAsNewDue(), due);
          if (woken && this.flushLoopMustExit()) return;
          continue;
        }
        const result = await flushBuffer.executeWithOptions(
          {
            summary: `flush ${this.nextFlushSeq}: ${progress.buffer.files} files, ${progress.buffer.bytes} bytes`,
          },
          [jobId, compactJob, this.nextFlushSeq],
        );
        this.nextFlushSeq += 1;
        if (result.compressionJobId !== null) {
          progress.compressionJobsSubmitted += 1;
          progress.filesSubmitted += result.numFiles;
          log.info('flushed buffer', {
            jobId,
            compressionJobId: result.compressionJobId,
            files: result.numFiles,
          });
        }
        this.applySnapshot(result.snapshot);
      }
    } finally {
      this.flushLoopExited = true;
    }
  }

  private async completionLoop(): Promise<void> {
    const { jobId, progress } = this;
    for (;;) {
      await condition(
        () =>
          progress.outstandingCompressionJobs > 0 || this.nothingMoreToSubmit() || this.continueAsNewDue(),
      );
      if (this.completionLoopMustExit()) return;
      // Continue-as-new need not wait for a poll to end: the DB is the record,
      // and the next run polls again from what it holds.
      const poll = cancellable(() =>
        awaitCompressionJobs.executeWithOptions(
          { summary: `await ${progress.outstandingCompressionJobs} compression job(s)` },
          [jobId, this.completionBackoffMs, AWAIT_MAX_WAIT_MS],
        ),
      );
      await condition(() => poll.ended() || this.continueAsNewDue());
      if (!poll.ended()) poll.cancel();
      try {
        const result = await poll.result;
        this.completionBackoffMs = result.nextBackoffMs;
        for (const f of result.finalized) {
          if (f.status === 'compressed') progress.filesCompressed += f.numFiles;
          else progress.filesFailed += f.numFiles;
        }
        this.applySnapshot(result.snapshot);
      } catch (err) {
        if (isCancellation(err)) return;
        throw err;
      }
    }
  }

  /** Ends once the other loops are done and the row holds the last status. */
  private async statusMirrorLoop(): Promise<void> {
    const { jobId, progress } = this;
    for (;;) {
      await condition(() => progress.status !== this.mirroredStatus || this.loopsDone);
      if (this.mirrorLoopMustExit()) return;
      if (progress.status === this.mirroredStatus) continue;
      const target = progress.status;
      try {
        await setJobStatus.executeWithOptions({ summary: `job row: ${target}` }, [
          jobId,
          target,
          hasFailed(target) ? (progress.error ?? undefined) : undefined,
        ]);
      } catch (err) {
        // The row holds a status this one may not follow (the store refused the move): the job goes on.
        if (!illegalTransition(err)) throw err;
        log.warn('job row did not take status', { jobId, target, error: failureMessage(err) });
      }
      upsertSearchAttributes([{ key: SA.status, value: target }]);
      this.mirroredStatus = target;
      this.showDetails();
    }
  }
}
