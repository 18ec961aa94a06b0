/**
 * "Version 2" of the ingestion-job workflow for the upgrade test: the real
 * workflow with a changed command sequence (a timer before anything else) and
 * no patched(). A v1 history replayed on it fails; it may only run new runs.
 */
import { sleep } from '@temporalio/workflow';
import { ingestionJob as v1 } from '../../src/workflows/ingestion-job';

export async function ingestionJob(request: Parameters<typeof v1>[0]) {
  await sleep(1);
  return v1(request);
}
