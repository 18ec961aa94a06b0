/**
 * Every job kind's workflow half, keyed by kind: a kind in JOB_KINDS that is
 * missing here does not compile. Bundled with the workflow: imports only
 * workflow-safe code (and types).
 */
import type { JobConfig } from './definitions';
import { fsWorkflowHalf } from './fs/workflow';
import type { JobKind } from './kinds';
import { s3ObjectListWorkflowHalf } from './s3_object_list/workflow';
import { s3ScannerWorkflowHalf } from './s3_scanner/workflow';
import { sqsListenerWorkflowHalf } from './sqs_listener/workflow';
import type { SourceKindWorkflowHalf } from './workflow-half';

type ConfigOfKind<K extends JobKind> = Extract<JobConfig, { kind: K }>['config'];

export const WORKFLOW_HALVES = {
  s3_scanner: s3ScannerWorkflowHalf,
  sqs_listener: sqsListenerWorkflowHalf,
  fs: fsWorkflowHalf,
  s3_object_list: s3ObjectListWorkflowHalf,
} satisfies { [K in JobKind]: SourceKindWorkflowHalf<ConfigOfKind<K>> };

/** The workflow half of `job`'s kind, typed for its config. */
export function workflowHalfOf(job: JobConfig): SourceKindWorkflowHalf<JobConfig['config']> {
  return WORKFLOW_HALVES[job.kind] as SourceKindWorkflowHalf<JobConfig['config']>;
}
