/** SQS-listener ingestion jobs on the real stack: goaws (SQS), worker, Temporal, MariaDB. */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../src/aws';
import { controlJob } from '../../src/job-control';
import {
  deleteQueue,
  newQueue as createQueue,
  notification as s3Notification,
  queueDepth as depthOf,
  recordedPaths,
  sendAll,
} from '../support/sqs';
import { startHarness, waitForStatus, type Harness, stopAndFinish } from '../support/worker';
import { eventually, sleep } from '../support/wait';
import { sqsListenerConfig } from '../support/configs';

let h: Harness;
let sqs: SQSClient;
let failDeletesLeft = 0;
const BUCKET = 'sqs-test-bucket';
/** receiveSqsMessages calls by job id, started and ended: what a paused listener does (nothing) is seen here. */
const receives = new Map<number, { started: number; ended: number }>();
const receivesOf = (jobId: number) => receives.get(jobId) ?? { started: 0, ended: 0 };

beforeAll(async () => {
  h = await startHarness({
    settings: { sqsVisibilityTimeoutSec: 3 },
    wrapActivities: (acts) => ({
      ...acts,
      receiveSqsMessages: async (...args) => {
        const jobId = args[0];
        receives.set(jobId, { ...receivesOf(jobId), started: receivesOf(jobId).started + 1 });
        try {
          return await acts.receiveSqsMessages(...args);
        } finally {
          receives.set(jobId, { ...receivesOf(jobId), ended: receivesOf(jobId).ended + 1 });
        }
      },
    }),
    faults: {
      beforeDelete: async () => {
        if (failDeletesLeft > 0) {
          failDeletesLeft -= 1;
          throw new Error('injected: delete failed after the commit');
        }
      },
    },
  });
  sqs = createSqsClient(h.settings.aws);
});

afterAll(async () => {
  sqs?.destroy();
  await h?.close();
});

/** A notification for `key` in the test's bucket unless another is named. */
const notification = (key: string, opts: { bucket?: string; event?: string; sequencer?: string } = {}) =>
  s3Notification(opts.bucket ?? BUCKET, key, opts);
const newQueue = () => createQueue(sqs);
const send = (queueUrl: string, bodies: string[]) => sendAll(sqs, queueUrl, bodies);
const queueDepth = (queueUrl: string) => depthOf(sqs, queueUrl);
const paths = (jobId: number) => recordedPaths(h.pool, jobId);

async function visibleMessages(queueUrl: string): Promise<number> {
  const r = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(r.Attributes?.ApproximateNumberOfMessages ?? 0);
}

const config = (queueUrl: string, prefix: string, extra: Record<string, unknown> = {}) =>
  sqsListenerConfig(BUCKET, prefix, queueUrl, extra);

/** The mixed traffic of the issue: relevant, duplicated, irrelevant and garbage messages. */
function traffic(prefix: string, n: number): { bodies: string[]; expected: string[] } {
  const keys = Array.from({ length: n }, (_, i) => `${prefix}file ${String(i).padStart(3, '0')}+x.log`);
  const bodies = [
    ...keys.map((k) => notification(k)),
    ...keys.slice(0, 5).map((k) => notification(k)), // duplicates (same event delivered twice)
    notification(`${prefix}elsewhere.log`, { bucket: 'another-bucket' }),
    notification(`not-${prefix}x.log`),
    notification(`${prefix}gone.log`, { event: 'ObjectRemoved:Delete' }),
    notification(`${prefix}dir/`),
    'this is not json',
    JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: BUCKET }),
    JSON.stringify({ unrelated: true }),
  ];
  return { bodies, expected: keys.map((k) => `${BUCKET}/${k}`) };
}

