/** Test helpers for the real local stack: throwaway databases, buckets and queues. */
import { randomBytes, randomInt } from 'node:crypto';
import mysql from 'mysql2/promise';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { decodeClpConfig } from '../../src/clp/clp-config';
import { dbFor, loadSettings, type DbRole, type Settings } from '../../src/config/settings';
import { createPool, type Db } from '../../src/store/db';
import { applyGrants, configuredGrantees, revokeGrants } from '../../src/store/grants';
import { migrate, TABLES } from '../../src/store/schema';

/**
 * This test run's tag: set by the global setup (test/global-setup.ts) for
 * every test file and child process of one jest run, else one per process.
 * Every name below carries it, so the run's task queues (and the workflows on
 * them) can be told from a concurrent run's in the shared test namespace.
 */
export function testRunTag(): string {
  return (process.env.CLP_INGESTOR_TEST_RUN ??= newRunTag());
}

export function newRunTag(): string {
  return `r${Date.now().toString(36)}${randomBytes(1).toString('hex')}`;
}

/** prefix-<run tag>-<random>: lower case, fit for buckets, queues, task queues and (with _) databases. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${testRunTag()}-${randomBytes(3).toString('hex')}`;
}

/**
 * Terminates every workflow still running on a task queue (a suite's own):
 * a job's row can read `finished` while its workflow still needs one more
 * workflow task, so closing by job status alone left workflows behind.
 */
export async function terminateTaskQueueWorkflows(
  client: Client,
  taskQueue: string,
  reason = 'test finished',
): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list({
    query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"`,
  })) {
    await client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate(reason)
      .then(() => ids.push(wf.workflowId))
      .catch(() => undefined); // it ended meanwhile
  }
  return ids;
}

export interface TestDb {
  settings: Settings;
  /** The schema owner's (CLP_DB_USER): for the test's own setup and assertions. */
  pool: Db;
  drop: () => Promise<void>;
}

/**
 * A pool as one of the ingestor's processes connects: with that role's own
 * least-privilege user (config/local.env names them), granted only what
 * src/store/grants.ts lists.
 */
export function rolePool(settings: Settings, role: DbRole): Db {
  return createPool(dbFor(settings, role));
}

/** A fresh, empty database (clp_test_*) with the server's defaults, and settings pointing at it. */
export async function createEmptyTestDb(): Promise<TestDb> {
  const base = loadSettings();
  const database = uniqueName('clp_test').replace(/-/g, '_');
  const admin = await mysql.createConnection({
    host: base.db.host,
    port: base.db.port,
    user: base.db.user,
    password: base.db.password,
  });
  await admin.query(`CREATE DATABASE \`${database}\``);
  await admin.end();
  const settings: Settings = { ...base, db: { ...base.db, database } };
  const pool = createPool(settings.db);
  return {
    settings,
    pool,
    drop: async () => {
      // Table grants outlive their database: take back what createTestDb gave.
      await revokeGrants(pool, configuredGrantees(settings), settings.dbGranteeHost).catch(() => undefined);
      await pool.query(`DROP DATABASE \`${database}\``);
      await pool.end();
    },
  };
}

/** A fresh, migrated database (clp_test_*) with settings pointing at it and job ids of its own. */
export async function createTestDb(): Promise<TestDb> {
  const db = await createEmptyTestDb();
  const { pool } = db;
  await migrate(pool);
  // As `clp-ingestor migrate` does: the worker's, executor's and API's users get their grants.
  await applyGrants(pool, configuredGrantees(db.settings), db.settings.dbGranteeHost);
  // Every throwaway DB would number its jobs from 1, but workflow ids (one per
  // job id) share one Temporal namespace: start this DB's ids somewhere unused.
  await pool.query(`ALTER TABLE ${TABLES.ingestionJobs} AUTO_INCREMENT = ?`, [
    randomInt(1_000_000, 2_000_000_000),
  ]);
  return db;
}

export async function createTestBucket(s3: S3Client): Promise<string> {
  const bucket = uniqueName('test').toLowerCase();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** The keys a compression job names: its key list, or (s3_object_metadata) its ids resolved as CLP does. */
export async function keysOfCompressionJob(pool: Db, clpConfig: Buffer): Promise<string[]> {
  const { input } = (await decodeClpConfig(clpConfig)) as { input: any };
  if (input.type !== 's3_object_metadata') return input.keys;
  const [rows] = await pool.query<any[]>(
    'SELECT id, `key`, size FROM ingested_s3_object_metadata WHERE id IN (?) AND ingestion_job_id = ?',
    [input.s3_object_metadata_ids, input.ingestion_job_id],
  );
  if (rows.length !== input.s3_object_metadata_ids.length) {
    throw new Error(
      `compression job names ids that CLP's query does not return: ${input.s3_object_metadata_ids}`,
    );
  }
  return rows.map((r) => r.key as string);
}

/** The job row's counters (kept by each writing transaction) against the rows they summarise. */
export async function countersAndRows(
  pool: Db,
  jobId: number,
): Promise<{ counters: unknown; rows: unknown }> {
  const [[c]] = await pool.query<any[]>(
    `SELECT num_files_ingested, num_files_compressed, num_files_failed, buffered_files, buffered_bytes,
       buffered_oldest_ts, outstanding_compression_jobs FROM ${TABLES.ingestionJobs} WHERE id = ?`,
    [jobId],
  );
  const [[r]] = await pool.query<any[]>(
    `SELECT COUNT(*) AS num_files_ingested,
       SUM(status = 'compressed') AS num_files_compressed, SUM(status = 'failed') AS num_files_failed,
       SUM(status = 'buffered') AS buffered_files, SUM(IF(status = 'buffered', size, 0)) AS buffered_bytes,
       MIN(IF(status = 'buffered', creation_ts, NULL)) AS buffered_oldest_ts,
       (SELECT COUNT(*) FROM ${TABLES.submissions} WHERE ingestion_job_id = ? AND finalized = 0)
         AS outstanding_compression_jobs
     FROM ${TABLES.ingestedFiles} WHERE ingestion_job_id = ?`,
    [jobId, jobId],
  );
  const norm = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v === null ? null : Number(v ?? 0)]));
  return { counters: norm(c), rows: norm(r) };
}
