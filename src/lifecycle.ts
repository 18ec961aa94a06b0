/**
 * The ingestion job's lifecycle, in one place: its statuses, the moves its
 * DB row may make between them, and the questions everything else asks of a
 * status (is it over? may it be paused? is it stopping?). The store refuses
 * an illegal move with IllegalTransitionError; the workflow, the clients
 * (CLI, REST), the dashboard (through each job's `allowed_requests`) and the
 * DDL's status enum all derive from this module. It imports nothing, so the
 * workflow bundle can use it.
 *
 *   requested ──► running ◄──► paused
 *       │            │            │
 *       └──► failed ◄┴──► finished◄┘
 *
 * A requested job becomes running before anything else (its workflow's first
 * activity moves it), so it never finishes without having run: CLP's
 * log-ingestor refuses requested → finished as well.
 */

export const JOB_STATUSES = ['requested', 'running', 'paused', 'failed', 'finished'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A job in one of these has (or is owed) an open workflow and holds its source against conflicting jobs. */
export const ACTIVE_STATUSES = ['requested', 'running', 'paused'] as const satisfies readonly JobStatus[];

/** A job in one of these is over: nothing moves it any more. */
export const TERMINAL_STATUSES = ['finished', 'failed'] as const satisfies readonly JobStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

/** The statuses a job's row may move to from each status. */
export const TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  requested: ['running', 'failed'],
  running: ['paused', 'finished', 'failed'],
  paused: ['running', 'finished', 'failed'],
  finished: [],
  failed: [],
};

/** A move the lifecycle does not allow (e.g. out of a terminal status). */
export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(
    readonly jobId: number,
    readonly from: JobStatus,
    readonly to: JobStatus,
  ) {
    super(`job ${jobId} is ${from}; it cannot become ${to}`);
  }
}

/** Whether a row in `from` may move to `to`; staying put is always allowed (a retried move is a no-op). */
export function canMove(from: JobStatus, to: JobStatus): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

export function isActive(status: JobStatus): boolean {
  return (ACTIVE_STATUSES as readonly JobStatus[]).includes(status);
}

/** The job is over (finished or failed). */
export function isOver(status: JobStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly JobStatus[]).includes(status);
}

export function isPaused(status: JobStatus): boolean {
  return status === 'paused';
}

export function hasFailed(status: JobStatus): boolean {
  return status === 'failed';
}

/** A stop was accepted and the job, still active, is draining. */
export function isStopping(status: JobStatus, stopRequested: boolean): boolean {
  return stopRequested && isActive(status);
}

/** A status as users see it: an active job that is draining after a stop is "stopping". */
export function shownStatus(status: JobStatus, stopRequested: boolean): JobStatus | 'stopping' {
  return isStopping(status, stopRequested) ? 'stopping' : status;
}

/** The status a job has once its workflow started it: a requested job runs; any other keeps its status. */
export function statusOnStart(status: JobStatus): JobStatus {
  return status === 'requested' ? 'running' : status;
}

/** The status a job ends with once it has drained: finished, unless it failed. */
export function statusWhenDrained(status: JobStatus): TerminalStatus {
  return hasFailed(status) ? 'failed' : 'finished';
}

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
  const what = `job ${jobId} is ${shownStatus(status, stopRequested)}`;
  if (stopRequested || !isActive(status)) {
    return `${what}; it cannot be ${request === 'stop' ? 'stopped' : `${request}d`}`;
  }
  if (request === 'pause' && status !== 'running') return `${what}; only a running job can be paused`;
  if (request === 'resume' && !isPaused(status)) return `${what}; only a paused job can be resumed`;
  return null;
}

export const canPause = (status: JobStatus, stopRequested: boolean) =>
  refusal('pause', 0, status, stopRequested) === null;
export const canResume = (status: JobStatus, stopRequested: boolean) =>
  refusal('resume', 0, status, stopRequested) === null;
export const canStop = (status: JobStatus, stopRequested: boolean) =>
  refusal('stop', 0, status, stopRequested) === null;

/** The requests a job in this state allows (the dashboard shows just these). */
export function allowedRequests(status: JobStatus, stopRequested: boolean): ControlRequest[] {
  return CONTROL_REQUESTS.filter((r) => refusal(r, 0, status, stopRequested) === null);
}

/** `ENUM('a', 'b')` for a list of values (the DDL of a status or kind column). */
export function sqlEnum(values: readonly string[]): string {
  return `ENUM(${values.map((v) => `'${v}'`).join(', ')})`;
}

/** The workflow id of a job our clients (CLI, REST) create: the row comes first, then its workflow. */
export function workflowIdFor(jobId: number): string {
  return `clp-ingestion-job-${jobId}`;
}
