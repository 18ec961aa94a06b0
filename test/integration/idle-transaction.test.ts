/**
 * A process frozen inside a transaction (SIGSTOP, a paused VM) holds its row
 * locks until it thaws. With CLP_DB_IDLE_TRANSACTION_TIMEOUT_SEC, MariaDB ends
 * such a transaction, so the job row's lock is released for the other
 * workers; without it, they wait for as long as the process stays frozen.
 */
import { dbFor } from '../../src/config/settings';
import { createPool, type Db } from '../../src/store/db';
import { TABLES } from '../../src/store/schema';
import { createTestDb, type TestDb } from '../support/stack';

let db: TestDb;
let jobId: number;
beforeAll(async () => {
  db = await createTestDb();
  const [res] = await db.pool.query<any>(
    `INSERT INTO ${TABLES.ingestionJobs} (kind, config, status, dataset, bucket_name, creation_ts, last_update_ts)
     VALUES ('fs', '{"directory":"/x"}', 'running', 'default', '', 0, 0)`,
  );
  jobId = res.insertId;
});
afterAll(async () => db?.drop());

/** A connection that takes the job row's lock and then does nothing, as a frozen worker would. */
async function holdJobLock(pool: Db) {
  const conn = await pool.getConnection();
  await conn.beginTransaction();
  await conn.query(`SELECT id FROM ${TABLES.ingestionJobs} WHERE id = ? FOR UPDATE`, [jobId]);
  return conn;
}

/** How long another connection waits for the lock (it gives up after `waitSec`). */
async function lockWait(waitSec: number): Promise<{ ms: number; code?: string }> {
  const conn = await db.pool.getConnection();
  const started = Date.now();
  try {
    await conn.query(`SET SESSION innodb_lock_wait_timeout = ${waitSec}`);
    await conn.beginTransaction();
    await conn.query(`SELECT id FROM ${TABLES.ingestionJobs} WHERE id = ? FOR UPDATE`, [jobId]);
    await conn.rollback();
    return { ms: Date.now() - started };
  } catch (err) {
    return { ms: Date.now() - started, code: (err as { code?: string }).code };
  } finally {
    conn.release();
  }
}

test('without the timeout, an idle transaction keeps the job row locked', async () => {
  const pool = createPool({ ...db.settings.db, idleTransactionTimeoutSec: 0 });
  const holder = await holdJobLock(pool);
  try {
    expect(await lockWait(4)).toMatchObject({ code: 'ER_LOCK_WAIT_TIMEOUT' });
  } finally {
    await holder.rollback();
    holder.release();
    await pool.end();
  }
});

test('with it, MariaDB ends the idle transaction and the lock is free within the timeout', async () => {
  const pool = createPool({ ...db.settings.db, idleTransactionTimeoutSec: 2 });
  const holder = await holdJobLock(pool);
  try {
    const waited = await lockWait(10);
    expect(waited.code).toBeUndefined();
    expect(waited.ms).toBeLessThan(6_000);
    // The frozen side finds its connection gone when it wakes: its call fails and is retried.
    await expect(holder.query('SELECT 1')).rejects.toThrow();
  } finally {
    holder.destroy();
    await pool.end();
  }
});

test('the worker, executor and API pools take the setting (20 s by default)', async () => {
  for (const role of ['worker', 'executor', 'api'] as const) {
    const pool = createPool(dbFor(db.settings, role));
    try {
      const [[row]] = await pool.query<any[]>('SELECT @@session.idle_transaction_timeout AS t');
      expect([role, Number(row.t)]).toEqual([role, 20]);
    } finally {
      await pool.end();
    }
  }
});
