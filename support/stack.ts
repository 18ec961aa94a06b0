/**
 * What the test suite and the benchmark both need of the real local stack:
 * names tagged by run, throwaway databases, and closing the workflows a run
 * left open. Outside test/ so that bench/ (its own tsconfig) can import it.
 */
import { randomBytes, randomInt } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { Client } from '@temporalio/client';
import { dbFor, loadSettings, type DbRole, type Settings } from '../src/config/settings';
import { createPool, type Db } from '../src/store/db';
import { applyGrants, configuredGrantees, revokeGrants } from '../src/store/grants';
import type { IngestionStore } from '../src/store/ingestion-store';
import { migrate, TABLES } from '../src/store/schema';

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

/** Terminates one workflow run (the latest without `runId`); one that has ended meanwhile is fine. */
export async function terminateWorkflow(
  client: Client,
  workflowId: string,
  reason: string,
  runId?: string,
): Promise<boolean> {
  return client.workflow
    .getHandle(workflowId, runId)
    .terminate(reason)
    .then(() => true)
    .catch(() => false);
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
    if (await terminateWorkflow(client, wf.workflowId, reason, wf.runId)) ids.push(wf.workflowId);
  }
  return ids;
}

/**
 * Closes the workflows of a database's unfinished jobs (one started a moment
 * ago may not be listed on its task queue yet), then every workflow still
 * running on the task queue: none may outlive the worker polling it.
 */
export async function terminateOpenJobs(
  store: IngestionStore,
  client: Client,
  taskQueue: string,
  reason = 'test finished',
): Promise<void> {
  for (const job of await store.listJobs({ status: ['requested', 'running', 'paused'] })) {
    await terminateWorkflow(client, job.workflowId, reason);
  }
  await terminateTaskQueueWorkflows(client, taskQueue, reason);
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
