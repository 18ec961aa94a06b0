/**
 * Flush deadlines and the size threshold for SQS-listener and fs jobs, on the
 * real stack. Measured from the record, not from the test's clock: a file's
 * `creation_ts` (when it was recorded) against its flush's submission row
 * (`log_ingestor_compression_submissions.creation_ts`, written by the flush
 * that made its compression job).
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { Context } from '@temporalio/activity';
import type { Activities } from '../../src/activities';
import { createSqsClient } from '../../src/aws';
import { TABLES } from '../../src/store/schema';
import { deleteQueue, newQueue, notification, queueDepth, recordedPaths, sendAll } from '../support/sqs';
import { startHarness, stopAndFinish, waitForStatus, type Harness } from '../support/worker';
import { eventually, sleep } from '../support/wait';
import { sqsListenerConfig } from '../support/configs';

const BUCKET = 'flush-deadline-bucket';
/**
 * Two bounds above a lone file's deadline, each wide enough for a loaded 2-core machine and
 * each well below what the bugs they guard against gave (see the SQS tests):
 * - CALL_SLACK_MS: the ingest call that recorded the file returns by its deadline. Measured
 *   inside the worker (no Temporal dispatch in it); long polls are whole seconds, so up to
 *   1 s late by design. Before the fix, the call waited for the other listeners' 20 s polls.
 * - FLUSH_SLACK_MS: the flush's row follows, after a workflow task and an activity dispatched
 *   through Temporal. Usually 0.1-0.5 s; full-suite CI runs on 2 cores saw 3.4 s and 5.3 s.
 *   Latency is the bench's business; this bound only proves the flush waits for nothing else.
 */
const CALL_SLACK_MS = 2_500;
const FLUSH_SLACK_MS = 12_000;

let h: Harness;
let sqs: SQSClient;
let dir: string;
/** Jobs whose receive calls fail once after they return (a call whose result never reached the workflow). */
const failFirstReceiveOf = new Set<number>();
/** Every receive call the worker ran: when it started and ended, and what it recorded. */
interface ReceiveCall {
  jobId: number;
  attempt: number;
  start: number;
  end: number;
  recorded: number;
}
const receiveCalls: ReceiveCall[] = [];

beforeAll(async () => {
  h = await startHarness({
    wrapActivities: (a: Activities): Activities => ({
      ...a,
      receiveSqsMessages: async (jobId, config, maxDurationMs) => {
        const start = Date.now();
        const r = await a.receiveSqsMessages(jobId, config, maxDurationMs);
        const { attempt } = Context.current().info;
        receiveCalls.push({ jobId, attempt, start, end: Date.now(), recorded: r.recorded });
        if (r.recorded > 0 && failFirstReceiveOf.delete(jobId) && attempt === 1) {
          throw new Error('injected: the call recorded files but its result was lost');
        }
        return r;
      },
    }),
  });
  sqs = createSqsClient(h.settings.aws);
  dir = mkdtempSync(path.join(os.tmpdir(), 'clp-flush-'));
});

