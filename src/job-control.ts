/**
 * The job API used by the CLI, the REST API and any other client: create,
 * pause, resume, stop, terminate, status, and start-up reconciliation of the
 * DB with Temporal. What each request may do is decided by src/lifecycle.ts;
 * pause, resume and stop go to the workflow as Updates, whose validators apply it.
 */
import {
  QueryNotRegisteredError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { jobSource, s3Source, type JobConfig, type JobKind } from './config/job-config';
import { workflowJob } from './sources/describe';
import { loadSettings } from './config/settings';
import {
  ACTIVE_STATUSES,
  hasFailed,
  isOver,
  refusal,
  workflowIdFor,
  type ControlRequest,
  type TerminalStatus,
} from './lifecycle';
import type { EndpointAllowList } from './security/endpoints';
import type { JobRecords, JobRow, JobStatus } from './store/ingestion-store';
import { recordNewJob } from './store/new-job';
import {
  INGESTION_JOB_WORKFLOW,
  pauseUpdate,
  resumeUpdate,
  SA,
  statusQuery,
  stopSignal,
  stopUpdate,
  type IngestionJobInput,
  type JobProgress,
} from './workflows/messages';

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

/** What the Web UI shows of a job's workflow before it runs: kind, source and dataset. */
export function workflowSummary(jobId: number, job: JobConfig): string {
  return `ingestion job ${jobId}: ${job.kind} ${jobSource(job)} -> dataset ${job.config.dataset}`;
}

/** Starts the job's workflow; a no-op if a run with its id is already open. */
export async function startJobWorkflow(
  client: Client,
  row: Pick<JobRow, 'id' | 'config' | 'status' | 'workflowId'>,
  opts: StartOptions,
): Promise<boolean> {
  const input: IngestionJobInput = {
    jobId: row.id,
    job: workflowJob(row.config),
    maxHistoryEvents: opts.maxHistoryEvents,
    drain: opts.drain,
  };
  try {
    await client.workflow.start(INGESTION_JOB_WORKFLOW, {
      taskQueue: opts.taskQueue,
      workflowId: row.workflowId,
      args: [input],
      typedSearchAttributes: searchAttributes(row.id, row.config, row.status),
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: workflowSummary(row.id, row.config),
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
 * Validates and records a job (`requested`), then starts its workflow, through
 * the same path a workflow started with a kind and config records its own
 * (src/store/new-job.ts). If the process dies between the two, reconciliation
 * starts the workflow later. A config naming an endpoint outside the
 * allow-list is refused (EndpointRefusedError, an InvalidConfigError naming
 * the field) before anything is recorded.
 */
export async function createJob(
  store: JobRecords,
  client: Client,
  kind: JobKind,
  rawConfig: unknown,
  opts: CreateOptions,
): Promise<number> {
  const allowed = opts.allowedEndpoints ?? loadSettings().aws.allowedEndpoints!;
  const { jobId, job } = await recordNewJob(store, kind, rawConfig, allowed);
  await startJobWorkflow(
    client,
    { id: jobId, config: job, status: 'requested', workflowId: workflowIdFor(jobId) },
    opts,
  );
  return jobId;
}

/** The live progress of a job's workflow (by its id: JobRow.workflowId), or null when no run is open. */
export async function queryProgress(client: Client, workflowId: string): Promise<JobProgress | null> {
  try {
    const handle = client.workflow.getHandle(workflowId);
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') return null;
    return await handle.query(statusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

const UPDATES = { pause: pauseUpdate, resume: resumeUpdate, stop: stopUpdate };

/**
 * Pause, resume or stop a job: an Update the workflow's validator refuses
 * (IllegalRequestError, with the reason) when the job's state does not allow
 * it. An accepted pause or resume returns once the job row holds the new
 * status; a stop once the job is draining.
 */
export async function controlJob(
  store: JobRecords,
  client: Client,
  jobId: number,
  request: ControlRequest,
): Promise<JobProgress> {
  const row = await store.requireJob(jobId);
  const refuse = (status: JobStatus) => {
    const why = refusal(request, jobId, status, false);
    if (why !== null) throw new IllegalRequestError(why);
  };
  if ((await queryProgress(client, row.workflowId)) === null) {
    refuse(row.status);
    throw new IllegalRequestError(`job ${jobId} has no running workflow; run \`reconcile\` first`);
  }
  try {
    return await client.workflow.getHandle(row.workflowId).executeUpdate(UPDATES[request]);
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new IllegalRequestError(err.cause?.message ?? err.message);
    }
    if (err instanceof WorkflowNotFoundError) {
      // The run ended meanwhile: the row has its final status.
      refuse((await store.requireJob(jobId)).status);
    }
    throw err;
  }
}

/**
 * CLP's terminate: a running or paused job gets the stop request (it ingests
 * nothing more, flushes, awaits its compression jobs, ends `finished`); a job
 * that is already stopping, finished or failed answers its (coming) status.
 * A job without an open run gets one that drains it, as reconciliation would.
 */
export async function terminateJob(
  store: JobRecords,
  client: Client,
  jobId: number,
  opts: StartOptions,
): Promise<TerminalStatus> {
  const row = await store.requireJob(jobId);
  if (isOver(row.status)) return row.status;
  let live: JobProgress | null | undefined;
  try {
    live = await queryProgress(client, row.workflowId);
  } catch (err) {
    if (!(err instanceof QueryNotRegisteredError)) throw err;
    live = undefined; // a run is open but still starting: a stop signal waits for it
  }
  if (live === null) {
    if (await startJobWorkflow(client, row, { ...opts, drain: true })) return 'finished';
  } else if (live) {
    if (hasFailed(live.status)) return 'failed';
    if (isOver(live.status) || live.stopRequested) return 'finished';
  }
  await client.workflow.getHandle(row.workflowId).signal(stopSignal);
  return 'finished';
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
  store: JobRecords,
  client: Client,
  taskQueue: string,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, started: [], drained: [] };
  for (const row of await store.listJobs({ status: [...ACTIVE_STATUSES] })) {
    report.checked += 1;
    const state = await workflowState(client, row);
    if (state === 'open') continue;
    const drain = state === 'closed';
    if (await startJobWorkflow(client, row, { taskQueue, drain })) {
      (drain ? report.drained : report.started).push(row.id);
    }
  }
  return report;
}

async function workflowState(client: Client, row: JobRow): Promise<'open' | 'closed' | 'missing'> {
  try {
    const desc = await client.workflow.getHandle(row.workflowId).describe();
    return desc.status.name === 'RUNNING' ? 'open' : 'closed';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'missing';
    throw err;
  }
}
