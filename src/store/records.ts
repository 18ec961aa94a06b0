/**
 * What the store reads and writes, as the rest of the ingestor sees it: job
 * rows, files to record, the buffer, compression submissions. No SQL here.
 */
import type { JobConfig, JobKind } from '../config/job-config';
import type { JobStatus } from '../lifecycle';

export const FILE_STATUSES = ['buffered', 'submitted', 'compressed', 'failed'] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

export interface JobRow {
  id: number;
  kind: JobKind;
  config: JobConfig;
  status: JobStatus;
  numFilesIngested: number;
  numFilesCompressed: number;
  numFilesFailed: number;
  numMessagesIgnored: number;
  errorMsg: string | null;
  dataset: string;
  bucketName: string;
  creationTs: number;
  lastUpdateTs: number;
  /** The id of the job's Temporal workflow. */
  workflowId: string;
}

/** A job that its own workflow records (started from any Temporal client): the run that records it. */
export interface WorkflowOrigin {
  workflowId: string;
  /** The first run of the workflow execution: one job per execution, however often the call is retried. */
  firstRunId: string;
}

/** Where an S3 object is: the bucket and the key stay apart from the listing to the compression job. */
export interface S3Object {
  bucket: string;
  key: string;
}

/** An S3 object to record (CLP's ingested_s3_object_metadata reads its bucket and key). */
export interface NewS3File {
  s3: S3Object;
  size: number;
  /**
   * What tells uploads of one key apart (an SQS notification's sequencer):
   * each version is a file of its own. Absent: the key is the file (a
   * listing sees a key once per pass, and records it once).
   */
  version?: string;
}

/** A local file to record, by its full path. */
export interface NewFsFile {
  path: string;
  size: number;
}

/** A file to record. Only the store derives the row's path (bucket/key for S3) and dedup identity. */
export type NewFile = NewS3File | NewFsFile;

/** A file recorded as failed as soon as it is known (an object that does not exist), with why. */
export type FailedFile = NewFile & { reason: string };

/** What is buffered (durably ingested, not yet submitted) and awaited. */
export interface BufferSnapshot {
  files: number;
  bytes: number;
  /** When the oldest buffered file was ingested (ms since epoch), or null. */
  oldestTs: number | null;
  /** Compression jobs with files still in `submitted`. */
  outstandingCompressionJobs: number;
}

export interface IgnoredMessage {
  messageId: string;
  reason: string;
  /** The message body (a sample: at most 512 bytes are kept). */
  body: string;
}

export interface Submission {
  compressionJobId: number | null;
  numFiles: number;
}

export interface FinalizedCompressionJob {
  compressionJobId: number;
  status: 'compressed' | 'failed';
  numFiles: number;
  /**
   * Set on the files of a KILLED job's SUCCEEDED tasks when the job's other
   * files went into a new compression job or failed (reported on their own):
   * a share of the job's files, not the end of a compression job.
   */
  partial?: true;
}

/** A KILLED compression job whose files went into a new one. */
export interface ResubmittedCompressionJob {
  killedCompressionJobId: number;
  compressionJobId: number;
  attempt: number;
  numFiles: number;
}

/** One file as a compression job names it: one per distinct path, the newest record's size. */
export interface FileToCompress {
  id: number;
  path: string;
  /** The S3 bucket and key (null for fs files; the bucket is read only by jobs with several buckets). */
  bucket?: string | null;
  key: string | null;
  size: number;
}

/** Builds a compression job's clp_config for its files (the files as the job names them). */
export type BuildClpConfig = (files: FileToCompress[]) => Promise<Buffer>;

/**
 * The path a CLP compression task (compression_tasks.clp_paths_to_compress)
 * names `file` by: its object key for S3 inputs, the path CLP's workers see
 * for fs inputs. The store compares both sides as CLP writes them
 * (normalizeTaskPath), so this need not normalize.
 */
export type TaskPathOf = (file: FileToCompress) => string;

/** What finalizing needs to resubmit a KILLED compression job's files. */
export interface CompressionRetry {
  /** Compression jobs per flush, the first included; a KILLED last attempt fails its files. */
  maxAttempts: number;
  buildClpConfig: BuildClpConfig;
  /** To leave out the files of the KILLED job's SUCCEEDED tasks (their archives exist). */
  taskPathOf: TaskPathOf;
}

export interface FileRow {
  id: number;
  path: string;
  size: number;
  status: FileStatus;
  compressionJobId: number | null;
  /**
   * Every compression job the file went through, oldest first (more than one
   * after KILLED jobs), up to its own: a file a KILLED job's SUCCEEDED task
   * compressed stays on that job, and its flush's later attempts are not its.
   */
  compressionJobIds: number[];
  /** Why a file failed without a compression job (e.g. a listed object that does not exist); else null. */
  error: string | null;
}

/** An S3 scanner's cursor and its order-free re-list's state (times in ms since epoch). */
export interface RescanState {
  cursor: string | null;
  /** When the last completed re-list pass began (null: the clock has not started). */
  lastTs: number | null;
  /** When the pass in progress began (null: none in progress). */
  passTs: number | null;
  /** The last key the pass in progress recorded (null: from the beginning). */
  afterKey: string | null;
}

export class ConflictError extends Error {
  override name = 'ConflictError';
}

export class NotFoundError extends Error {
  override name = 'NotFoundError';
}
