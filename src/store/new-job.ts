/**
 * The one path by which a job is recorded, whoever asks for it: our CLI and
 * REST API (the row first, then the workflow) and a workflow started from any
 * Temporal client with a job kind and config (the workflow records its row).
 * The config is validated (an InvalidConfigError names the field), its
 * endpoints checked against the allow-list (EndpointRefusedError), and the job
 * recorded unless it conflicts with an active job (ConflictError names it).
 */
import { parseJobConfig, type JobConfig, type JobKind } from '../config/job-config';
import { checkJobEndpoints, type EndpointAllowList } from '../security/endpoints';
import type { WorkflowOrigin } from './records';
import type { JobRecords } from './roles';

export interface NewJob {
  jobId: number;
  job: JobConfig;
}

export async function recordNewJob(
  store: Pick<JobRecords, 'createJob'>,
  kind: JobKind,
  rawConfig: unknown,
  allowedEndpoints: EndpointAllowList,
  origin?: WorkflowOrigin,
): Promise<NewJob> {
  const job = parseJobConfig(kind, rawConfig);
  checkJobEndpoints(job, allowedEndpoints);
  return { jobId: await store.createJob(job, origin), job };
}
