/**
 * The ingestion-job workflow's logic, fast and without the shared stack: the
 * bundled workflow code on a private Temporal dev server (the stack's pinned
 * CLI, on 127.0.0.1, an in-memory database, gone after the file) with the
 * in-memory activities of fake-activities.ts. Every wait is on an event (a
 * call the fake recorded, an Update's result, the workflow's result).
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  Worker,
  type LogEntry,
  type WorkflowBundle,
} from '@temporalio/worker';
import type { ingestionJob } from '../../src/workflows/ingestion-job';
import {
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  SA,
  statusQuery,
  stopSignal,
  stopUpdate,
  type IngestionJobInput,
  type NewJobInput,
} from '../../src/workflows/messages';
import { FakeJobs, type FakeJob } from './fake-activities';
import { temporalCli } from './temporal-cli';

const taskQueue = 'ingestion-job-workflow-test';
const fakes = new FakeJobs();
const logs: LogEntry[] = [];
let env: TestWorkflowEnvironment | undefined;
let worker: Worker | undefined;
let bundle: WorkflowBundle;
let running: Promise<void> | undefined;

beforeAll(async () => {
  // The workflow's own logs are kept for assertions, not printed.
  const logger = new DefaultLogger('INFO', (entry) => logs.push(entry));
  Runtime.install({
    logger,
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  const [started, bundled] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCli() },
        ip: '127.0.0.1',
        searchAttributes: Object.values(SA),
      },
    }),
    bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger }),
  ]);
  env = started;
  bundle = bundled;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: fakes.activities,
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

/** An S3 scanner's config: scanned every 0.2 s, nothing flushed by size or age unless a test says so. */
function scanner(buffer: { flush_threshold_bytes?: number; timeout_sec?: number } = {}, more = {}) {
  return {
    bucket_name: 'logs',
    key_prefix: 'app/',
    scanning_interval_sec: 0.2,
    settle_delay_sec: 0,
    buffer_config: { flush_threshold_bytes: 1_000_000, timeout_sec: 3600, ...buffer },
    ...more,
  };
}

let fileNo = 0;
const file = (bytes: number) => ({ key: `app/${++fileNo}.log`, bytes });

function start(fake: FakeJob, more: Partial<IngestionJobInput> = {}) {
  return env!.client.workflow.start<typeof ingestionJob>('ingestionJob', {
    taskQueue,
    workflowId: `ingestion-job-${fake.jobId}`,
    args: [{ jobId: fake.jobId, job: fake.job, ...more }],
  });
}

