/** An in-process worker on its own task queue and throwaway database, for one test file. */
import { Runtime, DefaultLogger, makeTelemetryFilterString } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { S3Client } from '@aws-sdk/client-s3';
import type { Activities, SqsFaults } from '../../src/activities';
import { createS3Client } from '../../src/aws';
import { connectClient } from '../../src/temporal';
import { controlJob, createJob, type StartOptions } from '../../src/job-control';
import type { JobKind } from '../../src/config/job-config';
import type { Settings } from '../../src/config/settings';
import type { Db } from '../../src/store/db';
import { IngestionStore, type JobStatus } from '../../src/store/ingestion-store';
import { CompressionJobStatus } from '../../src/store/schema';
import { createWorker } from '../../src/worker';
import { eventually } from './wait';
import { createTestDb, rolePool, terminateOpenJobs, uniqueName } from './stack';

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
}

/** What a test holds of a running ingestor: its settings and DB, the clients, and its task queue. */
export interface JobHost {
  settings: Settings;
  /** The schema owner's pool, for the test's own setup and assertions. */
  pool: Db;
  /** As the CLI and REST API see the DB: with the API's least-privilege user. */
  store: IngestionStore;
  client: Client;
  s3: S3Client;
  taskQueue: string;
  /** Creates a job whose workflow runs on the task queue. */
  create(kind: JobKind, config: unknown, opts?: Partial<StartOptions>): Promise<number>;
}

/**
 * Connects a test to the ingestor on `taskQueue` over `db`: a Temporal client, the
 * API's store and an S3 client. `disconnect` first closes the workflows of unfinished jobs.
 */
export async function connectJobHost(
  db: { settings: Settings; pool: Db },
  taskQueue: string,
  reason = 'test finished',
): Promise<{ host: JobHost; disconnect: () => Promise<void> }> {
  const client = await connectClient();
  const apiPool = rolePool(db.settings, 'api');
  const store = new IngestionStore(apiPool);
  const s3 = createS3Client(db.settings.aws);
  return {
    host: {
      settings: db.settings,
      pool: db.pool,
      store,
      client,
      s3,
      taskQueue,
      create: (kind, config, o) => createJob(store, client, kind, config, { taskQueue, ...o }),
    },
    disconnect: async () => {
      await terminateOpenJobs(store, client, taskQueue, reason);
      await client.connection.close();
      s3.destroy();
      await apiPool.end();
    },
  };
}

/** A worker in this process (createWorker) on its own task queue and throwaway database. */
export interface Harness extends JobHost {
  close(): Promise<void>;
}

export async function startHarness(
  opts: {
    wrapActivities?: (a: Activities) => Activities;
    settings?: Partial<Settings>;
    faults?: SqsFaults;
  } = {},
): Promise<Harness> {
  quietRuntime();
  const db = await createTestDb();
  const settings = { ...db.settings, ...opts.settings };
  const taskQueue = uniqueName('test-tq');
  const {
    worker,
    pool: workerPool,
    connection,
  } = await createWorker(settings, {
    taskQueue,
    wrapActivities: opts.wrapActivities,
    faults: opts.faults,
  });
  const running = worker.run();
  const { host, disconnect } = await connectJobHost({ settings, pool: db.pool }, taskQueue);
  return {
    ...host,
    close: async () => {
      // Every workflow closed before the worker stops: none may outlive its task queue.
      await disconnect();
      worker.shutdown();
      await running;
      await workerPool.end();
      await connection.close();
      await db.drop();
    },
  };
}

export async function waitForStatus(h: Harness, jobId: number, status: JobStatus, timeoutMs = 60_000) {
  return eventually(
    async () => {
      const job = await h.store.requireJob(jobId);
      return job.status === status ? job : null;
    },
    timeoutMs,
    `job ${jobId} to be ${status}`,
  );
}

/** Stands in for CLP's scheduler where a test only needs compression jobs to end. */
export async function completeCompressionJobs(pool: Db, status: number = CompressionJobStatus.SUCCEEDED) {
  const [res] = await pool.query<any>('UPDATE compression_jobs SET status = ? WHERE status = ?', [
    status,
    CompressionJobStatus.PENDING,
  ]);
  return res.affectedRows as number;
}

/** Stops a job, standing in for CLP's scheduler until the job has drained and finished. */
export async function stopAndFinish(h: Harness, jobId: number): Promise<void> {
  await controlJob(h.store, h.client, jobId, 'stop');
  await eventually(
    async () => {
      await completeCompressionJobs(h.pool);
      return (await h.store.requireJob(jobId)).status === 'finished';
    },
    60_000,
    `job ${jobId} finished`,
  );
}
