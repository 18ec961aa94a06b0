/**
 * Start-up reconciliation: when the DB and Temporal disagree, the DB (the
 * user-visible record) wins. Each disagreement is produced on purpose.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseJobConfig } from '../../src/config/job-config';
import { reconcileJobs } from '../../src/job-control';
import { workflowIdFor } from '../../src/workflows/messages';
import { createTestBucket, putObjects } from '../support/stack';
import { completeCompressionJobs } from '../support/worker';
import { eventually } from '../support/wait';
import { ROOT, startRig, type Rig } from './support';
import { s3ScannerConfig } from '../support/configs';

const run = promisify(execFile);
jest.setTimeout(10 * 60_000);

let rig: Rig;
let bucket: string;

beforeAll(async () => {
  rig = await startRig();
  bucket = await createTestBucket(rig.s3);
  // These tests move compression jobs themselves; the rig's executor would race them.
  await rig.executor.kill('SIGTERM');
});
afterAll(() => rig?.close());

const s3Job = (prefix: string, timeoutSec = 1) =>
  parseJobConfig(
    's3_scanner',
    s3ScannerConfig(bucket, prefix, { buffer_config: { timeout_sec: timeoutSec } }),
  );

const put = (keys: string[]) => putObjects(rig.s3, bucket, keys);

async function workflowStatus(jobId: number): Promise<string | null> {
  try {
    return (await rig.client.workflow.getHandle(workflowIdFor(jobId)).describe()).status.name;
  } catch {
    return null;
  }
}

async function cliReconcile(): Promise<{ checked: number; started: number[]; drained: number[] }> {
  const { stdout } = await run('node', [path.join(ROOT, 'dist', 'client', 'cli.js'), 'reconcile', '--json'], {
    env: { ...process.env, CLP_DB_NAME: rig.settings.db.database, CLP_INGESTOR_TASK_QUEUE: rig.taskQueue },
  });
  return JSON.parse(stdout);
}

test('a job row left `requested` (its creator died before starting the workflow) gets its workflow at worker start-up', async () => {
  await rig.worker.kill('SIGKILL');
  await put(['orphan/a.log', 'orphan/b.log']);
  // What createJob does before it starts the workflow, and then the creator "dies".
  const jobId = await rig.store.createJob(s3Job('orphan/'));
  expect(await workflowStatus(jobId)).toBeNull();
  rig.worker.start(); // start-up reconciles
  await eventually(
    async () => (await rig.store.requireJob(jobId)).numFilesIngested === 2,
    60_000,
    'orphan ingests',
  );
  expect(await workflowStatus(jobId)).toBe('RUNNING');
  expect((await rig.store.requireJob(jobId)).status).toBe('running');
  // Reconciling again changes nothing: the workflow is open.
  const again = await cliReconcile();
  expect(again.started).not.toContain(jobId);
  expect(again.drained).not.toContain(jobId);
});

test('a job whose workflow was terminated by hand is drained: buffered files flushed, submitted ones awaited, row finished', async () => {
  await put(['manual/a.log', 'manual/b.log', 'manual/c.log']);
  const jobId = await rig.store.createJob(s3Job('manual/', 3600));
  await reconcileJobs(rig.store, rig.client, rig.taskQueue);
  await eventually(
    async () => (await rig.store.countFilesByStatus(jobId)).buffered === 3,
    60_000,
    'buffered',
  );
  // An operator terminates the workflow from the Temporal CLI (as from the Web UI).
  await run('bash', [
    path.join(ROOT, 'scripts', 'stack.sh'),
    'temporal',
    'workflow',
    'terminate',
    '-w',
    workflowIdFor(jobId),
    '--reason',
    'operator',
  ]);
  await eventually(async () => (await workflowStatus(jobId)) === 'TERMINATED', 30_000, 'terminated');
  expect((await rig.store.requireJob(jobId)).status).toBe('running'); // the disagreement

  const report = await cliReconcile();
  expect(report.drained).toEqual([jobId]);
  // The draining run flushes the buffer once and awaits the compression job.
  await eventually(
    async () => (await rig.store.countFilesByStatus(jobId)).submitted === 3,
    60_000,
    'flushed',
  );
  expect((await rig.store.requireJob(jobId)).status).toBe('running');
  await completeCompressionJobs(rig.pool);
  await eventually(async () => (await rig.store.requireJob(jobId)).status === 'finished', 60_000, 'finished');
  const job = await rig.store.requireJob(jobId);
  expect(job.numFilesCompressed).toBe(3);
  const [cjs] = await rig.pool.query<any[]>(
    'SELECT DISTINCT compression_job_id AS id FROM log_ingestor_ingested_files WHERE ingestion_job_id = ?',
    [jobId],
  );
  expect(cjs).toHaveLength(1); // submitted once
  // Finished jobs are left alone by later reconciliations.
  const later = await cliReconcile();
  expect([...later.started, ...later.drained]).not.toContain(jobId);
});
