/**
 * A worker or executor started while Temporal or the CLP DB is unreachable
 * waits for it (capped backoff, each wait logged as what it is) and becomes
 * ready when it appears; one that loses them later keeps running and carries
 * on when they are back. The processes are the real ones from dist/, as
 * children; the servers are the shared stack's, reached through TCP gates in
 * this process (closed: ECONNREFUSED; open: forwarded; closed again: every
 * connection dropped), so no shared server is stopped.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { createS3Client } from '../../src/aws';
import { controlJob, createJob } from '../../src/job-control';
import { connectClient, temporalAddress } from '../../src/temporal';
import { parseHostPort } from '../../src/dependencies';
import { IngestionStore } from '../../src/store/ingestion-store';
import { fsJobConfig, insertJob, spawnExecutor, waitForJobs, type ChildExecutor } from '../support/executor';
import {
  createTestBucket,
  createTestDb,
  terminateTaskQueueWorkflows,
  uniqueName,
  type TestDb,
  jsonEvents,
} from '../support/stack';
import { TcpGate } from '../support/tcp-gate';
import { eventually, sleep } from '../support/wait';
import { ensureBuilt, ROOT } from './support';

const WORKER_JS = path.join(ROOT, 'dist', 'worker.js');
const EXECUTOR_JS = path.join(ROOT, 'dist', 'executor', 'main.js');
const SUCCEEDED = 2;
const MOUNT = '/mnt/logs';

let db: TestDb;
let client: Client;
const children: ChildExecutor[] = [];
const gates: TcpGate[] = [];

beforeAll(async () => {
  await ensureBuilt();
  db = await createTestDb();
  client = await connectClient();
});

afterAll(async () => {
  for (const c of children) {
    if (c.child.exitCode === null && c.child.signalCode === null) {
      c.child.kill('SIGTERM');
      await c.exited;
    }
  }
  for (const g of gates) await g.close();
  await client?.connection.close();
  await db?.drop();
});

function spawnChild(script: string, args: string[], env: Record<string, string>): ChildExecutor {
  const c = spawnExecutor(script, args, { CLP_INGESTOR_LOG_LEVEL: 'WARN', ...env });
  children.push(c);
  return c;
}

async function gate(target: { host: string; port: number }): Promise<TcpGate> {
  const g = await TcpGate.create(target);
  gates.push(g);
  return g;
}

const alive = (c: ChildExecutor) => c.child.exitCode === null && c.child.signalCode === null;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Waits for a log record whose msg matches, after the first `from` records; fails early if the child died. */
async function logged(c: ChildExecutor, pattern: RegExp, timeoutMs = 30_000, from = 0) {
  return eventually(
    async () => {
      if (!alive(c)) throw new Error(`exited: ${c.stderr.join('\n')}`);
      return c.logs.slice(from).find((r) => pattern.test(String(r.msg)));
    },
    timeoutMs,
    `a log line matching ${pattern}`,
  );
}

/** Waits for the `n`th log line matching `pattern`: a process still retrying is alive and still waiting. */
async function loggedTimes(c: ChildExecutor, pattern: RegExp, n: number, timeoutMs = 60_000) {
  await eventually(
    async () => {
      if (!alive(c)) throw new Error(`exited: ${c.stderr.join('\n')}`);
      return c.logs.filter((r) => pattern.test(String(r.msg))).length >= n;
    },
    timeoutMs,
    `${n} log lines matching ${pattern}`,
  );
}

