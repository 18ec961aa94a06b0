/**
 * Messages of the ingestion-job workflow, imported by the workflow and by
 * clients. Pause, resume and stop are Updates: one the job's state does not
 * allow is refused by the validator with the reason, before anything is
 * recorded; an accepted pause or resume returns once the job row holds the
 * new status, an accepted stop once the job is draining. The signals of the
 * same names stay for older clients: the workflow ignores an illegal one.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { JobConfig } from '../config/job-config';

import { shownStatus, type JobStatus } from '../lifecycle';

export type WorkflowJobStatus = JobStatus;

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopSignal = defineSignal('stop');

/** Each returns the job's progress once the request has taken effect. */
export const pauseUpdate = defineUpdate<JobProgress>('pause');
export const resumeUpdate = defineUpdate<JobProgress>('resume');
export const stopUpdate = defineUpdate<JobProgress>('stop');

export interface JobProgress {
  jobId: number;
  status: WorkflowJobStatus;
  stopRequested: boolean;
  error: string | null;
  buffer: { files: number; bytes: number; oldestTs: number | null };
  outstandingCompressionJobs: number;
  filesRecorded: number;
  messagesIgnored: number;
  filesSubmitted: number;
  filesCompressed: number;
  filesFailed: number;
  compressionJobsSubmitted: number;
  listingExhausted: boolean;
  /** A one-time job has read all its input and is draining (absent before one-time jobs). */
  inputEnded?: boolean;
  runs: number;
}

export const statusQuery = defineQuery<JobProgress>('status');

/**
 * Text for a one-line summary in the Web UI: S3 keys and paths may hold line
 * breaks and other control characters, and may be 1 KB long.
 */
export function oneLine(text: string, max = 200): string {
  const flat = text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The job as the Web UI shows it while it runs (its workflow's current details, markdown). */
export function currentDetails(
  jobId: number,
  kind: string,
  source: string,
  dataset: string,
  p: JobProgress,
): string {
  const status = shownStatus(p.status, p.stopRequested);
  return [
    `**ingestion job ${jobId}** (${kind}): ${source} → dataset \`${dataset}\` · **${status}**`,
    '',
    '| recorded | submitted | compressed | failed | buffered | buffered bytes | compression jobs outstanding |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    `| ${p.filesRecorded} | ${p.filesSubmitted} | ${p.filesCompressed} | ${p.filesFailed} | ${p.buffer.files} | ${p.buffer.bytes} | ${p.outstandingCompressionJobs} |`,
    ...(p.error ? ['', `error: ${p.error}`] : []),
  ].join('\n');
}

/** Search attributes (declared for the dev server in temporal-config/search-attributes). */
export const SA = {
  jobId: defineSearchAttributeKey('ClpIngestionJobId', SearchAttributeType.INT),
  status: defineSearchAttributeKey('ClpIngestionJobStatus', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('ClpIngestionJobKind', SearchAttributeType.KEYWORD),
  dataset: defineSearchAttributeKey('ClpDataset', SearchAttributeType.KEYWORD),
  bucket: defineSearchAttributeKey('ClpBucket', SearchAttributeType.KEYWORD),
};

/**
 * A new job, as any Temporal client may start one: the workflow validates it
 * and records its own row (e.g. `temporal workflow start --type ingestionJob
 * --input '{"kind": "s3_scanner", "config": {...}}'`).
 */
export interface NewJobInput {
  /** One of s3_scanner, sqs_listener, fs, s3_object_list. */
  kind: string;
  /** The job's config, as the REST API takes it. */
  config: unknown;
  /** Continue-as-new after this many history events (tests lower it). */
  maxHistoryEvents?: number;
}

/** The job a workflow recorded for itself. */
export interface RegisteredJob {
  jobId: number;
  job: JobConfig;
  /** Its (first) bucket, for the search attribute ('' for fs). */
  bucket: string;
}

export interface IngestionJobInput {
  jobId: number;
  job: JobConfig;
  /** State carried across continue-as-new; absent on the first run. */
  carried?: CarriedState;
  /** Continue-as-new after this many history events (tests lower it). */
  maxHistoryEvents?: number;
  /** Start draining at once: used when recovering a job whose workflow was terminated by hand. */
  drain?: boolean;
}

/** Control state only: file state lives in the CLP DB. */
export interface CarriedState {
  progress: JobProgress;
  nextFlushSeq: number;
  completionBackoffMs: number;
  /** Where an fs job's pass stopped for a flush, when it did. */
  fsResumeAfter?: string[];
  /** Files a one-time fs job's current pass found not yet settled. */
  fsPassUnsettled?: number;
}

export const INGESTION_JOB_WORKFLOW = 'ingestionJob';

export { workflowIdFor } from '../lifecycle';
