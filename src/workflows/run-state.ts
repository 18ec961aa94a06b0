/**
 * What one run of an ingestion job knows: its progress (returned by the
 * status query and carried across continue-as-new), the status its DB row
 * holds and the flush sequence; the handlers of the messages that change it
 * (pause, resume, stop) and when each of the run's loops must end. The loops
 * (ingestion-job-run.ts) change it with what activities return; nothing here
 * issues a command but the `one-time-jobs` marker.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { JobConfig } from '../config/job-config';
import { isOneTime, jobSource } from '../sources/describe';
import { workflowHalfOf } from '../sources/workflow-kinds';
import { hasFailed, REQUEST_TARGET, refusal, type ControlRequest } from '../lifecycle';
import type { BufferSnapshot } from '../store/ingestion-store';
import {
  currentDetails,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
  stopSignal,
  stopUpdate,
  type IngestionJobInput,
  type JobProgress,
  type WorkflowJobStatus,
} from './messages';

const UPDATES = [
  [pauseUpdate, 'pause'],
  [resumeUpdate, 'resume'],
  [stopUpdate, 'stop'],
] as const;
const SIGNALS = [
  [pauseSignal, 'pause'],
  [resumeSignal, 'resume'],
  [stopSignal, 'stop'],
] as const;

/** The store refused a status move (src/lifecycle.ts: IllegalTransitionError). */
export function illegalTransition(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === 'IllegalTransitionError'
  );
}

/** The message of an activity's failure (its cause), for logs and the job's error. */
export function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

