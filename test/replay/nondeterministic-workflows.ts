/**
 * The real workflow with one careless edit: an extra activity call before the
 * first. Replaying recorded histories against it must fail, which proves the
 * replay test catches nondeterministic changes.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../src/activities';
import { ingestionJob as real } from '../../src/workflows/ingestion-job';
import type { IngestionJobInput } from '../../src/workflows/messages';

const { getBufferSnapshot } = proxyActivities<Activities>({ startToCloseTimeout: '1m' });

export async function ingestionJob(input: IngestionJobInput) {
  await getBufferSnapshot(input.jobId); // the careless edit: not behind patched()
  return real(input);
}
