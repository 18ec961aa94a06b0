/**
 * The store alone, no S3 and no Temporal: how long recording a scanned page
 * and flushing take in a file table that already holds `--table-rows` rows of
 * other jobs. Pages of 1,000 files are recorded as the scanner records them
 * (recordS3Page: cursor compare-and-set, the bulk load, counters), and every
 * `--flush-every` pages the buffer is flushed as the job's flush loop does
 * (submitBuffered, 20,000 files), one after the other on one connection
 * pool, so each figure is that statement mix's own cost. `--insert` records
 * through connections that do not offer LOAD DATA LOCAL, so the store falls
 * back to its multi-row INSERT: the two ways side by side. MariaDB's CPU
 * (when the bench stack's scripts/stack.sh started it) and this process's
 * are reported.
 *
 *   node dist-bench/bench/record-probe.js --table-rows 1000000 --files 100000
 *   node dist-bench/bench/record-probe.js --flush-every 0 [--insert]
 */
import { Command } from 'commander';
import type { RowDataPacket } from 'mysql2/promise';
import { parseJobConfig } from '../src/config/job-config';
import { createPool } from '../src/store/db';
import { IngestionStore } from '../src/store/ingestion-store';
import type { NewS3File } from '../src/store/records';
import { createTestDb } from '../support/stack';
import { benchSettings } from './lib/env';
import { cpuMeter } from './lib/harness';
import { seedRows, waitForCleanBufferPool } from './seed-rows';

const STATUS = [
  'Innodb_buffer_pool_reads',
  'Innodb_buffer_pool_read_requests',
  'Innodb_rows_read',
  'Innodb_rows_inserted',
  'Innodb_rows_updated',
  'Innodb_data_written',
];

async function globalStatus(pool: IngestionStore['db']): Promise<Record<string, number>> {
  const [rows] = await pool.query<RowDataPacket[]>(`SHOW GLOBAL STATUS WHERE Variable_name IN (?)`, [STATUS]);
  return Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
}

async function main() {
  const o = new Command()
    .option('--table-rows <n>', 'earlier rows of other jobs', (v) => Number(v), 0)
    .option('--files <n>', 'files to record', (v) => Number(v), 100_000)
    .option('--flush-every <pages>', 'pages between flushes (0: none)', (v) => Number(v), 20)
    .option('--insert', 'record by multi-row INSERT (connections without LOAD DATA LOCAL)', false)
    .option('--keep', 'keep the database (prints its name)', false)
    .option('--reuse <database>', 'a database a --keep run left (seeded already): record into it, keep it')
    .parse()
    .opts<{
      tableRows: number;
      files: number;
      flushEvery: number;
      insert: boolean;
      keep: boolean;
      reuse?: string;
    }>();
  const settings = benchSettings();
  const db = o.reuse
    ? {
        pool: createPool({ ...settings.db, database: o.reuse }),
        settings: { ...settings, db: { ...settings.db, database: o.reuse } },
        drop: async () => undefined,
      }
    : await createTestDb();
  if (o.reuse) o.keep = true;
  try {
    const recording = o.insert ? createPool(db.settings.db, { offerLocalFiles: false }) : db.pool;
    const store = new IngestionStore(recording);
    if (o.tableRows > 0) {
      const s = await seedRows(db.pool, o.tableRows, { log: (m) => console.error(m) });
      const dirty = await waitForCleanBufferPool(db.pool);
      console.error(`seeded ${s.rows} rows in ${(s.ms / 1000).toFixed(1)} s; dirty pages left ${dirty}`);
    }
    const jobId = await store.createJob(
      parseJobConfig('s3_scanner', { bucket_name: 'probe', key_prefix: `p${Date.now()}/`, dataset: 'probe' }),
    );
    const before = await globalStatus(db.pool);
    const cpu = cpuMeter().begin();
    let cursor: string | null = null;
    const pageMs: number[] = [];
    const flushMs: number[] = [];
    let flushSeq = 0;
    const t0 = performance.now();
    for (let p = 0; p * 1000 < o.files; p++) {
      const files: NewS3File[] = [];
      for (let i = 0; i < 1000; i++)
        files.push({
          s3: { bucket: 'probe', key: `p/${String(p * 1000 + i).padStart(9, '0')}.json` },
          size: 1500,
        });
      const next = files.at(-1)!.s3.key;
      const a = performance.now();
      const n = await store.recordS3Page(jobId, files, cursor, next);
      pageMs.push(performance.now() - a);
      if (n !== 1000) throw new Error(`page ${p}: recorded ${n}`);
      cursor = next;
      if (o.flushEvery > 0 && (p + 1) % o.flushEvery === 0) {
        const b = performance.now();
        await store.submitBuffered(jobId, ++flushSeq, 20_000, async () => Buffer.from('{}'));
        flushMs.push(performance.now() - b);
      }
    }
    const total = performance.now() - t0;
    const cpuUsed = cpu.end();
    const after = await globalStatus(db.pool);
    if (recording !== db.pool) await recording.end();
    const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);
    const tenth = Math.max(1, Math.floor(pageMs.length / 10));
    const [[size]] = await db.pool.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM log_ingestor_ingested_files`,
    );
    console.log(
      JSON.stringify({
        tableRows: o.tableRows,
        tableRowsAfter: Number(size.n),
        files: o.files,
        totalMs: Math.round(total),
        filesPerSec: Math.round((o.files * 1000) / total),
        pageMeanMs: +mean(pageMs).toFixed(2),
        pageFirst10Ms: +mean(pageMs.slice(0, tenth)).toFixed(2),
        pageLast10Ms: +mean(pageMs.slice(-tenth)).toFixed(2),
        flushes: flushMs.length,
        flushMeanMs: +mean(flushMs).toFixed(1),
        recordedBy: o.insert ? 'INSERT' : 'LOAD DATA LOCAL',
        mariadbCpuSec: cpuUsed.mariadb ?? null,
        probeCpuSec: cpuUsed.bench,
        status: Object.fromEntries(STATUS.map((k) => [k, after[k] - before[k]])),
        database: o.keep ? db.settings.db.database : undefined,
      }),
    );
  } finally {
    if (!o.keep) await db.drop();
    else await db.pool.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
