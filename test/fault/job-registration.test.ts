/**
 * A workflow started with a job kind and config records its own job: a worker
 * killed right after that row is committed, before the call returns, leaves
 * exactly one job, which the retried call finds and the workflow goes on with.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { INGESTION_JOB_WORKFLOW } from '../../src/workflows/messages';
import { TABLES } from '../../src/store/schema';
import { createTestBucket, uniqueName, jsonEvents } from '../support/stack';
import { eventually } from '../support/wait';
import { startRig, stopJob, waitAllCompressed, type Rig } from './support';

jest.setTimeout(5 * 60_000);

let rig: Rig;
let bucket: string;

beforeAll(async () => {
  rig = await startRig({ CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER: '1' });
  bucket = await createTestBucket(rig.s3);
});
afterAll(() => rig?.close());

test('a worker killed between the job row insert and the workflow next step leaves exactly one job, which ingests', async () => {
  for (const Key of ['reg/a.log', 'reg/b.log'])
    await rig.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: jsonEvents(Key, 1) }));
  const workflowId = uniqueName('registered');
  const exited = rig.worker.exits;
  await rig.client.workflow.start(INGESTION_JOB_WORKFLOW, {
    taskQueue: rig.taskQueue,
    workflowId,
    args: [
      {
        kind: 's3_scanner',
        config: {
          bucket_name: bucket,
          key_prefix: 'reg/',
          scanning_interval_sec: 1,
          buffer_config: { timeout_sec: 1 },
        },
      },
    ],
  });
  // The fault: the worker dies right after committing the row.
  await eventually(async () => rig.worker.exits > exited, 60_000, 'the worker to kill itself');
  const rowsOf = async () => {
    const [rows] = await rig.pool.query<any[]>(
      `SELECT id FROM ${TABLES.ingestionJobs} WHERE workflow_id = ?`,
      [workflowId],
    );
    return rows.map((r) => Number(r.id));
  };
  expect(await rowsOf()).toHaveLength(1);
  rig.worker.setEnv({ CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER: '0' });
  rig.worker.start();
  const [jobId] = await rowsOf();
  // The retried call (after its start-to-close timeout) found the row: the job runs and ingests.
  await eventually(
    async () => (await rig.store.requireJob(jobId!)).numFilesIngested === 2,
    120_000,
    'ingested',
  );
  await waitAllCompressed(rig, jobId!, 2);
  await stopJob(rig, jobId!);
  expect(await rowsOf()).toEqual([jobId]);
  const history = await rig.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = history.events!.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'registerJob',
  );
  const started = history.events!.find(
    (e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(scheduled!.eventId),
  );
  // The registration ran twice (the first attempt's worker died): one row all the same.
  expect(started!.activityTaskStartedEventAttributes!.attempt).toBe(2);
});
