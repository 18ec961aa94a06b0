/**
 * A database stall longer than the SQS visibility timeout, on the real stack
 * (goaws, MariaDB, Temporal, the worker). The stall is the job row's lock,
 * held from this test's own connection: every recordMessageBatch of the job
 * takes that lock first, so the listeners' commits wait while their messages
 * are in flight. MariaDB itself is shared and is never frozen.
 *
 * First without the visibility extension (what it prevents: goaws hands the
 * in-flight messages to the other listeners, which shows the stall is long
 * enough), then with it (none comes back); both end with every file recorded
 * exactly once.
 */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Message } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../src/aws';
import type { ExtendResult } from '../../src/sources/sqs_listener/visibility';
import { TABLES } from '../../src/store/schema';
import { deleteQueue, newQueue, notification, queueDepth, recordedPaths, sendAll } from '../support/sqs';
import { startHarness, stopAndFinish, waitForStatus, type Harness } from '../support/worker';
import { eventually, sleep } from '../support/wait';

const VISIBILITY_SEC = 3;
/** The stall: over 3x the visibility timeout, counted from when every message is in flight. */
const STALL_MS = 3 * VISIBILITY_SEC * 1000 + 1_000;
const BUCKET = 'sqs-visibility-bucket';
const N = 20;

let h: Harness;
let sqs: SQSClient;
let skipExtension = false;
/** Per queue: how often each message id was received by a listener. */
const receipts = new Map<string, Map<string, number>>();
const extensions: ExtendResult[] = [];
/** Per queue: the non-empty batches listeners received. */
const batchesReceived = new Map<string, number>();

beforeAll(async () => {
  h = await startHarness({
    settings: { sqsVisibilityTimeoutSec: VISIBILITY_SEC },
    faults: {
      onReceive: (queueUrl: string, messages: Message[]) => {
        batchesReceived.set(queueUrl, (batchesReceived.get(queueUrl) ?? 0) + 1);
        const seen = receipts.get(queueUrl) ?? new Map<string, number>();
        receipts.set(queueUrl, seen);
        for (const m of messages) seen.set(m.MessageId!, (seen.get(m.MessageId!) ?? 0) + 1);
      },
      onVisibilityExtended: (r) => extensions.push(r),
      skipVisibilityExtension: () => skipExtension,
    },
  });
  sqs = createSqsClient(h.settings.aws);
});

afterAll(async () => {
  sqs?.destroy();
  await h?.close();
});

/** Runs `during` while this test's connection holds the job row's lock, which every batch's commit takes first. */
async function whileJobRowLocked(jobId: number, during: () => Promise<void>): Promise<void> {
  const conn = await h.pool.getConnection();
  try {
    await conn.beginTransaction();
    await conn.query(`SELECT id FROM ${TABLES.ingestionJobs} WHERE id = ? FOR UPDATE`, [jobId]);
    await during();
  } finally {
    await conn.rollback();
    conn.release();
  }
}

/** A running listener job on a new queue (one-second polls), and the n keys under `prefix` a test will send. */
async function listening(prefix: string, n: number, listeners: number) {
  const queueUrl = await newQueue(sqs);
  const keys = Array.from({ length: n }, (_, i) => `${prefix}file-${String(i).padStart(2, '0')}.log`);
  const jobId = await h.create('sqs_listener', {
    bucket_name: BUCKET,
    key_prefix: prefix,
    queue_url: queueUrl,
    wait_time_sec: 1,
    num_concurrent_listener_tasks: listeners,
    buffer_config: { timeout_sec: 1 },
  });
  await waitForStatus(h, jobId, 'running');
  // One file first: until the listeners know the job's file sizes they take turns, one batch
  // at a time (the pacing near the size threshold), and a stalled turn would hold back the others.
  const warmUp = `${prefix}warm-up.log`;
  await sendAll(sqs, queueUrl, [notification(BUCKET, warmUp)]);
  await eventually(async () => (await recordedPaths(h.pool, jobId)).length === 1, 30_000, 'warm-up');
  receipts.delete(queueUrl);
  batchesReceived.delete(queueUrl);
  return { queueUrl, keys, jobId, warmUp };
}

interface StallOutcome {
  /** Message receipts in all (N when none was redelivered). */
  receipts: number;
  redelivered: number;
  /** Every extension round on the queue, the warm-up's included, in the order they ended. */
  extensions: ExtendResult[];
  /** The batches listeners received on the queue, the warm-up's included. */
  batches: number;
}

