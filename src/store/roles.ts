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
   * Moves a job to `to`, or to what `to` makes of its current status (read
   * and moved in one transaction). Already there: a no-op, so a retry is
   * harmless. A move the lifecycle does not allow (src/lifecycle.ts) throws
   * IllegalTransitionError. Returns the status the job has afterwards.
   */
  transitionJob(
    id: number,
    to: JobStatus | ((current: JobStatus) => JobStatus),
    errorMsg?: string,
  ): Promise<JobStatus>;
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
/** One key range of an S3 scanner's split listing: keys after `startAfter` up to `endKey` (null: the prefix's end). */
export interface ScanRange {
  idx: number;
  startAfter: string | null;
  endKey: string | null;
  /** The last settled key the range has recorded (its start before any). */
  position: string | null;
  /** Listed to `endKey` with nothing held back (never set on the open-ended range). */
  done: boolean;
}

/**
 * An S3 scanner's listing split into key ranges listed at once (several
 * workers on one job). The cursor stays put while a split runs and moves
 * when it ends.
 */
export interface SplitListing {
  /** The ranges of the job's split in progress ([]: none). */
  getSplit(jobId: number): Promise<ScanRange[]>;
  /**
   * Starts a split of the keys after the cursor into `bounds` (in key order,
   * the last one open-ended), if no split is running and the cursor is still
   * `expectedCursor`; else null (nothing written).
   */
  startSplit(
    jobId: number,
    expectedCursor: string | null,
    bounds: { startAfter: string | null; endKey: string | null }[],
  ): Promise<ScanRange[] | null>;
  /**
   * One page of a range: the files, and the range moved from
   * `expectedPosition` to `next.position` (or ended). Compare-and-set on the
   * position: a retried or zombie call gets null (nothing written).
   */
  recordRangePage(
    jobId: number,
    idx: number,
    files: NewFile[],
    expectedPosition: string | null,
    next: { position: string | null; done: boolean },
  ): Promise<number | null>;
  /** Ends the split if every bounded range is done, moving the cursor; `ended` is true when no split runs afterwards. */
  endSplitIfListed(jobId: number): Promise<{ ended: boolean; cursor: string | null }>;
}

export type StoreRoles = JobRecords &
  ScannerState &
  SplitListing &
  ListenerState &
  FileRecords &
  CompressionRecords;