function initialProgress(jobId: number, drain: boolean): JobProgress {
  return {
    jobId,
    status: 'requested',
    stopRequested: drain,
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
}

export class JobState {
  readonly jobId: number;
  readonly job: JobConfig;
  /** What the job reads (s3://bucket/prefix, a queue's sources, a directory), for the Web UI. */
  readonly source: string;
  /** A one-time job ends by itself once its input has been read to the end. */
  readonly oneTime: boolean;
  /** What the status query returns; carried to the next run. */
  readonly progress: JobProgress;
  /** How long an input with nothing new rests before the next scan (0: a receive call waits by itself). */
  protected readonly scanningIntervalMs: number;
  protected nextFlushSeq = 0;
  protected completionBackoffMs = 0;
  /** The status the DB row and search attribute hold; the status mirror loop copies changes. */
  protected mirroredStatus: WorkflowJobStatus | null;
  protected ingestLoopExited = false;
  protected flushLoopExited = false;
  /** The ingest, flush and completion loops have all returned. */
  protected loopsDone = false;

  constructor(protected readonly input: IngestionJobInput) {
    this.jobId = input.jobId;
    this.job = input.job;
    this.source = jobSource(this.job);
    this.progress = input.carried?.progress ?? initialProgress(this.jobId, input.drain === true);
    this.mirroredStatus = input.carried ? this.progress.status : null;
    this.oneTime = isOneTime(this.job);
    this.scanningIntervalMs = workflowHalfOf(this.job).idleMs(this.job.config);
  }

  // ---- Messages ----------------------------------------------------------

  /** Answer queries and take Updates from the first activation on, even while the first activity runs. */
  protected handleQueryAndUpdates(): void {
    setHandler(statusQuery, () => this.progress);
    for (const [update, request] of UPDATES) {
      setHandler(update, () => this.control(request), {
        validator: () => {
          const why = refusal(request, this.jobId, this.progress.status, this.progress.stopRequested);
          if (why !== null) throw new Error(why);
        },
      });
    }
  }

  /**
   * The signals older clients send: the same rules as the Updates; an illegal
   * one is ignored. Taken once the job's status is known (a signal sent
   * earlier waits until then).
   */
  protected handleSignals(): void {
    for (const [signal, request] of SIGNALS) {
      setHandler(signal, () => {
        const why = refusal(request, this.jobId, this.progress.status, this.progress.stopRequested);
        if (why === null) this.grant(request);
        else log.warn(`${request} ignored: ${why}`, { jobId: this.jobId });
      });
    }
  }

  /** A request the job's state allows: a stop drains the job; a pause or resume sets its status. */
  private grant(request: ControlRequest): void {
    if (request === 'stop') this.progress.stopRequested = true;
    else this.progress.status = REQUEST_TARGET[request];
  }

  /** An accepted pause or resume returns once the row holds its status; a stop, at once (the job is draining). */
  private async control(request: ControlRequest): Promise<JobProgress> {
    this.grant(request);
    if (request !== 'stop') {
      const target = REQUEST_TARGET[request];
      await condition(() => this.mirroredStatus === target || this.progress.status !== target);
    }
    return { ...this.progress };
  }

  // ---- When each loop ends -----------------------------------------------

  protected continueAsNewDue(): boolean {
    return (
      workflowInfo().continueAsNewSuggested ||
      // A new version of the worker deployment is current: the run ends here and the next
      // one starts on it (docs/upgrades.md). Always false on an unversioned worker.
      workflowInfo().targetWorkerDeploymentVersionChanged === true ||
      (this.input.maxHistoryEvents !== undefined &&
        workflowInfo().historyLength >= this.input.maxHistoryEvents)
    );
  }

  /** Ingestion has ended for good (stop, failure, or a one-time job's input read to its end); what is buffered still gets flushed. */
  protected ingestionOver(): boolean {
    return (
      this.progress.stopRequested || hasFailed(this.progress.status) || this.progress.inputEnded === true
    );
  }

  /** The ingest loop's exit: ingestion is over, or this run is to continue as new. */
  protected ingestLoopMustExit(): boolean {
    return this.ingestionOver() || this.continueAsNewDue();
  }

  /** Nothing more enters the buffer: ingestion is over and the ingest loop has returned. */
  protected noMoreInput(): boolean {
    return this.ingestionOver() && this.ingestLoopExited;
  }

  /** The flush loop's exit: no flush is due now, and this run continues as new or the buffer is empty for good. */
  protected flushLoopMustExit(): boolean {
    const due = this.flushDueIn();
    return due !== 0 && (this.continueAsNewDue() || (due === null && this.noMoreInput()));
  }

  /** No compression job will be submitted any more: ingest and flush are over. */
  protected nothingMoreToSubmit(): boolean {
    return this.ingestLoopExited && this.flushLoopExited && this.ingestionOver();
  }

  /** The completion loop's exit (once it has waited for work): nothing to await, or continue-as-new. */
  protected completionLoopMustExit(): boolean {
    return this.progress.outstandingCompressionJobs === 0 || this.continueAsNewDue();
  }

  /**
   * The status mirror loop's exit (once woken by a change or the other loops'
   * end): the row holds the last status. A change undone within one workflow
   * task (a pause and a resume delivered together) wakes the loop with nothing
   * to write, and the loop must not end there or the row would miss every
   * later change. Runs recorded without the `status-mirror-outlives-undone-changes`
   * marker ended there, and replay as they ran.
   */
  protected mirrorLoopMustExit(): boolean {
    return (
      this.progress.status === this.mirroredStatus &&
      (this.loopsDone || !patched('status-mirror-outlives-undone-changes'))
    );
  }

  /** When the buffer must be flushed: size threshold, hard timeout, or ingestion over. */
  protected flushDueIn(): number | null {
    const { buffer } = this.progress;
    const bufferConfig = this.job.config.buffer_config;
    if (buffer.files === 0) return null;
    if (buffer.bytes >= bufferConfig.flush_threshold_bytes) return 0;
    if (this.noMoreInput()) return 0;
    const deadline = (buffer.oldestTs ?? Date.now()) + bufferConfig.timeout_sec * 1000;
    return Math.max(0, deadline - Date.now());
  }

  // ---- What activities report --------------------------------------------

  applySnapshot(s: BufferSnapshot): void {
    this.progress.buffer = { files: s.files, bytes: s.bytes, oldestTs: s.oldestTs };
    this.progress.outstandingCompressionJobs = s.outstandingCompressionJobs;
    this.showDetails();
  }

  /** The Web UI's current details: progress as of the last activity (user metadata; no command). */
  protected showDetails(): void {
    setCurrentDetails(
      currentDetails(this.jobId, this.job.kind, this.source, this.job.config.dataset, this.progress),
    );
  }

  /** A one-time job has read all its input: it drains (flush, await compression) and finishes, as on stop. */
  endOfInput(): void {
    if (patched('one-time-jobs')) {
      log.info('one-time job read all its input; draining', { jobId: this.jobId });
      this.progress.inputEnded = true;
    }
  }

  protected fail(err: unknown): void {
    const message = failureMessage(err);
    log.error('ingestion job failed', { jobId: this.jobId, error: message });
    this.progress.error = message;
    this.progress.status = 'failed';
  }
}