/** N notifications received while the job's row is locked for STALL_MS; then all must be recorded once. */
async function stall(prefix: string): Promise<StallOutcome> {
  // The batches go to some listeners; the others are free to receive whatever comes back.
  const { queueUrl, keys, jobId, warmUp } = await listening(prefix, N, 4);

  await whileJobRowLocked(jobId, async () => {
    await sendAll(
      sqs,
      queueUrl,
      keys.map((k) => notification(BUCKET, k)),
    );
    const seen = () => receipts.get(queueUrl) ?? new Map<string, number>();
    await eventually(async () => seen().size === N, 30_000, 'every message received');
    await sleep(STALL_MS);
    // The listeners that got the messages are still waiting for the lock.
    expect(await recordedPaths(h.pool, jobId)).toEqual([`${BUCKET}/${warmUp}`]);
  });

  await eventually(async () => (await queueDepth(sqs, queueUrl)) === 0, 60_000, 'queue drained');
  await eventually(async () => (await recordedPaths(h.pool, jobId)).length >= N + 1, 30_000, 'rows');
  // Every file exactly once: none lost, no duplicate row.
  expect(await recordedPaths(h.pool, jobId)).toEqual([warmUp, ...keys].map((k) => `${BUCKET}/${k}`).sort());
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(N + 1);
  await stopAndFinish(h, jobId);
  await deleteQueue(sqs, queueUrl);

  const counts = [...receipts.get(queueUrl)!.values()];
  return {
    receipts: counts.reduce((a, b) => a + b, 0),
    redelivered: counts.filter((c) => c > 1).length,
    // The queue is this test's own: all its extensions, the warm-up's too (on a busy machine
    // its commit can outlast half a timeout, and then it is the one that meets the refusal).
    extensions: extensions.filter((e) => e.queueUrl === queueUrl),
    batches: (batchesReceived.get(queueUrl) ?? 0) + 1,
  };
}

test('the server waits long enough for the stall to matter', async () => {
  const [[row]] = await h.pool.query<any[]>('SELECT @@innodb_lock_wait_timeout AS t');
  // The listeners' lock waits must outlast the stall, or they would fail and retry instead.
  expect(Number(row.t) * 1000).toBeGreaterThan(STALL_MS + 5_000);
  expect(STALL_MS).toBeGreaterThan(3 * VISIBILITY_SEC * 1000);
});

test('without the visibility extension, a stall longer than the visibility timeout redelivers the in-flight messages (dedup keeps the rows right)', async () => {
  skipExtension = true;
  try {
    const r = await stall('without/');
    expect(r.extensions).toEqual([]);
    // goaws gave the stalled messages to the free listeners again.
    expect(r.redelivered).toBeGreaterThan(0);
    expect(r.receipts).toBeGreaterThan(N);
  } finally {
    skipExtension = false;
  }
});

test('with it, the stalled messages stay in flight on goaws (batch refused, single calls) and none is redelivered', async () => {
  const r = await stall('with/');
  expect(r.redelivered).toBe(0);
  expect(r.receipts).toBe(N);
  // goaws refuses ChangeMessageVisibilityBatch: each batch of messages tries the batch call at
  // most once, in its first round (only the rounds that began before the first refusal came
  // back), and every other round is made of single calls; all of them succeed. Rounds are
  // recorded as they end, and a batch round's singles can end after a later single round's,
  // so this counts the batch rounds rather than asserting their place in that order.
  const batchRounds = r.extensions.filter((e) => e.mode === 'batch');
  expect(batchRounds.length).toBeGreaterThanOrEqual(1);
  expect(batchRounds.length).toBeLessThanOrEqual(r.batches);
  expect(batchRounds.every((e) => e.batchRefused)).toBe(true);
  // Over two rounds a batch: had each round tried the batch call, the bound above would fail.
  expect(r.extensions.length).toBeGreaterThan(2 * r.batches);
  expect(r.extensions.every((e) => e.failed.length === 0)).toBe(true);
  // About every half timeout for each stalled batch, for the length of the stall.
  const extended = r.extensions.reduce((n, e) => n + e.extended, 0);
  expect(extended).toBeGreaterThanOrEqual(N * Math.floor(STALL_MS / ((VISIBILITY_SEC * 1000) / 2)) - N);
});

test('a listener polls for its next batch while its last one commits, and holds no more than two uncommitted', async () => {
  const { queueUrl, keys, jobId, warmUp } = await listening('ahead/', 30, 1);
  const batches = () => batchesReceived.get(queueUrl) ?? 0;
  const visible = async () => {
    const r = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return Number(r.Attributes?.ApproximateNumberOfMessages ?? 0);
  };
  // The first batch's commit waits for the job row's lock.
  await whileJobRowLocked(jobId, async () => {
    await sendAll(
      sqs,
      queueUrl,
      keys.map((k) => notification(BUCKET, k)),
    );
    // The one listener received a second batch while its first waits to commit.
    await eventually(async () => batches() === 2, 30_000, 'a second batch received during the first commit');
    // A third was there to take (a batch is at most 10 of the 30 messages), yet over four of
    // the listener's one-second polls it took none: it waits for its older batch first.
    expect(await visible()).toBeGreaterThanOrEqual(10);
    await sleep(4_000);
    expect(batches()).toBe(2);
    expect(await visible()).toBeGreaterThanOrEqual(10);
    expect(await recordedPaths(h.pool, jobId)).toEqual([`${BUCKET}/${warmUp}`]);
  });
  await eventually(
    async () => (await recordedPaths(h.pool, jobId)).length === keys.length + 1,
    30_000,
    'rows',
  );
  expect(await recordedPaths(h.pool, jobId)).toEqual([warmUp, ...keys].map((k) => `${BUCKET}/${k}`).sort());
  await eventually(async () => (await queueDepth(sqs, queueUrl)) === 0, 30_000, 'queue drained');
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(keys.length + 1);
  await stopAndFinish(h, jobId);
  await deleteQueue(sqs, queueUrl);
});
