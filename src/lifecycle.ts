/**
 * The ingestion job's lifecycle, defined once (the seed's state machine):
 * its statuses, which of them are active, how the job row may move between
 * them, and which requests (pause, resume, stop) each allows and why not.
 *
 * Everything else derives from this module: the DDL enum (schema.ts), the
 * store's types and queries, the workflow's Update validators, the clients
 * (CLI, REST) and the dashboard (through each job's `allowed_requests`).
 * It imports nothing, so the workflow bundle can use it.
 */

export const JOB_STATUSES = ['requested', 'running', 'paused', 'failed', 'finished'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A job in one of these has (or is owed) an open workflow and holds its source against conflicting jobs. */
export const ACTIVE_STATUSES = ['requested', 'running', 'paused'] as const satisfies readonly JobStatus[];

export function isActive(status: JobStatus): boolean {
  return (ACTIVE_STATUSES as readonly JobStatus[]).includes(status);
}

/** Which statuses the job row may move to each status from. */
export const ALLOWED_FROM: Record<JobStatus, readonly JobStatus[]> = {
  requested: [],
  running: ['requested', 'paused'],
  paused: ['running'],
  finished: ACTIVE_STATUSES,
  failed: ACTIVE_STATUSES,
};

/** What a user may ask of a running job. */
export const CONTROL_REQUESTS = ['pause', 'resume', 'stop'] as const;
export type ControlRequest = (typeof CONTROL_REQUESTS)[number];

/** The status a granted pause or resume gives the job (a stop drains it, then it is finished). */
export const REQUEST_TARGET = { pause: 'paused', resume: 'running' } as const satisfies Record<
  Exclude<ControlRequest, 'stop'>,
  JobStatus
>;

/**
 * Why `request` is refused for job `jobId` in this state, or null when it is
 * allowed. `stopRequested`: a stop was accepted and the job is draining.
 */
export function refusal(
  request: ControlRequest,
  jobId: number,
  status: JobStatus,
  stopRequested: boolean,
): string | null {
  const what = `job ${jobId} is ${stopRequested && isActive(status) ? 'stopping' : status}`;
  if (stopRequested || !isActive(status)) {
    return `${what}; it cannot be ${request === 'stop' ? 'stopped' : `${request}d`}`;
  }
  if (request === 'pause' && status !== 'running') return `${what}; only a running job can be paused`;
  if (request === 'resume' && status !== 'paused') return `${what}; only a paused job can be resumed`;
  return null;
}

/** The requests a job in this state allows (the dashboard shows just these). */
export function allowedRequests(status: JobStatus, stopRequested: boolean): ControlRequest[] {
  return CONTROL_REQUESTS.filter((r) => refusal(r, 0, status, stopRequested) === null);
}

/** `ENUM('a', 'b')` for a list of values (the DDL of a status column). */
export function sqlEnum(values: readonly string[]): string {
  return `ENUM(${values.map((v) => `'${v}'`).join(', ')})`;
}

/** The workflow id of a job our clients (CLI, REST) create: the row comes first, then its workflow. */
export function workflowIdFor(jobId: number): string {
  return `clp-ingestion-job-${jobId}`;
}
