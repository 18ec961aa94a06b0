/**
 * Facts of a job read from its parsed config, for the workflow and for
 * listings: what it reads, whether it ends by itself, and the config as the
 * workflow carries it.
 */
import type { JobConfig } from './definitions';
import { workflowHalfOf } from './workflow-kinds';

/** What a job reads, for listings: s3://bucket/prefix, the directory, or the object list's bucket and count. */
export function jobSource(job: JobConfig): string {
  return workflowHalfOf(job).describe(job.config);
}

/** Whether the job scans its input once and then finishes. */
export function isOneTime(job: JobConfig): boolean {
  return workflowHalfOf(job).oneTime(job.config);
}

/**
 * The job as its workflow carries it: an object list without its URLs (up to
 * 10,000; its activity reads them from the job's row), so they never weigh on
 * Temporal's payload limits or the workflow's history.
 */
export function workflowJob(job: JobConfig): JobConfig {
  return { ...job, config: workflowHalfOf(job).compact(job.config) } as JobConfig;
}
