/**
 * Jobs started and steered from Temporal itself, on the real stack: the pinned
 * Temporal CLI's `workflow start` and `workflow update execute`, and the
 * TypeScript client's Updates. A workflow started with a job kind and config
 * records its own job; pause, resume and stop are Updates whose validators
 * refuse an illegal request with the reason.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { controlJob, IllegalRequestError } from '../../src/job-control';
import { NotFoundError } from '../../src/store/ingestion-store';
import { TABLES } from '../../src/store/schema';
import { INGESTION_JOB_WORKFLOW, SA, workflowIdFor } from '../../src/workflows/messages';
import { createTestBucket, putObjects, uniqueName, jsonEvents } from '../support/stack';
import {
  completeCompressionJobs,
  startHarness,
  stopAndFinish,
  waitForStatus,
  type Harness,
} from '../support/worker';
import { eventually } from '../support/wait';
import { s3ScannerConfig } from '../support/configs';

const STACK = path.join(__dirname, '..', '..', 'scripts', 'stack.sh');
const run = promisify(execFile);

let h: Harness;
let bucket: string;

beforeAll(async () => {
  h = await startHarness();
  bucket = await createTestBucket(h.s3);
});
afterAll(() => h?.close());

/** The pinned Temporal CLI (scripts/stack.sh temporal ...), in the suite's namespace. */
async function temporal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('bash', [STACK, 'temporal', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `temporal workflow update execute --name <update> --workflow-id <id>` and any further flags. */
const update = (name: string, workflowId: string, ...more: string[]) =>
  temporal(['workflow', 'update', 'execute', '--name', name, '--workflow-id', workflowId, ...more]);

const put = (keys: string[]) => putObjects(h.s3, bucket, keys, { body: (key) => jsonEvents(key, 1) });

const s3Config = (prefix: string) => s3ScannerConfig(bucket, prefix, { scanning_interval_sec: 0.5 });

async function jobsOfWorkflow(workflowId: string): Promise<number[]> {
  const [rows] = await h.pool.query<any[]>(`SELECT id FROM ${TABLES.ingestionJobs} WHERE workflow_id = ?`, [
    workflowId,
  ]);
  return rows.map((r) => Number(r.id));
}

test('a job started with `temporal workflow start` records itself, ingests end to end and is stopped with `temporal workflow update execute`', async () => {
  const keys = ['cli/a.log', 'cli/b.log', 'cli/c.log'];
  await put(keys);
  const workflowId = uniqueName('my-job');
  const started = await temporal([
    'workflow',
    'start',
    '--task-queue',
    h.taskQueue,
    '--type',
    INGESTION_JOB_WORKFLOW,
    '--workflow-id',
    workflowId,
    '--input',
    JSON.stringify({ kind: 's3_scanner', config: s3Config('cli/') }),
  ]);
  expect(started).toMatchObject({ code: 0 });

  // The job is in the record, findable from the workflow and back.
  const job = await eventually(() => h.store.requireJobOfWorkflow(workflowId), 30_000, 'the job row');
  expect(job.workflowId).toBe(workflowId);
  expect(job.kind).toBe('s3_scanner');
  expect((await h.store.listJobs()).map((j) => j.id)).toContain(job.id);
  await eventually(
    async () =>
      (await h.client.workflow.getHandle(workflowId).describe()).typedSearchAttributes.get(SA.jobId),
    30_000,
    'the job id search attribute',
  );
  const desc = await h.client.workflow.getHandle(workflowId).describe();
  expect(desc.typedSearchAttributes.get(SA.jobId)).toBe(job.id);
  expect(desc.typedSearchAttributes.get(SA.bucket)).toBe(bucket);

  await eventually(
    async () => (await h.store.requireJob(job.id)).numFilesIngested === keys.length,
    30_000,
    'files',
  );
  // A refused Update from the CLI says why.
  const refused = await update('resume', workflowId);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain(`job ${job.id} is running; only a paused job can be resumed`);

  const stopped = await update('stop', workflowId, '-o', 'json');
  expect(stopped).toMatchObject({ code: 0 });
  expect(JSON.parse(stopped.stdout).result).toMatchObject({ jobId: job.id, stopRequested: true });
  await eventually(
    async () => {
      await completeCompressionJobs(h.pool);
      return (await h.store.requireJob(job.id)).status === 'finished';
    },
    60_000,
    'finished',
  );
  const done = await h.store.requireJob(job.id);
  expect(done.numFilesCompressed).toBe(keys.length);
  expect(await jobsOfWorkflow(workflowId)).toEqual([job.id]);
  // The workflow completes with the job's final progress.
  expect(await h.client.workflow.getHandle(workflowId).result()).toMatchObject({
    jobId: job.id,
    status: 'finished',
    filesCompressed: keys.length,
  });
});

test('a workflow started from a TypeScript client with a config that cannot be a job fails naming the field or the conflict, and records nothing', async () => {
  const active = await h.create('s3_scanner', s3Config('taken/'));
  await waitForStatus(h, active, 'running');
  const before = (await h.store.listJobs()).length;
  const cases: Array<[unknown, RegExp]> = [
    [{ kind: 's3_scanner', config: { ...s3Config('bad/'), bogus: 1 } }, /unknown field "bogus"/],
    [
      { kind: 's3_scanner', config: { ...s3Config('bad/'), scanning_interval_sec: -1 } },
      /scanning_interval_sec/,
    ],
    [{ kind: 'ftp', config: {} }, /kind: unknown job kind "ftp"/],
    [
      { kind: 's3_scanner', config: s3Config('taken/deeper/') },
      new RegExp(`conflicts with active ingestion job ${active}`),
    ],
  ];
  for (const [input, reason] of cases) {
    const workflowId = uniqueName('bad-job');
    const handle = await h.client.workflow.start(INGESTION_JOB_WORKFLOW, {
      taskQueue: h.taskQueue,
      workflowId,
      args: [input as any],
    });
    const err = await handle.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause?.message).toMatch(reason);
    await expect(h.store.requireJobOfWorkflow(workflowId)).rejects.toThrow(NotFoundError);
  }
  expect((await h.store.listJobs()).length).toBe(before);
  await controlJob(h.store, h.client, active, 'stop');
});

test('pause, resume and stop are Updates: refused with the reason when illegal, and an accepted pause or resume has reached the job row when it returns', async () => {
  // A file whose compression job nothing completes yet keeps a stopped job draining.
  await put(['steer/a.log']);
  const jobId = await h.create('s3_scanner', s3Config('steer/'));
  await waitForStatus(h, jobId, 'running');
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesIngested === 1, 30_000, 'the file');

  await expect(controlJob(h.store, h.client, jobId, 'resume')).rejects.toThrow(
    new IllegalRequestError(`job ${jobId} is running; only a paused job can be resumed`),
  );
  const paused = await controlJob(h.store, h.client, jobId, 'pause');
  expect(paused.status).toBe('paused');
  // No waiting: the Update returned after the row took the status.
  expect((await h.store.requireJob(jobId)).status).toBe('paused');
  await expect(controlJob(h.store, h.client, jobId, 'pause')).rejects.toThrow(
    `job ${jobId} is paused; only a running job can be paused`,
  );

  // From the pinned Temporal CLI, by the job's workflow id.
  const resumed = await update('resume', workflowIdFor(jobId));
  expect(resumed).toMatchObject({ code: 0 });
  expect((await h.store.requireJob(jobId)).status).toBe('running');

  const stopping = await controlJob(h.store, h.client, jobId, 'stop');
  expect(stopping.stopRequested).toBe(true);
  await expect(controlJob(h.store, h.client, jobId, 'pause')).rejects.toThrow(
    `job ${jobId} is stopping; it cannot be paused`,
  );
  await expect(controlJob(h.store, h.client, jobId, 'stop')).rejects.toThrow(
    `job ${jobId} is stopping; it cannot be stopped`,
  );
  await eventually(
    async () => {
      await completeCompressionJobs(h.pool);
      return (await h.store.requireJob(jobId)).status === 'finished';
    },
    60_000,
    'finished',
  );
  await expect(controlJob(h.store, h.client, jobId, 'resume')).rejects.toThrow(
    `job ${jobId} is finished; it cannot be resumed`,
  );
});