test('exactly the relevant objects become rows, garbage is counted, and the queue ends empty', async () => {
  const queueUrl = await newQueue();
  const { bodies, expected } = traffic('mixed/', 40);
  await send(queueUrl, bodies);
  const jobId = await h.create('sqs_listener', config(queueUrl, 'mixed/'));
  await eventually(async () => (await queueDepth(queueUrl)) === 0, 60_000, 'queue drained');
  await eventually(async () => (await paths(jobId)).length === expected.length, 30_000, 'rows');
  expect(await paths(jobId)).toEqual([...expected].sort());
  const job = await h.store.requireJob(jobId);
  expect(job.numMessagesIgnored).toBe(3);
  expect((await h.store.listIgnoredMessages(jobId)).map((m) => m.reason).sort()).toEqual([
    'S3 test event',
    'malformed JSON',
    'not an S3 event notification (no Records array)',
  ]);
  // A genuinely new upload of an already-ingested key (a later event) is ingested again.
  await send(queueUrl, [notification('mixed/file 000+x.log', { sequencer: 'later-upload' })]);
  await eventually(async () => (await paths(jobId)).length === expected.length + 1, 30_000, 're-upload');
  await stopAndFinish(h, jobId);
  await deleteQueue(sqs, queueUrl);
});

test('a delete that fails after the commit redelivers the messages but creates no duplicate row', async () => {
  const queueUrl = await newQueue();
  const { bodies, expected } = traffic('faulty/', 20);
  failDeletesLeft = 2;
  await send(queueUrl, bodies);
  const jobId = await h.create('sqs_listener', config(queueUrl, 'faulty/'));
  await eventually(
    async () => failDeletesLeft === 0 && (await queueDepth(queueUrl)) === 0,
    90_000,
    'queue drained',
  );
  expect(await paths(jobId)).toEqual([...expected].sort());
  expect((await h.store.requireJob(jobId)).numMessagesIgnored).toBe(3);
  await stopAndFinish(h, jobId);
  await deleteQueue(sqs, queueUrl);
});

test('1, 4 and 16 listener tasks give the same final rows', async () => {
  const results: string[][] = [];
  for (const listeners of [1, 4, 16]) {
    const queueUrl = await newQueue();
    const prefix = `par${listeners}/`;
    const { bodies, expected } = traffic(prefix, 60);
    await send(queueUrl, bodies);
    const jobId = await h.create(
      'sqs_listener',
      config(queueUrl, prefix, { num_concurrent_listener_tasks: listeners }),
    );
    await eventually(async () => (await queueDepth(queueUrl)) === 0, 60_000, `queue drained (${listeners})`);
    const got = await paths(jobId);
    expect(got).toEqual([...expected].sort());
    results.push(got.map((p) => p.replace(prefix, '')));
    await stopAndFinish(h, jobId);
    await deleteQueue(sqs, queueUrl);
  }
  expect(results[1]).toEqual(results[0]);
  expect(results[2]).toEqual(results[0]);
});

test('pause stops receiving (messages stay queued); resume continues', async () => {
  const queueUrl = await newQueue();
  const jobId = await h.create('sqs_listener', config(queueUrl, 'pause/'));
  await waitForStatus(h, jobId, 'running');
  await controlJob(h.store, h.client, jobId, 'pause');
  await waitForStatus(h, jobId, 'paused');
  // The receive in flight is cancelled once the pause reaches it.
  await eventually(
    async () => receivesOf(jobId).ended === receivesOf(jobId).started,
    30_000,
    'the receive in flight to end',
  );
  const startedBeforePause = receivesOf(jobId).started;
  await send(queueUrl, [notification('pause/a.log'), notification('pause/b.log')]);
  // Both messages wait visible in the queue for a receiver, longer than a long poll (wait_time_sec).
  await eventually(async () => (await visibleMessages(queueUrl)) === 2, 10_000, 'messages visible');
  await sleep(3_000);
  expect(receivesOf(jobId).started).toBe(startedBeforePause); // no receive while paused
  expect(await paths(jobId)).toEqual([]);
  expect(await queueDepth(queueUrl)).toBe(2);
  expect(await visibleMessages(queueUrl)).toBe(2);
  await controlJob(h.store, h.client, jobId, 'resume');
  await eventually(async () => (await paths(jobId)).length === 2, 30_000, 'resumed');
  await stopAndFinish(h, jobId);
  await deleteQueue(sqs, queueUrl);
});
