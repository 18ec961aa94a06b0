/**
 * Schema migrations for the CLP DB, applied in order and recorded in
 * log_ingestor_schema_migrations. Safe to run from many workers at once (a
 * named lock serialises them) and any number of times (each step is guarded).
 *
 * CLP's own tables (compression_jobs, compression_tasks) are created only if
 * absent, with CLP's columns, so a real CLP deployment's tables are left alone.
 */
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { MIGRATIONS } from './migrations';
import { tableType } from './migrations/steps';
import { TABLES } from './tables';

export { CompressionJobStatus, CompressionTaskStatus, TABLES } from './tables';
export { MIGRATIONS } from './migrations';
export { COMPRESSION_JOBS_DDL, tableType } from './migrations/steps';

/**
 * s3_object_metadata jobs make CLP read our file ids from
 * ingested_s3_object_metadata: that must be our view. A table of that name
 * is CLP's own log-ingestor's, whose ids are not ours; refuse to run then.
 */
export async function checkClpObjectMetadata(pool: Pool, s3InputType: string): Promise<void> {
  if (s3InputType !== 's3_object_metadata') return;
  const type = await tableType(pool, TABLES.clpObjectMetadata);
  if (type !== 'VIEW') {
    throw new Error(
      `CLP_S3_INPUT_TYPE: s3_object_metadata needs ${TABLES.clpObjectMetadata} to be this ingestor's view, but it is ${type ?? 'missing'} (CLP's own log-ingestor's table?); run only one ingestor per CLP DB, or set CLP_S3_INPUT_TYPE=s3`,
    );
  }
}

const LOCK_NAME = 'clp_ingestor_migrations';

const ACCESS_DENIED = new Set([
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
]);

/** The migrations this build has that the database has not recorded (all of them on an empty database). */
export async function pendingMigrations(pool: Pool): Promise<number[]> {
  let done = new Set<number>();
  try {
    const [rows] = await pool.query<RowDataPacket[]>(`SELECT version FROM ${TABLES.migrations}`);
    done = new Set(rows.map((r) => Number(r.version)));
  } catch (err) {
    if ((err as { code?: string }).code !== 'ER_NO_SUCH_TABLE') throw err;
  }
  return MIGRATIONS.map((m) => m.version).filter((v) => !done.has(v));
}

/**
 * For a process that need not own the schema (worker, executor): nothing to
 * do when the schema is current; else it migrates, which only a user with DDL
 * grants may (CLP_DB_USER, the schema owner), and a least-privilege user is
 * told who must.
 */
export async function ensureSchema(pool: Pool, user: string): Promise<number[]> {
  let pending: number[];
  try {
    pending = await pendingMigrations(pool);
    if (!pending.length) return [];
    return await migrate(pool);
  } catch (err) {
    if (!ACCESS_DENIED.has((err as { code?: string }).code ?? '')) throw err;
    throw new Error(
      `the CLP DB schema is not up to date and DB user ${user} may not migrate it (${(err as Error).message}); run \`clp-ingestor migrate\` as the schema owner (CLP_DB_USER) first`,
    );
  }
}

/** Applies every migration not yet recorded; returns the versions it applied. */
export async function migrate(pool: Pool): Promise<number[]> {
  const conn = await pool.getConnection();
  try {
    const [[lock]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS got', [LOCK_NAME]);
    if (lock.got !== 1) throw new Error('migrate: timed out waiting for the migration lock');
    try {
      await conn.query(`CREATE TABLE IF NOT EXISTS ${TABLES.migrations} (
        version INT NOT NULL PRIMARY KEY,
        description VARCHAR(255) NOT NULL,
        applied_ts BIGINT NOT NULL
      )`);
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT version FROM ${TABLES.migrations}`);
      const done = new Set(rows.map((r) => Number(r.version)));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const step of m.statements) {
          if (typeof step === 'string') await conn.query(step);
          else await step(conn);
        }
        await conn.query(
          `INSERT INTO ${TABLES.migrations} (version, description, applied_ts) VALUES (?, ?, ?)`,
          [m.version, m.description, Date.now()],
        );
        applied.push(m.version);
      }
      return applied;
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    conn.release();
  }
}
