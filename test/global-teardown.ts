/**
 * Once per jest run, after every test file: no workflow of this run may still
 * be running (a job whose workflow outlives its test's worker runs forever on
 * a task queue nobody polls). Any left are terminated and named, and the run
 * exits with status 1.
 * Workflows of a concurrent run (another tag) are left alone.
 */
import { Client, Connection } from '@temporalio/client';
import { connectConfig, temporalAddress } from '../src/temporal';
import { probeTcp } from '../src/dependencies';
import { openWorkflowsOfRun } from './support/namespace';
import { terminateWorkflow } from './support/stack';

export default async function globalTeardown(): Promise<void> {
  const run = process.env.CLP_INGESTOR_TEST_RUN;
  const namespace = process.env.TEMPORAL_NAMESPACE;
  if (!run || !namespace) return;
  try {
    await probeTcp(temporalAddress(), 2_000);
  } catch {
    return; // no Temporal, no workflows (the setup said so)
  }
  const connection = await Connection.connect(connectConfig().connectionOptions);
  try {
    const client = new Client({ connection, namespace });
    const open = await openWorkflowsOfRun(client, run);
    for (const wf of open) {
      await terminateWorkflow(client, wf.workflowId, `left running by test run ${run}`, wf.runId);
    }
    if (open.length > 0) {
      const lines = open.map(
        (wf) =>
          `  ${wf.workflowId} (${wf.type}, task queue ${wf.taskQueue}, started ${wf.startTime.toISOString()})`,
      );
      // Fail the run without throwing: a throwing teardown would keep jest from
      // writing its results (--json --outputFile), which CI counts.
      process.exitCode = 1;
      console.error(
        `\nglobal teardown: FAILED: ${open.length} workflow(s) of this run were still running in ` +
          `namespace ${namespace}; terminated them:\n${lines.join('\n')}\n`,
      );
    }
  } finally {
    await connection.close();
  }
}