test('a worker started without the CLP DB and Temporal waits for both, then runs jobs; losing both later does not stop it', async () => {
  const dbGate = await gate({ host: db.settings.db.host, port: db.settings.db.port });
  const temporalGate = await gate(parseHostPort(temporalAddress()));
  const taskQueue = uniqueName('wait-tq');
  const worker = spawnChild(WORKER_JS, [], {
    CLP_DB_NAME: db.settings.db.database,
    CLP_DB_PORT: String(dbGate.port),
    TEMPORAL_ADDRESS: temporalGate.address,
    CLP_INGESTOR_TASK_QUEUE: taskQueue,
  });
  try {
    // Nothing listens on either port: it waits for the DB first, saying so, and stays up.
    const dbWait = new RegExp(
      `^CLP DB at 127\\.0\\.0\\.1:${dbGate.port} not reachable \\(ECONNREFUSED\\); retrying in [\\d.]+ s$`,
    );
    const first = await logged(worker, dbWait);
    expect(first).toMatchObject({ level: 'warn', dependency: 'CLP DB', reason: 'ECONNREFUSED' });
    // Four waits (0.5 + 1 + 2 s apart): still up and waiting 3.5 s after the first.
    await loggedTimes(worker, dbWait, 4);
    expect(alive(worker)).toBe(true);
    const delays = worker.logs.filter((r) => dbWait.test(String(r.msg))).map((r) => r.retry_in_ms);
    expect(delays.slice(0, 3)).toEqual([500, 1000, 2000]); // capped exponential backoff

    // The DB appears; Temporal is still away: now it waits for Temporal.
    await dbGate.open();
    await logged(worker, /^CLP DB at .* available after [\d.]+ s$/);
    const temporalWait = new RegExp(
      `^Temporal at ${escape(temporalGate.address)} not reachable \\(ECONNREFUSED\\); retrying in [\\d.]+ s$`,
    );
    // Four waits: still up, waiting, and not started at least 3.5 s after the first.
    await loggedTimes(worker, temporalWait, 4);
    expect(alive(worker)).toBe(true);
    expect(worker.logs.some((r) => r.msg === 'worker started')).toBe(false);

    // Temporal appears: the worker starts and runs a job end to end.
    await temporalGate.open();
    await logged(worker, /^worker started$/, 30_000);

    const archives = mkdtempSync(path.join(os.tmpdir(), 'clp-wait-archives-'));
    spawnChild(EXECUTOR_JS, ['run'], {
      CLP_DB_NAME: db.settings.db.database,
      CLP_ARCHIVE_DIR: archives,
      CLP_EXECUTOR_POLL_INTERVAL_MS: '200',
    });
    const s3 = createS3Client(db.settings.aws);
    const store = new IngestionStore(db.pool);
    try {
      const bucket = await createTestBucket(s3);
      const put = async (keys: string[]) => {
        for (const Key of keys)
          await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: jsonEvents(Key, 1) }));
      };
      await put(['w/a-1.log', 'w/a-2.log', 'w/a-3.log']);
      const jobId = await createJob(
        store,
        client,
        's3_scanner',
        {
          bucket_name: bucket,
          key_prefix: 'w/',
          scanning_interval_sec: 0.5,
          settle_delay_sec: 0,
          buffer_config: { timeout_sec: 1 },
        },
        { taskQueue },
      );
      const compressed = (n: number, timeoutMs = 60_000) =>
        eventually(
          async () => (await store.requireJob(jobId)).numFilesCompressed === n,
          timeoutMs,
          `${n} files compressed`,
        );
      await compressed(3);

      // Both go away under the running worker (every connection dropped): it keeps running and says so.
      const before = worker.logs.length;
      await dbGate.close();
      await temporalGate.close();
      await logged(
        worker,
        /^CLP DB at .* not reachable \(ECONNREFUSED\); activities are retried/,
        20_000,
        before,
      );
      await logged(
        worker,
        /^Temporal at .* not reachable \(ECONNREFUSED\); polls are retried/,
        20_000,
        before,
      );
      await put(['w/b-1.log', 'w/b-2.log']);
      await sleep(5_000);
      expect(alive(worker)).toBe(true);

      // Back again: the job goes on by itself.
      await dbGate.open();
      await temporalGate.open();
      await compressed(5, 90_000);
      await logged(worker, /^CLP DB at .* available again after [\d.]+ s$/, 30_000, before);
      await logged(worker, /^Temporal at .* available again after [\d.]+ s$/, 30_000, before);
      expect(alive(worker)).toBe(true);

      await controlJob(store, client, jobId, 'stop');
      await eventually(async () => (await store.requireJob(jobId)).status === 'finished', 60_000, 'finished');
    } finally {
      s3.destroy();
      await terminateTaskQueueWorkflows(client, taskQueue);
    }
  } finally {
    worker.child.kill('SIGTERM');
    const { code } = await worker.exited;
    expect(code).toBe(0); // a clean shutdown
  }
});

test('an executor started without the CLP DB waits for it, then runs jobs; losing it later does not stop it', async () => {
  const dbGate = await gate({ host: db.settings.db.host, port: db.settings.db.port });
  const archives = mkdtempSync(path.join(os.tmpdir(), 'clp-wait-archives-'));
  const executor = spawnChild(EXECUTOR_JS, ['run'], {
    CLP_DB_NAME: db.settings.db.database,
    CLP_DB_PORT: String(dbGate.port),
    CLP_ARCHIVE_DIR: archives,
    CLP_EXECUTOR_POLL_INTERVAL_MS: '200',
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clp-wait-input-'));
  const job = async (name: string) => {
    writeFileSync(path.join(dir, name), jsonEvents(name, 100));
    return insertJob(db.pool, fsJobConfig([MOUNT + path.join(dir, name)], MOUNT + dir));
  };
  try {
    // Four waits (0.5 + 1 + 2 s apart): still up and waiting 3.5 s after the first.
    await loggedTimes(
      executor,
      new RegExp(
        `^CLP DB at 127\\.0\\.0\\.1:${dbGate.port} not reachable \\(ECONNREFUSED\\); retrying in [\\d.]+ s$`,
      ),
      4,
    );
    expect(alive(executor)).toBe(true);
    const first = await job('first.log');

    await dbGate.open();
    await logged(executor, /^executor started$/, 30_000);
    expect((await waitForJobs(db.pool, [first], 30_000)).get(first).status).toBe(SUCCEEDED);

    // The DB goes away: one line per wait (backoff), not one per poll; the process stays.
    const before = executor.logs.length;
    await dbGate.close();
    const lost = new RegExp(
      `^CLP DB at 127\\.0\\.0\\.1:${dbGate.port} not reachable \\(ECONNREFUSED\\); retrying in`,
    );
    await logged(executor, lost, 20_000, before);
    await sleep(4_000);
    expect(alive(executor)).toBe(true);
    const waits = executor.logs.slice(before).filter((r) => lost.test(String(r.msg)));
    expect(waits.length).toBeLessThanOrEqual(5); // 0.5 + 1 + 2 + 4 s: at most a handful of lines in 4 s
    const second = await job('second.log');

    await dbGate.open();
    expect((await waitForJobs(db.pool, [second], 30_000)).get(second).status).toBe(SUCCEEDED);
    await logged(executor, /^CLP DB at .* available again after [\d.]+ s$/, 10_000, before);
  } finally {
    executor.child.kill('SIGTERM');
    expect((await executor.exited).code).toBe(0);
  }
});
