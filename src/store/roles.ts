/**
 * The store's roles, each the narrow interface one concern needs (as CLP's
 * own log-ingestor splits its state: IngestionJobState, S3ScannerState,
 * SqsListenerState). Activities are typed by the roles they use, so any of
 * them can run against an in-memory fake; IngestionStore implements them all
 * on the CLP DB.
 *
 * Every method that changes state is one transaction and safe to repeat:
 * that is what makes every activity idempotent under retry.
 */
import type { JobConfig } from '../config/job-config';
import type { JobStatus } from '../lifecycle';
import type {
  BufferSnapshot,
  BuildClpConfig,
  CompressionRetry,
  FailedFile,
  FileRow,
  FileStatus,
  FinalizedCompressionJob,
  IgnoredMessage,
  JobRow,
  NewFile,
  RescanState,
  ResubmittedCompressionJob,
  Submission,
  WorkflowOrigin,
} from './records';

/** Ingestion jobs: their rows and lifecycle status. */
export interface JobRecords {
  /**
   * Records a new job as `requested`, refusing one that conflicts with an
   * active job (ConflictError). With `origin` (a workflow recording its own
   * job), the job that execution already recorded is returned instead.
   */
  createJob(job: JobConfig, origin?: WorkflowOrigin): Promise<number>;
  getJob(id: number): Promise<JobRow | null>;
  /** The job, or NotFoundError. */
  requireJob(id: number): Promise<JobRow>;
  /** The job a workflow (by its id) runs: the newest, when the id was used for several. */
  requireJobOfWorkflow(workflowId: string): Promise<JobRow>;
  listJobs(filter?: { status?: JobStatus[]; dataset?: string }): Promise<JobRow[]>;
  /**
   * Moves a job to `to` if its status is one of `from` (or already `to`, so a
   * retry is harmless). Returns the status the job has afterwards.
   */
  transitionJob(id: number, from: readonly JobStatus[], to: JobStatus, errorMsg?: string): Promise<JobStatus>;
}

/** An S3 scanner's (and an object list's) durable position: the cursor and the re-list's state. */
export interface ScannerState {
  getScannerCursor(jobId: number): Promise<string | null>;
  /** The order-free re-list's clock and position (see recordRescanPage). */
  getRescanState(jobId: number): Promise<RescanState>;
  /**
   * Starts the clock (lastTs null) or a re-list pass beginning at `now`, if
   * the state is still `seen`. Returns whether this call changed it.
   */
  startRescan(jobId: number, seen: RescanState, now: number): Promise<boolean>;
  /**
   * One page of a re-list pass: the files, and the pass moved on to
   * `next.afterKey` or ended. Compare-and-set on the pass and its position:
   * a retried or zombie call gets null (nothing written). Returns the files
   * recorded.
   */
  recordRescanPage(
    jobId: number,
    files: NewFile[],
    passTs: number,
    expectedAfterKey: string | null,
    next: { afterKey: string | null; done: boolean },
  ): Promise<number | null>;
  /**
   * One page: the files (and `failed` ones, recorded as failed with their
   * reason) and the cursor moved from `expectedCursor` to `newCursor` (null:
   * it stays). Compare-and-set on the cursor: a retried or zombie call gets
   * null (nothing written). Returns the files recorded.
   */
  recordS3Page(
    jobId: number,
    files: NewFile[],
    expectedCursor: string | null,
    newCursor: string | null,
    failed?: FailedFile[],
  ): Promise<number | null>;
}

/** An SQS listener's batches: the files its notifications name and the messages it ignored. */
export interface ListenerState {
  /**
   * One batch of messages; a redelivered message is neither recorded nor
   * counted twice. `snapshot`: the job's buffer as this batch's commit left
   * it (absent for an empty batch).
   */
  recordMessageBatch(
    jobId: number,
    files: NewFile[],
    ignored: IgnoredMessage[],
  ): Promise<{ recorded: number; ignored: number; snapshot?: BufferSnapshot }>;
  listIgnoredMessages(jobId: number, limit?: number): Promise<IgnoredMessage[]>;
}

/** A job's ingested files and its buffer (the files ingested and not yet submitted). */
export interface FileRecords {
  /** Records files as `buffered`; ones already recorded are skipped. Returns the files recorded. */
  recordFiles(jobId: number, files: NewFile[]): Promise<number>;
  /** The job's buffer and outstanding compression jobs. */
  bufferSnapshot(jobId: number): Promise<BufferSnapshot>;
  listFiles(
    jobId: number,
    opts?: { status?: FileStatus; afterId?: number; limit?: number },
  ): Promise<FileRow[]>;
  countFilesByStatus(jobId: number): Promise<Record<FileStatus, number>>;
}

/** Flushes of the buffer into CLP compression jobs, and their outcomes. */
export interface CompressionRecords {
  /** The flush sequence number a (re)started job workflow continues from. */
  nextFlushSeq(jobId: number): Promise<number>;
  /**
   * Flush number `flushSeq`: up to `maxFiles` buffered files become one
   * PENDING compression job. Repeating a flushSeq returns the first result
   * and writes nothing.
   */
  submitBuffered(
    jobId: number,
    flushSeq: number,
    maxFiles: number,
    buildClpConfig: BuildClpConfig,
    opts?: { oneBucket?: boolean },
  ): Promise<Submission>;
  /** Compression jobs of this ingestion job whose outcome is not yet recorded. */
  outstandingCompressionJobs(jobId: number): Promise<number[]>;
  /**
   * Records the outcome of those of `compressionJobIds` that reached a
   * terminal state; a KILLED one's files that its SUCCEEDED tasks did not
   * cover go into a new compression job, up to `retry.maxAttempts` per
   * flush. A repeat is harmless.
   */
  finalizeCompressionJobs(
    jobId: number,
    compressionJobIds: number[],
    retry: CompressionRetry,
  ): Promise<{ finalized: FinalizedCompressionJob[]; resubmitted: ResubmittedCompressionJob[] }>;
}

/** Every role: what a caller that needs everything (the worker, the CLI, the REST API) holds. */
export type StoreRoles = JobRecords & ScannerState & ListenerState & FileRecords & CompressionRecords;