/** The reason a refused Update gives (its validator's message). */
async function refusalOf(update: Promise<unknown>): Promise<string> {
  const err = await update.then(
    () => new Error('the Update was accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return String((err as WorkflowUpdateFailedError).cause?.message);
}

/** The types of a run's history events (EVENT_TYPE_...). */
async function eventTypes(handle: WorkflowHandle, runId?: string): Promise<string[]> {
  const history = await env!.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
  const { events } = JSON.parse(historyToJSON(history)) as { events: { eventType: string }[] };
  return events.map((e) => e.eventType);
}

const scans = (fake: FakeJob) => fake.callsOf('scanS3');
const flushes = (fake: FakeJob) => fake.callsOf('flushBuffer');

test('the buffer is flushed when it reaches flush_threshold_bytes, with every file in it', async () => {
  const fake = fakes.create('s3_scanner', scanner({ flush_threshold_bytes: 1000 }));
  fake.add(file(400), file(400));
  const handle = await start(fake);
  // Below the threshold the job goes on scanning: two more scans, still no flush.
  await fake.until('two scans after the first files', () => scans(fake).length >= 3);
  fake.add(file(400));
  const flush = await fake.until('a flush', () => flushes(fake)[0]);
  expect(flush.args).toEqual([fake.jobId, fake.job, 0]);
  expect(flush.result).toMatchObject({ numFiles: 3 });
  await fake.until('the files compressed', () => fake.snapshot().outstandingCompressionJobs === 0);
  expect(flushes(fake)).toHaveLength(1);

  const progress = await handle.executeUpdate(stopUpdate);
  expect(progress.stopRequested).toBe(true);
  const result = await handle.result();
  expect(result).toMatchObject({
    status: 'finished',
    filesRecorded: 3,
    filesSubmitted: 3,
    filesCompressed: 3,
    compressionJobsSubmitted: 1,
    buffer: { files: 0, bytes: 0 },
  });
  expect(fake.status).toBe('finished');
});

test('a buffer below the threshold is flushed timeout_sec after its oldest file was recorded', async () => {
  const fake = fakes.create('s3_scanner', scanner({ timeout_sec: 1 }));
  fake.add(file(10));
  const handle = await start(fake);
  const flush = await fake.until('a flush', () => flushes(fake)[0]);
  const recordedAt = scans(fake)[0].at;
  expect(flush.at - recordedAt).toBeGreaterThanOrEqual(950);
  expect(flush.at - recordedAt).toBeLessThan(10_000);
  expect(flush.result).toMatchObject({ numFiles: 1 });
  await handle.signal(stopSignal);
  expect(await handle.result()).toMatchObject({ status: 'finished', filesCompressed: 1 });
});

test('pause, resume and stop as Updates: refused with the reason when the state does not allow them, else applied once the row holds the status', async () => {
  const fake = fakes.create('s3_scanner', scanner({ timeout_sec: 1 }));
  fake.add(file(10));
  const handle = await start(fake);
  await fake.until('the first scan', () => scans(fake)[0]);
  const id = fake.jobId;
  expect(await refusalOf(handle.executeUpdate(resumeUpdate))).toBe(
    `job ${id} is running; only a paused job can be resumed`,
  );

  const paused = await handle.executeUpdate(pauseUpdate);
  expect(paused.status).toBe('paused');
  expect(fake.status).toBe('paused');
  const pausedAt = fake.calls.length;
  expect(await refusalOf(handle.executeUpdate(pauseUpdate))).toBe(
    `job ${id} is paused; only a running job can be paused`,
  );
  // A paused job scans nothing, but what it holds is still flushed on time (here after 1 s).
  await fake.until('the flush by timeout', () => flushes(fake)[0]);
  expect(fake.calls.slice(pausedAt).filter((c) => c.name === 'scanS3')).toEqual([]);

  const resumed = await handle.executeUpdate(resumeUpdate);
  expect(resumed.status).toBe('running');
  expect(fake.status).toBe('running');
  await fake.until('a scan after the resume', () =>
    scans(fake).find((c) => c.rowStatus === 'running' && c.at > flushes(fake)[0].at),
  );

  // A stop drains: the buffered file is flushed at once, the job finishes when compression ends.
  fake.autoCompress = false;
  const scansBefore = scans(fake).length;
  fake.add(file(10));
  await fake.until(
    'the file recorded',
    () => scans(fake).length > scansBefore && fake.snapshot().files === 1,
  );
  const stopping = await handle.executeUpdate(stopUpdate);
  expect(stopping).toMatchObject({ status: 'running', stopRequested: true });
  await fake.until('the flush on stop', () => flushes(fake)[1]);
  expect(await refusalOf(handle.executeUpdate(stopUpdate))).toBe(
    `job ${id} is stopping; it cannot be stopped`,
  );
  expect(await refusalOf(handle.executeUpdate(pauseUpdate))).toBe(
    `job ${id} is stopping; it cannot be paused`,
  );
  fake.compress();
  expect(await handle.result()).toMatchObject({ status: 'finished', filesCompressed: 2 });
  expect(fake.status).toBe('finished');
  // A refused Update leaves no trace in the history; the three accepted ones do.
  const types = await eventTypes(handle);
  expect(types.filter((t) => t === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED')).toHaveLength(3);
  expect(types.filter((t) => t === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED')).toHaveLength(3);
});

test('pause, resume and stop as signals; one the state does not allow is ignored and the reason logged', async () => {
  const fake = fakes.create('s3_scanner', scanner());
  const handle = await start(fake);
  await fake.until('the row running', () => fake.status === 'running' && scans(fake)[0]);
  await handle.signal(pauseSignal);
  await fake.until('the row paused', () => fake.status === 'paused');
  await handle.signal(resumeSignal);
  await fake.until('the row running again', () => fake.status === 'running');

  fake.autoCompress = false;
  fake.add(file(10));
  await fake.until('the file recorded', () => fake.snapshot().files === 1);
  await handle.signal(stopSignal);
  await fake.until('the flush on stop', () => flushes(fake)[0]);
  await handle.signal(pauseSignal);
  const reason = `pause ignored: job ${fake.jobId} is stopping; it cannot be paused`;
  await fake.until('the ignored pause logged', () => logs.find((l) => l.message === reason), 10_000);
  expect(await handle.query(statusQuery)).toMatchObject({ status: 'running', stopRequested: true });
  fake.compress();
  expect(await handle.result()).toMatchObject({ status: 'finished', filesCompressed: 1 });
  expect(fake.callsOf('setJobStatus').map((c) => c.args[1])).toEqual([
    'running',
    'paused',
    'running',
    'finished',
  ]);
});

test('a non-retryable activity error fails the job: status and error on the row, what was buffered still flushed', async () => {
  const fake = fakes.create('s3_scanner', scanner());
  fake.add(file(10));
  const handle = await start(fake);
  await fake.until('the first scan', () => scans(fake)[0]);
  const message = 'cannot list s3://logs/app/: NoSuchBucket: The specified bucket does not exist';
  fake.failNextIngest = ApplicationFailure.nonRetryable(message, 'NonRecoverableIngestionError');
  const result = await handle.result();
  expect(result).toMatchObject({ status: 'failed', error: message, filesSubmitted: 1, filesCompressed: 1 });
  expect(fake.status).toBe('failed');
  expect(fake.error).toBe(message);
  expect(fake.callsOf('setJobStatus').at(-1)?.args).toEqual([fake.jobId, 'failed', message]);
  // Not retried: the failing scan was the last.
  expect(scans(fake).at(-1)?.error).toBe(message);
  expect(scans(fake).filter((c) => c.error)).toHaveLength(1);
});

test('at maxHistoryEvents the job continues as new, carrying its progress, flush sequence and row status', async () => {
  const fake = fakes.create('s3_scanner', scanner({ flush_threshold_bytes: 5 }));
  fake.add(file(10));
  const handle = await start(fake, { maxHistoryEvents: 40 });
  await fake.until('the first flush', () => flushes(fake)[0]);
  // The next run starts from the DB's snapshot, not from startJob.
  await fake.until('the next run', () => fake.callsOf('getBufferSnapshot')[0]);
  fake.add(file(10));
  await fake.until('the second flush', () => flushes(fake)[1]);
  await fake.until('the files compressed', () => fake.snapshot().outstandingCompressionJobs === 0);
  await handle.signal(stopSignal);
  const result = await handle.result();

  expect(result.runs).toBeGreaterThanOrEqual(2);
  expect(result).toMatchObject({
    status: 'finished',
    filesRecorded: 2,
    filesSubmitted: 2,
    filesCompressed: 2,
    compressionJobsSubmitted: 2,
  });
  expect(fake.callsOf('startJob')).toHaveLength(1);
  expect(flushes(fake).map((c) => c.args[2])).toEqual([0, 1]);
  // The row was set running once: the next run knows it holds that status.
  expect(fake.callsOf('setJobStatus').map((c) => c.args[1])).toEqual(['running', 'finished']);
  expect((await eventTypes(handle, handle.firstExecutionRunId)).at(-1)).toBe(
    'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
  );
});

test('a one-time job drains and finishes by itself once its input is read to the end', async () => {
  const fake = fakes.create('s3_scanner', scanner({}, { one_time: true }));
  fake.add(file(10), file(20), file(30));
  const handle = await start(fake);
  expect(await handle.result()).toMatchObject({
    status: 'finished',
    inputEnded: true,
    stopRequested: false,
    filesRecorded: 3,
    filesCompressed: 3,
  });
  expect(flushes(fake)).toHaveLength(1);
  expect(fake.status).toBe('finished');
});

test('started with a kind and config, the workflow records its own job first; an invalid config fails it', async () => {
  const handle = await env!.client.workflow.start<(input: NewJobInput) => ReturnType<typeof ingestionJob>>(
    'ingestionJob',
    {
      taskQueue,
      workflowId: 'ingestion-job-started-with-a-config',
      args: [{ kind: 's3_scanner', config: scanner({}, { one_time: true }) }],
    },
  );
  const result = await handle.result();
  const fake = fakes.registered(handle.workflowId)!;
  expect(fake.calls[0].args[0]).toEqual({
    workflowId: handle.workflowId,
    firstRunId: handle.firstExecutionRunId,
  });
  expect(result).toMatchObject({ jobId: fake.jobId, status: 'finished' });
  const attributes = (await handle.describe()).typedSearchAttributes;
  expect([SA.jobId, SA.kind, SA.bucket, SA.status].map((k) => attributes.get(k as never))).toEqual([
    fake.jobId,
    's3_scanner',
    'logs',
    'finished',
  ]);

  const invalid = await env!.client.workflow.start('ingestionJob', {
    taskQueue,
    workflowId: 'ingestion-job-with-an-invalid-config',
    args: [{ kind: 's3_scanner', config: { ...scanner(), bucket_name: 'No_Such_Name' } }],
  });
  await expect(invalid.result()).rejects.toMatchObject({
    cause: {
      type: 'InvalidIngestionJob',
      message: expect.stringMatching(/^cannot create the ingestion job: bucket_name: /),
    },
  });
});

test('a pause and a resume delivered in one workflow task leave the row mirroring later changes', async () => {
  // A worker of its own, stopped while the two signals arrive, so the next one gets both at once.
  const queue = `${taskQueue}-undone-change`;
  const ownWorker = () =>
    Worker.create({
      connection: env!.nativeConnection,
      taskQueue: queue,
      workflowBundle: bundle,
      activities: fakes.activities,
      maxCachedWorkflows: 0,
    });
  const fake = fakes.create('s3_scanner', scanner());
  const handle = await (
    await ownWorker()
  ).runUntil(async () => {
    const h = await env!.client.workflow.start<typeof ingestionJob>('ingestionJob', {
      taskQueue: queue,
      workflowId: `ingestion-job-${fake.jobId}`,
      args: [{ jobId: fake.jobId, job: fake.job }],
    });
    // The status mirror must be waiting for a change: its write of `running` seen by the
    // workflow, as two scans scheduled after that write show.
    await fake.until('the workflow setting the row running', () => fake.callsOf('setJobStatus')[0]);
    const since = fake.calls.length;
    await fake.until('two scans since', () => scans(fake).filter((c) => fake.calls.indexOf(c) >= since)[1]);
    return h;
  });
  await handle.signal(pauseSignal);
  await handle.signal(resumeSignal);
  const result = await (
    await ownWorker()
  ).runUntil(async () => {
    const scansBefore = scans(fake).length;
    await fake.until('scans after the two signals', () => scans(fake).length > scansBefore);
    await handle.signal(pauseSignal);
    await fake.until('the row paused', () => fake.status === 'paused');
    await handle.signal(stopSignal);
    return handle.result();
  });
  expect(result.status).toBe('finished');
  expect(fake.status).toBe('finished');
  expect(fake.callsOf('setJobStatus').map((c) => c.args[1])).toEqual(['running', 'paused', 'finished']);
});
