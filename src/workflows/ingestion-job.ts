/**
 * The ingestion-job workflow: one long-running execution per ingestion job.
 *
 * Temporal's history is the journal of control (what the job decided to do
 * next); the CLP DB is the record of data (which files exist and where each
 * one is). The job's state, handlers and loops are in IngestionJobRun
 * (ingestion-job-run.ts), reading its input with its kind's reader (src/sources/<kind>/workflow.ts);
 * the activities it calls and their timeouts are in activity-proxies.ts.
 */
import { ApplicationFailure, log, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { registerJob } from './activity-proxies';
import { IngestionJobRun } from './ingestion-job-run';
import { failureMessage } from './run-state';
import { oneLine, SA, type IngestionJobInput, type JobProgress, type NewJobInput } from './messages';

/**
 * A workflow started with a job kind and config (from any Temporal client)
 * records its job first, once, and goes on as one started with the job's id.
 */
async function registered(input: NewJobInput): Promise<IngestionJobInput> {
  const { workflowId, firstExecutionRunId } = workflowInfo();
  let r;
  try {
    r = await registerJob.executeWithOptions({ summary: oneLine(`record the ${String(input.kind)} job`) }, [
      { workflowId, firstRunId: firstExecutionRunId },
      input,
    ]);
  } catch (err) {
    const message = failureMessage(err);
    log.error('the job could not be created', { error: message });
    throw ApplicationFailure.nonRetryable(message, 'InvalidIngestionJob');
  }
  log.info('recorded the job', { jobId: r.jobId });
  upsertSearchAttributes([
    { key: SA.jobId, value: r.jobId },
    { key: SA.kind, value: r.job.kind },
    { key: SA.dataset, value: r.job.config.dataset },
    { key: SA.bucket, value: r.bucket },
    { key: SA.status, value: 'requested' },
  ]);
  return { jobId: r.jobId, job: r.job, maxHistoryEvents: input.maxHistoryEvents };
}

export async function ingestionJob(request: IngestionJobInput | NewJobInput): Promise<JobProgress> {
  const input = 'jobId' in request ? request : await registered(request);
  return new IngestionJobRun(input).run();
}