test("the Web UI reads each job's workflow: a static summary, live current details, and a summary on every activity", async () => {
  const keys = ['ui/a.log', 'ui/b.log', 'ui/c.log'];
  await put(keys);
  const jobId = await h.create('s3_scanner', { ...s3Config('ui/'), settle_delay_sec: 0 });
  const handle = h.client.workflow.getHandle(workflowIdFor(jobId));
  expect(await (await handle.describe()).staticSummary()).toBe(
    `ingestion job ${jobId}: s3_scanner s3://${bucket}/ui/ -> dataset default`,
  );
  // Three files recorded and submitted in one compression job that nothing completes yet.
  const details = await eventually(
    async () => {
      const d = (await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata'))
        .currentDetails;
      return d?.includes('| 3 | 3 | 0 | 0 | 0 | 0 | 1 |') ? d : null;
    },
    30_000,
    'current details after the flush',
  );
  expect(details).toContain(
    `**ingestion job ${jobId}** (s3_scanner): s3://${bucket}/ui/ → dataset \`default\` · **running**`,
  );

  await stopAndFinish(h, jobId);
  const json = (data: Uint8Array | null | undefined) =>
    JSON.parse(Buffer.from(data!).toString('utf8')) as unknown;
  // Activities scheduled on the task queue, and local ones (startJob: a marker of the first workflow task).
  const summaries = (await handle.fetchHistory()).events!.flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    const activity =
      e.activityTaskScheduledEventAttributes?.activityType!.name ??
      (marker?.markerName === 'core_local_activity'
        ? (json(marker.details!.data!.payloads![0].data) as { activity_type: string }).activity_type
        : null);
    return activity ? [{ activity, summary: json(e.userMetadata!.summary!.data) as string }] : [];
  });
  expect(summaries.length).toBeGreaterThan(3);
  expect(summaries).toEqual(
    expect.arrayContaining([
      { activity: 'startJob', summary: `start job ${jobId}: recover its buffer` },
      { activity: 'scanS3', summary: `pages of s3://${bucket}/ui/` },
      { activity: 'scanS3', summary: 'pages after ui/c.log' },
      { activity: 'flushBuffer', summary: expect.stringMatching(/^flush \d+: 3 files, \d+ bytes$/) },
      { activity: 'awaitCompressionJobs', summary: 'await 1 compression job(s)' },
      { activity: 'setJobStatus', summary: 'job row: finished' },
    ]),
  );
});
