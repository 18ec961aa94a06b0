/**
 * Messages of the ingestion-job workflow, imported by the workflow and by
 * clients. Pause, resume and stop are signals; clients check the live status
 * (the query) first so an illegal request gets a clear answer, and the
 * workflow ignores one that slips through, so it never changes anything.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { JobConfig } from '../config/job-config';

export type WorkflowJobStatus = 'requested' | 'running' | 'paused' | 'failed' | 'finished';

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopSignal = defineSignal('stop');

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

/** Search attributes (declared for the dev server in temporal-config/search-attributes). */
export const SA = {
  jobId: defineSearchAttributeKey('ClpIngestionJobId', SearchAttributeType.INT),
  status: defineSearchAttributeKey('ClpIngestionJobStatus', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('ClpIngestionJobKind', SearchAttributeType.KEYWORD),
  dataset: defineSearchAttributeKey('ClpDataset', SearchAttributeType.KEYWORD),
  bucket: defineSearchAttributeKey('ClpBucket', SearchAttributeType.KEYWORD),
};

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

export function workflowIdFor(jobId: number): string {
  return `clp-ingestion-job-${jobId}`;
}
