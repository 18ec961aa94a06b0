/**
 * The job API used by the CLI (and any other client): create, pause, resume,
 * stop, status, and start-up reconciliation of the DB with Temporal.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { parseJobConfig, s3Source, type JobConfig, type JobKind } from '../config/job-config';
import { loadSettings } from '../config/settings';
import { checkJobEndpoints, type EndpointAllowList } from '../security/endpoints';
import type { IngestionStore, JobRow, JobStatus } from '../store/ingestion-store';
import {
  INGESTION_JOB_WORKFLOW,
  pauseSignal,
  resumeSignal,
  SA,
  statusQuery,
  stopSignal,
  workflowIdFor,
  type IngestionJobInput,
  type JobProgress,
} from '../workflows/messages';

export class IllegalRequestError extends Error {
  override name = 'IllegalRequestError';
}

export interface StartOptions {
  taskQueue: string;
  maxHistoryEvents?: number;
  drain?: boolean;
}

function searchAttributes(jobId: number, job: JobConfig, status: JobStatus) {
  return new TypedSearchAttributes([
    { key: SA.jobId, value: jobId },
    { key: SA.kind, value: job.kind },
    { key: SA.dataset, value: job.config.dataset },
    { key: SA.bucket, value: s3Source(job)?.bucket ?? '' },
    { key: SA.status, value: status },
  ]);
}

/**
 * The job as its workflow gets it: an object list without its URLs (up to
 * 10,000; its activity reads them from the job's row), so they never weigh
 * on Temporal's payload limits or the workflow's history.
 */
function workflowJob(job: JobConfig): JobConfig {
  return job.kind === 's3_object_list' ? { ...job, config: { ...job.config, urls: [] } } : job;
}

/** Starts the job's workflow; a no-op if a run with its id is already open. */
export async function startJobWorkflow(
  client: Client,
  jobId: number,
  job: JobConfig,
  status: JobStatus,
  opts: StartOptions,
): Promise<boolean> {
  const input: IngestionJobInput = {
    jobId,
    job: workflowJob(job),
    maxHistoryEvents: opts.maxHistoryEvents,
    drain: opts.drain,
  };
  try {
    await client.workflow.start(INGESTION_JOB_WORKFLOW, {
      taskQueue: opts.taskQueue,
      workflowId: workflowIdFor(jobId),
      args: [input],
      typedSearchAttributes: searchAttributes(jobId, job, status),
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

export interface CreateOptions extends StartOptions {
  /** The endpoints the job may name; default: the settings' (CLP_ALLOWED_ENDPOINTS and the worker's own). */
  allowedEndpoints?: EndpointAllowList;
}

/**
 * Validates and records a job (`requested`), then starts its workflow. If the
 * process dies between the two, reconciliation starts the workflow later. A
 * config naming an endpoint outside the allow-list is refused
 * (EndpointRefusedError, an InvalidConfigError naming the field) before
 * anything is recorded.
 */
export async function createJob(
  store: IngestionStore,
  client: Client,
  kind: JobKind,
  rawConfig: unknown,
  opts: CreateOptions,
): Promise<number> {
  const job = parseJobConfig(kind, rawConfig);
  checkJobEndpoints(job, opts.allowedEndpoints ?? loadSettings().aws.allowedEndpoints!);
  const jobId = await store.createJob(job);
  await startJobWorkflow(client, jobId, job, 'requested', opts);
  return jobId;
}

/** The job's live progress from its workflow, or null when no run is open. */
export async function queryProgress(client: Client, jobId: number): Promise<JobProgress | null> {
  try {
    const handle = client.workflow.getHandle(workflowIdFor(jobId));
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') return null;
    return await handle.query(statusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

type Control = 'pause' | 'resume' | 'stop';
const SIGNALS = { pause: pauseSignal, resume: resumeSignal, stop: stopSignal };

function checkLegal(request: Control, jobId: number, status: JobStatus, stopRequested: boolean): void {
  const what = `job ${jobId} is ${stopRequested && status !== 'finished' ? 'stopping' : status}`;
  if (stopRequested || status === 'finished' || status === 'failed') {
    throw new IllegalRequestError(`${what}; it cannot be ${request === 'stop' ? 'stopped' : `${request}d`}`);
  }
  if (request === 'pause' && status !== 'running')
    throw new IllegalRequestError(`${what}; only a running job can be paused`);
  if (request === 'resume' && status !== 'paused')
    throw new IllegalRequestError(`${what}; only a paused job can be resumed`);
}

/** Pause, resume or stop a job; an illegal request throws and changes nothing. */
export async function controlJob(
  store: IngestionStore,
  client: Client,
  jobId: number,
  request: Control,
): Promise<void> {
  const row = await store.requireJob(jobId);
  const live = await queryProgress(client, jobId);
  checkLegal(request, jobId, live?.status ?? row.status, live?.stopRequested ?? false);
  if (!live) throw new IllegalRequestError(`job ${jobId} has no running workflow; run \`reconcile\` first`);
  await client.workflow.getHandle(workflowIdFor(jobId)).signal(SIGNALS[request]);
}

export interface ReconcileReport {
  checked: number;
  started: number[];
  drained: number[];
}

/**
 * Makes Temporal agree with the DB, the user-visible record: every job the DB
 * calls active gets an open workflow. One never started (the creator died)
 * starts normally; one whose workflow was closed by hand (terminated from the
 * UI or CLI) restarts draining: its buffered files are flushed and awaited and
 * its row ends with a truthful status. Safe to run from many workers at once.
 */
export async function reconcileJobs(
  store: IngestionStore,
  client: Client,
  taskQueue: string,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, started: [], drained: [] };
  for (const row of await store.listJobs({ status: ['requested', 'running', 'paused'] })) {
    report.checked += 1;
    const state = await workflowState(client, row);
    if (state === 'open') continue;
    const drain = state === 'closed';
    if (await startJobWorkflow(client, row.id, row.config, row.status, { taskQueue, drain })) {
      (drain ? report.drained : report.started).push(row.id);
    }
  }
  return report;
}

async function workflowState(client: Client, row: JobRow): Promise<'open' | 'closed' | 'missing'> {
  try {
    const desc = await client.workflow.getHandle(workflowIdFor(row.id)).describe();
    return desc.status.name === 'RUNNING' ? 'open' : 'closed';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'missing';
    throw err;
  }
}