afterAll(async () => {
  sqs?.destroy();
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Flush {
  flushSeq: number;
  /** When the flush ran (ms). */
  ts: number;
  files: number;
  bytes: number;
  /** When its oldest and newest files were recorded (ms). */
  oldestTs: number;
  newestTs: number;
}

/** The job's flushes that made a compression job, in order. */
async function flushes(jobId: number): Promise<Flush[]> {
  const [rows] = await h.pool.query<any[]>(
    `SELECT s.flush_seq, s.creation_ts, COUNT(f.id) AS files, SUM(f.size) AS bytes,
       MIN(f.creation_ts) AS oldest, MAX(f.creation_ts) AS newest
     FROM ${TABLES.submissions} s JOIN ${TABLES.ingestedFiles} f
       ON f.ingestion_job_id = s.ingestion_job_id AND f.compression_job_id = s.compression_job_id
     WHERE s.ingestion_job_id = ? AND s.compression_job_id IS NOT NULL
     GROUP BY s.flush_seq, s.creation_ts ORDER BY s.flush_seq`,
    [jobId],
  );
  return rows.map((r) => ({
    flushSeq: Number(r.flush_seq),
    ts: Number(r.creation_ts),
    files: Number(r.files),
    bytes: Number(r.bytes),
    oldestTs: Number(r.oldest),
    newestTs: Number(r.newest),
  }));
}

/** Each lone file's flush came at its deadline (timeout_sec after its recording), not before, and waited for nothing else. */
function expectFlushedAtDeadline(fs: Flush[], timeoutMs: number): void {
  const delays = fs.map((f) => f.ts - f.oldestTs);
  console.log(`lone files flushed ${delays.map((d) => `${d} ms`).join(', ')} after their recording`);
  for (const d of delays) {
    expect(d).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(d).toBeLessThanOrEqual(timeoutMs + FLUSH_SLACK_MS);
  }
}

/** The receive call that recorded each lone file returned by the file's deadline. */
function expectCallsReturnedAtDeadline(jobId: number, fs: Flush[], timeoutMs: number): void {
  for (const f of fs) {
    const call = receiveCalls.find(
      (c) => c.jobId === jobId && c.recorded > 0 && c.start <= f.oldestTs && f.oldestTs <= c.end,
    );
    expect(call).toBeDefined();
    expect(call!.end - f.oldestTs).toBeLessThanOrEqual(timeoutMs + CALL_SLACK_MS);
  }
}

/** Waits until flushes by size have taken the buffer below `threshold`; those flushes, and all once stopped. */
async function sizeFlushesThenStop(
  jobId: number,
  threshold: number,
): Promise<{ bySize: Flush[]; all: Flush[] }> {
  await eventually(
    async () => (await h.store.bufferSnapshot(jobId)).bytes < threshold,
    30_000,
    'flushed below the threshold',
  );
  const bySize = await flushes(jobId);
  await stopAndFinish(h, jobId);
  return { bySize, all: await flushes(jobId) };
}

async function noFailure(jobId: number): Promise<void> {
  const job = await h.store.requireJob(jobId);
  if (job.status === 'failed') throw new Error(`job failed: ${job.errorMsg}`);
}

/** Lone files one after another, each after the previous one's flush; returns their flushes. */
async function loneFiles(jobId: number, count: number, add: (i: number) => Promise<void>): Promise<Flush[]> {
  for (let i = 0; i < count; i++) {
    // Let the next call's long poll (or the next scan) be well under way first.
    await sleep(1_500);
    await add(i);
    await eventually(
      async () => {
        await noFailure(jobId);
        return (await flushes(jobId)).length === i + 1;
      },
      90_000,
      `flush ${i + 1}`,
    );
  }
  const fs = await flushes(jobId);
  expect(fs.map((f) => f.files)).toEqual(Array(count).fill(1));
  return fs;
}

describe('SQS listener', () => {
  test.each([1, 4])(
    'a lone file is flushed timeout_sec after its recording, though receives wait 20 s (%i listener task(s))',
    async (listeners) => {
      const queueUrl = await newQueue(sqs);
      const prefix = `lone${listeners}/`;
      const jobId = await h.create(
        'sqs_listener',
        sqsListenerConfig(BUCKET, prefix, queueUrl, {
          wait_time_sec: 20,
          num_concurrent_listener_tasks: listeners,
          buffer_config: { timeout_sec: 3 },
        }),
      );
      await waitForStatus(h, jobId, 'running');
      const fs = await loneFiles(jobId, 3, (i) =>
        sendAll(sqs, queueUrl, [notification(BUCKET, `${prefix}f${i}.log`)]),
      );
      expectCallsReturnedAtDeadline(jobId, fs, 3_000);
      expectFlushedAtDeadline(fs, 3_000);
      await stopAndFinish(h, jobId);
      await deleteQueue(sqs, queueUrl);
    },
  );

  test('the deadline holds when a receive call recorded a file and its result was lost (the retry returns for it)', async () => {
    const queueUrl = await newQueue(sqs);
    const prefix = 'retried/';
    const jobId = await h.create(
      'sqs_listener',
      sqsListenerConfig(BUCKET, prefix, queueUrl, {
        wait_time_sec: 20,
        num_concurrent_listener_tasks: 4,
        buffer_config: { timeout_sec: 3 },
      }),
    );
    failFirstReceiveOf.add(jobId);
    await waitForStatus(h, jobId, 'running');
    const [f] = await loneFiles(jobId, 1, () =>
      sendAll(sqs, queueUrl, [notification(BUCKET, `${prefix}a.log`)]),
    );
    expect(failFirstReceiveOf.has(jobId)).toBe(false); // the fault was injected
    // The failed call returned at the deadline; its retry (1 s later) must return at once.
    const retry = receiveCalls.find((c) => c.jobId === jobId && c.attempt === 2);
    expect(retry).toBeDefined();
    expect(retry!.end - f!.oldestTs).toBeLessThanOrEqual(3_000 + CALL_SLACK_MS + 1_000);
    expectFlushedAtDeadline([f!], 3_000);
    await stopAndFinish(h, jobId);
    await deleteQueue(sqs, queueUrl);
  });

  test('the size threshold: a flush happens once the buffered bytes cross it, past it by less than one receive batch', async () => {
    const listeners = 4;
    const threshold = 1_000;
    const size = 100;
    const n = 200;
    const queueUrl = await newQueue(sqs);
    const prefix = 'size/';
    const keys = Array.from({ length: n }, (_, i) => `${prefix}f${String(i).padStart(3, '0')}.log`);
    const jobId = await h.create(
      'sqs_listener',
      sqsListenerConfig(BUCKET, prefix, queueUrl, {
        wait_time_sec: 20,
        num_concurrent_listener_tasks: listeners,
        // Only the size triggers flushes here (the rest is flushed by the stop).
        buffer_config: { timeout_sec: 600, flush_threshold_bytes: threshold },
      }),
    );
    await waitForStatus(h, jobId, 'running');
    await sendAll(
      sqs,
      queueUrl,
      keys.map((k) => notification(BUCKET, k, { size })),
    );
    await eventually(async () => (await queueDepth(sqs, queueUrl)) === 0, 90_000, 'queue drained');
    await eventually(async () => (await recordedPaths(h.pool, jobId)).length === n, 30_000, 'rows');
    const { bySize, all } = await sizeFlushesThenStop(jobId, threshold);
    expect(all.reduce((k, f) => k + f.files, 0)).toBe(n);
    expect(await recordedPaths(h.pool, jobId)).toEqual(keys.map((k) => `${BUCKET}/${k}`));
    // Four listeners polling side by side would take it past by up to four batches of 10
    // (40 files a flush): near the threshold they take turns and ask for what fits.
    expect(bySize.length).toBeGreaterThanOrEqual(Math.floor(n / (threshold / size + 10)));
    for (const f of bySize) {
      expect(f.bytes).toBeGreaterThanOrEqual(threshold);
      expect(f.bytes).toBeLessThan(threshold + 10 * size);
    }
    await deleteQueue(sqs, queueUrl);
  });
});

describe('fs', () => {
  function settledFile(rel: string, bytes: number): void {
    const full = path.join(dir, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, 'x'.repeat(bytes));
    const past = new Date(Date.now() - 60_000);
    utimesSync(full, past, past);
  }

  test('a lone file is flushed timeout_sec after its recording', async () => {
    const sub = 'lone';
    mkdirSync(path.join(dir, sub));
    const jobId = await h.create('fs', {
      directory: path.join(dir, sub),
      scanning_interval_sec: 1,
      settle_delay_sec: 0,
      buffer_config: { timeout_sec: 3 },
    });
    await waitForStatus(h, jobId, 'running');
    const fs = await loneFiles(jobId, 2, async (i) => settledFile(`${sub}/f${i}.log`, 10));
    expectFlushedAtDeadline(fs, 3_000);
    await stopAndFinish(h, jobId);
  });

  test('the size threshold: a pass stops where the buffer crosses it, each flush past it by less than one file, and the next call goes on from there', async () => {
    const sub = 'size';
    const threshold = 1_000;
    // 150 files of 50-149 bytes in nested directories with names that sort differently as
    // whole paths ('a-b' < 'a/x') and segment by segment ('a' before 'a-b').
    const files: string[] = [];
    for (let i = 0; i < 150; i++) {
      const d = ['a', 'a-b', 'a/x', 'b'][i % 4]!;
      const rel = `${sub}/${d}/f${String(i).padStart(3, '0')}.log`;
      settledFile(rel, 50 + ((i * 37) % 100));
      files.push(path.join(dir, rel));
    }
    const jobId = await h.create('fs', {
      directory: path.join(dir, sub),
      scanning_interval_sec: 30,
      settle_delay_sec: 0,
      buffer_config: { timeout_sec: 600, flush_threshold_bytes: threshold },
    });
    await eventually(
      async () => {
        await noFailure(jobId);
        return (await recordedPaths(h.pool, jobId)).length === files.length;
      },
      60_000,
      'every file recorded',
    );
    const { bySize, all } = await sizeFlushesThenStop(jobId, threshold);
    expect(await recordedPaths(h.pool, jobId)).toEqual([...files].sort());
    expect(all.reduce((k, f) => k + f.files, 0)).toBe(files.length);
    // Well within one scanning interval: the pass went on right after each flush.
    expect(bySize.at(-1)!.ts - bySize[0]!.ts).toBeLessThan(30_000);
    expect(bySize.length).toBeGreaterThanOrEqual(10);
    for (const f of bySize) {
      expect(f.bytes).toBeGreaterThanOrEqual(threshold);
      expect(f.bytes).toBeLessThan(threshold + 150);
    }
  });
});
