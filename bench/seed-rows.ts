/**
 * Earlier rows for a file table: `rows` compressed files of other, finished
 * jobs, written by the database itself (INSERT ... SELECT over MariaDB's
 * SEQUENCE engine, one batch per transaction), so a phase can measure how the
 * ingestor records files into a table that already holds millions of rows
 * without listing or uploading any of them.
 *
 * Each seeded job holds up to `rowsPerJob` files in compression jobs of
 * 20,000 (as CLP_MAX_FILES_PER_COMPRESSION_JOB cuts them), with the columns
 * and dedup hash the store writes for S3 files, so every index of the table
 * holds them as it would hold real history.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Db } from '../src/store/db';
import { TABLES } from '../src/store/tables';
import { ROOT } from './lib/env';

export interface SeedOptions {
  /** Files per seeded job (default 1,000,000). */
  rowsPerJob?: number;
  /** Rows per INSERT ... SELECT, each its own transaction (default 100,000). */
  batch?: number;
  /** Files per seeded compression job (default 20,000). */
  filesPerCompressionJob?: number;
  log?: (msg: string) => void;
}

export interface Seeded {
  rows: number;
  jobIds: number[];
  ms: number;
}

const SEED_BUCKET = 'seed-bucket';

/** Adds `rows` earlier rows (finished jobs, compressed files) to the file table of `db`. */
export async function seedRows(db: Db, rows: number, opts: SeedOptions = {}): Promise<Seeded> {
  const rowsPerJob = opts.rowsPerJob ?? 1_000_000;
  const batch = opts.batch ?? 100_000;
  const perCj = opts.filesPerCompressionJob ?? 20_000;
  const t0 = performance.now();
  const jobIds: number[] = [];
  let done = 0;
  let lastLog = t0;
  while (done < rows) {
    const jobRows = Math.min(rowsPerJob, rows - done);
    const ts = Date.now() - 86_400_000;
    const config = JSON.stringify({ bucket_name: SEED_BUCKET, key_prefix: `old-${jobIds.length}/` });
    const [job] = await db.query<ResultSetHeader>(
      `INSERT INTO ${TABLES.ingestionJobs}
         (kind, config, status, num_files_ingested, num_files_compressed, dataset, bucket_name, creation_ts, last_update_ts)
       VALUES ('s3_scanner', ?, 'finished', ?, ?, 'seed', ?, ?, ?)`,
      [config, jobRows, jobRows, SEED_BUCKET, ts, ts],
    );
    const jobId = job.insertId;
    await db.query(
      `UPDATE ${TABLES.ingestionJobs} SET workflow_id = CONCAT('clp-seed-job-', id) WHERE id = ?`,
      [jobId],
    );
    jobIds.push(jobId);
    // The job's compression jobs, succeeded, numbered consecutively from firstCj.
    const cjs = Math.ceil(jobRows / perCj);
    const [cj] = await db.query<ResultSetHeader>(
      `INSERT INTO ${TABLES.compressionJobs} (status, clp_config, num_tasks, num_tasks_completed)
       SELECT 2, '', 1, 1 FROM seq_1_to_${cjs}`,
    );
    const firstCj = cj.insertId;
    const prefix = `${SEED_BUCKET}/old-${jobIds.length - 1}/`;
    for (let from = 0; from < jobRows; from += batch) {
      const to = Math.min(jobRows, from + batch) - 1;
      await db.query(
        `INSERT INTO ${TABLES.ingestedFiles}
           (path, bucket, object_key, size, status, ingestion_job_id, compression_job_id, dedup_hash, creation_ts,
            last_update_ts)
         SELECT CONCAT(?, k), ?, k, 1500, 'compressed', ?, ? + seq DIV ?, UNHEX(SHA2(CONCAT(?, k), 256)),
           ? + seq DIV 1000, ? + seq DIV 1000
         FROM (SELECT seq, CONCAT(LPAD(seq, 9, '0'), '.json') AS k FROM seq_${from}_to_${to}) s`,
        [prefix, SEED_BUCKET, jobId, firstCj, perCj, prefix, ts, ts],
      );
      done += to - from + 1;
      if (opts.log && performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        opts.log(`seeded ${done.toLocaleString('en-US')} of ${rows.toLocaleString('en-US')} rows`);
      }
    }
  }
  return { rows: done, jobIds, ms: performance.now() - t0 };
}

/** SQL as the stack's MariaDB root (over its socket, as scripts/stack.sh runs it); false where there is none. */
function stackAdminSql(sql: string): boolean {
  const stackDir = path.resolve(ROOT, process.env.CLP_INGESTOR_STACK_DIR ?? '.stack');
  const socket = path.join(stackDir, 'mariadb', 'mysqld.sock');
  if (!existsSync(socket)) return false;
  const r = spawnSync('mariadb', ['--no-defaults', '-S', socket, '-u', 'root', '-e', sql], {
    encoding: 'utf8',
  });
  return r.status === 0;
}

/**
 * Waits until InnoDB has written the seeding's dirty pages out (fewer than
 * 1,000 left, or `maxMs` passed), so a measurement right after seeding does
 * not share the disk and a core with the seeding's page flushing. Below its
 * dirty-page limit InnoDB barely writes them of its own accord; with
 * `checkpoint`, on the bench's own stack, it is made to
 * (`innodb_max_dirty_pages_pct` 0 and the page cleaner's I/O capacity raised,
 * until fewer than 100 pages are dirty or 120 s passed, then back), as rows
 * written long ago would be on disk. Returns the dirty pages left and
 * whether a checkpoint ran.
 */
export async function settleSeeding(
  db: Db,
  opts: { maxMs?: number; checkpoint?: boolean } = {},
): Promise<{ dirty: number; checkpoint: boolean }> {
  const [[was]] = await db.query<RowDataPacket[]>(
    'SELECT @@GLOBAL.innodb_max_dirty_pages_pct AS pct, @@GLOBAL.innodb_io_capacity AS io, @@GLOBAL.innodb_io_capacity_max AS ioMax',
  );
  // The page cleaner writes at most innodb_io_capacity pages a second (200 by default): raised for the checkpoint.
  const checkpoint =
    opts.checkpoint === true &&
    stackAdminSql(
      'SET GLOBAL innodb_io_capacity_max = 50000; SET GLOBAL innodb_io_capacity = 50000; SET GLOBAL innodb_max_dirty_pages_pct = 0',
    );
  const until = Date.now() + (checkpoint ? 120_000 : (opts.maxMs ?? 30_000));
  try {
    for (;;) {
      const [[row]] = await db.query<RowDataPacket[]>(
        `SELECT VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS
         WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'`,
      );
      const dirty = Number(row?.v ?? 0);
      if (dirty < (checkpoint ? 100 : 1_000) || Date.now() > until) return { dirty, checkpoint };
      await new Promise((r) => setTimeout(r, checkpoint ? 250 : 1000));
    }
  } finally {
    if (checkpoint)
      stackAdminSql(
        `SET GLOBAL innodb_max_dirty_pages_pct = ${Number(was.pct)}; SET GLOBAL innodb_io_capacity = ${Number(was.io)}; ` +
          `SET GLOBAL innodb_io_capacity_max = ${Number(was.ioMax)}`,
      );
  }
}

/** settleSeeding without a checkpoint: the dirty pages left. */
export async function waitForCleanBufferPool(db: Db, maxMs = 30_000): Promise<number> {
  return (await settleSeeding(db, { maxMs })).dirty;
}
