/**
 * Side by side with CLP's own log-ingestor (the Rust server in CLP's
 * components/log-ingestor, built by the user with cargo and named by path):
 * both over the same prefix, in the same MinIO and the same MariaDB server,
 * each given a CLP-style `POST /s3_scanner` whose buffer never flushes; the
 * clock runs from the request until N rows exist in that side's file table,
 * polled every 20 ms. Runs alternate (ours, CLP, ours, CLP, ...) and each run
 * starts from a fresh database in the same table state: empty, or with
 * `seedRows` earlier rows of another, finished job synthesized by SQL.
 *
 * Warm by default: before the clock each side's server (our worker, CLP's
 * log-ingestor) runs one small job of its own to its last row (the first
 * WARMUP_OBJECTS keys of the prefix), as a deployed ingestor has run jobs
 * before this one. A cold worker's first job pays about 300 ms more for its
 * start (the workflow and activity code's first run in a new process, new
 * connections): 7 % of a 100,000-object run, a cost paid once per process.
 * `warmup: false` times the servers cold.
 *
 * Self-checking: a side whose row count passes N, whose job fails, whose
 * process dies or whose request is refused fails the phase.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { buildServer } from '../src/client/http/server';
import { createPool, type Db } from '../src/store/db';
import { IngestionStore } from '../src/store/ingestion-store';
import { COMPRESSION_JOBS_DDL, TABLES } from '../src/store/schema';
import { uniqueName } from '../support/stack';
import { fmtDuration, sleep, stackPids } from './lib/env';
import { cpuMeter, startWorker, terminateJob, withDb, type BenchContext } from './lib/harness';
import { BENCH_DATASET, BENCH_TIMESTAMP_KEY, WARMUP_DATASET } from './lib/objects';
import { Child, CpuMeter } from './lib/proc';
import { settleSeeding } from './seed-rows';

export type TableState = 'empty' | 'seeded';
export type Side = 'ours' | 'clp';

export interface PeerRun {
  side: Side;
  ms: number;
  rate: number;
  /** From the POST until the side's first row was seen (its start-up: job creation, first listing). */
  firstRowMs: number;
  /** Peak RSS of the side's process (our worker; CLP's server), MiB. */
  peakMiB: number;
  cpu: Record<string, number>;
}

export interface PeerSet {
  n: number;
  state: TableState;
  seedRows: number;
  /** Each side's server ran a small job of its own before the clock. */
  warmup: boolean;
  runs: PeerRun[];
  /** Median files/s per side, and ours / CLP's. */
  ours: number;
  clp: number;
  ratio: number;
}

const POLL_MS = 20;
/** The warm-up job's objects: the first 100 keys of the prefix (`<prefix>0000000*`). */
const WARMUP_OBJECTS = 100;
const warmupPrefix = (prefix: string) => `${prefix}0000000`;
/** How long a finished run is watched for rows past N (a double registration). */
const SETTLE_MS = 1_000;

/**
 * Both sides' job body, as CLP's `POST /s3_scanner` takes it: a buffer that
 * never flushes within a run (size out of reach, timeout a day) and a scan
 * interval longer than any run.
 */
function scannerBody(ctx: BenchContext, prefix: string, dataset = BENCH_DATASET) {
  return {
    bucket_name: ctx.bucket,
    key_prefix: prefix,
    region: ctx.settings.aws.region,
    endpoint_url: ctx.settings.aws.s3Endpoint,
    dataset,
    timestamp_key: BENCH_TIMESTAMP_KEY,
    scanning_interval_sec: 3600,
    buffer_config: { flush_threshold_bytes: 2 ** 40, timeout_sec: 86_400 },
  };
}

async function post(url: string, body: unknown): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${url}: ${res.status} ${text}`);
  const id = Number((JSON.parse(text) as { id?: unknown }).id);
  if (!Number.isInteger(id)) throw new Error(`POST ${url}: no job id in ${text}`);
  return id;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** What a side's file table looks like to the clock. */
interface FileTable {
  pool: Db;
  table: string;
  jobTable: string;
  children: Child[];
}

/**
 * From `t0` until `n` rows of `jobId` exist, polled every 20 ms. The cheap
 * probe is the table's highest id (a primary-key read, whatever the table
 * holds) against the run's first id (read once, when the first row appears);
 * only once ids of n new rows exist is the job's rows counted, so the poll
 * does not load the database it measures. The first id, not the highest id
 * before the run: seeding with INSERT ... SELECT leaves the auto-increment
 * counter up to tens of thousands past its last row (InnoDB reserves ids for
 * such a statement in doubling blocks), and a probe from there passed early,
 * so a COUNT(*) of the job's rows ran every 20 ms for the rest of the run.
 * Fails if the count passes n (then or within SETTLE_MS), the job fails or a
 * process dies.
 */
async function untilRows(
  ft: FileTable,
  jobId: number,
  baseId: number,
  n: number,
  t0: number,
  log: (m: string) => void,
): Promise<{ ms: number; firstRowMs: number }> {
  const timeoutMs = 60_000 + n;
  const count = async () => {
    const [[r]] = await ft.pool.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS c FROM ${ft.table} WHERE ingestion_job_id = ?`,
      [jobId],
    );
    return Number(r.c);
  };
  const failed = async () => {
    const [[r]] = await ft.pool.query<RowDataPacket[]>(`SELECT status FROM ${ft.jobTable} WHERE id = ?`, [
      jobId,
    ]);
    return r?.status === 'failed' ? String(r.status) : null;
  };
  let lastLog = performance.now();
  let firstRowMs = NaN;
  let firstId: number | null = null;
  for (let polls = 0; ; polls++) {
    const top = await maxId(ft.pool, ft.table);
    const now = performance.now();
    if (firstId === null && top > baseId) {
      firstRowMs = now - t0;
      const [[f]] = await ft.pool.query<RowDataPacket[]>(
        `SELECT MIN(id) AS f FROM ${ft.table} WHERE id > ?`,
        [baseId],
      );
      firstId = Number(f.f);
    }
    /** Ids the run has taken so far: at least its rows. */
    const ids = firstId === null ? 0 : top - firstId + 1;
    if (ids >= n) {
      const c = await count();
      if (c > n) throw new Error(`${ft.table}: job ${jobId} has ${c} rows, more than the ${n} objects`);
      if (c === n) {
        const ms = performance.now() - t0;
        await sleep(SETTLE_MS);
        const after = await count();
        if (after !== n) throw new Error(`${ft.table}: job ${jobId} went on from ${n} to ${after} rows`);
        return { ms, firstRowMs };
      }
    }
    for (const child of ft.children) child.assertAlive();
    if (polls % 25 === 0 && (await failed())) throw new Error(`${ft.table}: job ${jobId} failed`);
    if (now - t0 > timeoutMs)
      throw new Error(`${ft.table}: job ${jobId}: fewer than ${n} rows after ${timeoutMs} ms`);
    if (now - lastLog > 15_000) {
      lastLog = now;
      log(`  ${((now - t0) / 1000).toFixed(0)} s: ids up to ${ids} of ${n}`);
    }
    await sleep(POLL_MS);
  }
}

/** Posts a scanner job over `prefix` and waits for its `n` rows: the job's id, and its times. */
async function timedJob(
  ctx: BenchContext,
  ft: FileTable,
  url: string,
  prefix: string,
  n: number,
  dataset?: string,
) {
  const baseId = await maxId(ft.pool, ft.table);
  const t0 = performance.now();
  const jobId = await post(url, scannerBody(ctx, prefix, dataset));
  return { jobId, ...(await untilRows(ft, jobId, baseId, n, t0, ctx.log)) };
}

/** The warm-up job (see the top of this file), run to its last row: its id. */
async function warmUp(ctx: BenchContext, ft: FileTable, url: string, prefix: string): Promise<number> {
  const w = await timedJob(ctx, ft, url, warmupPrefix(prefix), WARMUP_OBJECTS, WARMUP_DATASET);
  ctx.log(`  warm-up job: ${WARMUP_OBJECTS} rows in ${fmtDuration(w.ms)}`);
  return w.jobId;
}

function peerRun(
  side: Side,
  n: number,
  t: { ms: number; firstRowMs: number },
  peakMiB: number,
  cpu: Record<string, number>,
): PeerRun {
  return { side, ms: t.ms, rate: (n * 1000) / t.ms, firstRowMs: t.firstRowMs, peakMiB, cpu };
}

async function maxId(pool: Db, table: string): Promise<number> {
  const [[m]] = await pool.query<RowDataPacket[]>(`SELECT COALESCE(MAX(id), 0) AS m FROM ${table}`);
  return Number(m.m);
}

/**
 * `rows` earlier rows of one finished job in a side's file table, written by
 * the database (INSERT ... SELECT over MariaDB's SEQUENCE engine, 100,000 a
 * transaction), compressed in compression jobs of 20,000: the same layout
 * on both sides, each in its own columns (ours with its dedup hash).
 * Returns how long it took and how the pages were brought to disk, for the log.
 */
export async function seedEarlierRows(pool: Db, side: Side, rows: number): Promise<string> {
  const t0 = performance.now();
  const ts = Date.now() - 86_400_000;
  const [cj] = await pool.query<ResultSetHeader>(
    `INSERT INTO compression_jobs (status, clp_config, num_tasks, num_tasks_completed)
     SELECT 2, '', 1, 1 FROM seq_1_to_${Math.ceil(rows / 20_000)}`,
  );
  let jobId: number;
  if (side === 'ours') {
    const [job] = await pool.query<ResultSetHeader>(
      `INSERT INTO ${TABLES.ingestionJobs} (kind, config, status, num_files_ingested, num_files_compressed, dataset,
         bucket_name, creation_ts, last_update_ts) VALUES ('s3_scanner', '{}', 'finished', ?, ?, 'seed', 'seed-bucket', ?, ?)`,
      [rows, rows, ts, ts],
    );
    jobId = job.insertId;
  } else {
    const [job] = await pool.query<ResultSetHeader>(
      `INSERT INTO ingestion_job (config, status, num_files_compressed) VALUES ('{}', 'finished', ?)`,
      [rows],
    );
    jobId = job.insertId;
  }
  for (let from = 0; from < rows; from += 100_000) {
    const to = Math.min(rows, from + 100_000) - 1;
    const keys = `(SELECT seq, CONCAT('old/', LPAD(seq, 9, '0'), '.jsonl') AS k FROM seq_${from}_to_${to}) s`;
    if (side === 'ours') {
      await pool.query(
        `INSERT INTO ${TABLES.ingestedFiles} (path, bucket, object_key, size, status, ingestion_job_id,
           compression_job_id, dedup_hash, creation_ts, last_update_ts)
         SELECT CONCAT('seed-bucket/', k), 'seed-bucket', k, 1500, 'compressed', ?, ? + seq DIV 20000,
           UNHEX(SHA2(CONCAT('seed-bucket/', k), 256)), ? + seq DIV 1000, ? + seq DIV 1000 FROM ${keys}`,
        [jobId, cj.insertId, ts, ts],
      );
    } else {
      await pool.query(
        `INSERT INTO ingested_s3_object_metadata (bucket, \`key\`, size, status, ingestion_job_id, compression_job_id,
           creation_ts, last_update_ts)
         SELECT 'seed-bucket', k, 1500, 'compressed', ?, ? + seq DIV 20000, FROM_UNIXTIME((? + seq) / 1000),
           FROM_UNIXTIME((? + seq) / 1000) FROM ${keys}`,
        [jobId, cj.insertId, ts, ts],
      );
    }
  }
  const ms = performance.now() - t0;
  const t1 = performance.now();
  // The same state on both sides: the seeded rows on disk, as rows written long ago would be.
  const settled = await settleSeeding(pool, { maxMs: 20_000, checkpoint: true });
  const how = settled.checkpoint ? 'checkpoint' : 'wait';
  return `${fmtDuration(ms)} (${how} ${fmtDuration(performance.now() - t1)}, ${settled.dirty} pages dirty)`;
}

/** One run of ours: a fresh migrated database, its worker, and the REST API (in this process) taking the POST. */
async function runOurs(
  ctx: BenchContext,
  prefix: string,
  n: number,
  seedRows: number,
  warmup: boolean,
  name: string,
) {
  return withDb(ctx, async (db) => {
    if (seedRows > 0)
      ctx.log(`  seeded ${seedRows} rows in ${await seedEarlierRows(db.pool, 'ours', seedRows)}`);
    const { worker, taskQueue } = await startWorker(ctx, db, name);
    const app = await buildServer({
      store: new IngestionStore(db.pool),
      client: ctx.client,
      settings: { ...db.settings, taskQueue },
      authToken: '',
    });
    let jobId: number | undefined;
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as { port: number };
      const ft: FileTable = {
        pool: db.pool,
        table: TABLES.ingestedFiles,
        jobTable: TABLES.ingestionJobs,
        children: [worker],
      };
      const url = `http://127.0.0.1:${port}/s3_scanner`;
      if (warmup) await terminateJob(ctx.client, await warmUp(ctx, ft, url, prefix));
      const cpu = cpuMeter(worker).begin();
      const run = await timedJob(ctx, ft, url, prefix, n);
      jobId = run.jobId;
      return peerRun('ours', n, run, worker.peakMiB(), cpu.end());
    } finally {
      if (jobId !== undefined) await terminateJob(ctx.client, jobId);
      await app.close();
      await worker.stop();
    }
  });
}

/**
 * One run of CLP's log-ingestor: a fresh database of its own (CLP's table
 * names clash with ours: ingested_s3_object_metadata is our view there) with
 * the server's ordinary default collation, CLP's compression_jobs (its file
 * table's foreign key needs it), the server started on it (it creates its
 * tables), then the seeding, then the POST. Stopped with SIGKILL afterwards,
 * so it never flushes the buffer on its way out.
 */
async function runClp(
  ctx: BenchContext,
  binary: string,
  prefix: string,
  n: number,
  seedRows: number,
  warmup: boolean,
  name: string,
) {
  const { db: base } = ctx.settings;
  const database = uniqueName('clp_test_peer').replace(/-/g, '_');
  const admin = await mysql.createConnection({
    host: base.host,
    port: base.port,
    user: base.user,
    password: base.password,
  });
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
  await admin.end();
  const pool = createPool({ ...base, database });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clp-peer-'));
  let child: Child | undefined;
  try {
    await pool.query(COMPRESSION_JOBS_DDL);
    // No secrets in the file: CLP reads the database's from CLP_DB_USER/CLP_DB_PASS and S3's from the AWS chain.
    const config = path.join(dir, 'clp-config.yaml');
    writeFileSync(
      config,
      [
        'database:',
        `  host: "${base.host}"`,
        `  port: ${base.port}`,
        '  names:',
        `    clp: "${database}"`,
        'logs_input:',
        '  type: "s3"',
        '  aws_authentication:',
        '    type: "default"',
        'telemetry:',
        '  disable: true',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    child = new Child({
      name: `CLP log-ingestor (${name})`,
      command: binary,
      script: '',
      args: ['--config', config, '--host', '127.0.0.1', '--port', String(port)],
      cwd: dir,
      env: {
        CLP_DB_USER: base.user,
        CLP_DB_PASS: base.password,
        ...(ctx.settings.aws.credentials
          ? {
              AWS_ACCESS_KEY_ID: ctx.settings.aws.credentials.accessKeyId,
              AWS_SECRET_ACCESS_KEY: ctx.settings.aws.credentials.secretAccessKey,
            }
          : {}),
        AWS_REGION: ctx.settings.aws.region,
        CLP_DISABLE_TELEMETRY: 'true',
        RUST_LOG: 'info',
      },
      logFile: path.join(ctx.logDir, `${name}-clp-log-ingestor.log`),
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      child.assertAlive();
      const ok = await fetch(`http://127.0.0.1:${port}/health`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`CLP log-ingestor: no /health in 60 s; see its log`);
      await sleep(100);
    }
    if (seedRows > 0) ctx.log(`  seeded ${seedRows} rows in ${await seedEarlierRows(pool, 'clp', seedRows)}`);
    const ft: FileTable = {
      pool,
      table: 'ingested_s3_object_metadata',
      jobTable: 'ingestion_job',
      children: [child],
    };
    const url = `http://127.0.0.1:${port}/s3_scanner`;
    // CLP's API has no way to end a job: the warm-up job stays, idle until its next scan (an hour).
    if (warmup) await warmUp(ctx, ft, url, prefix);
    const clp = child;
    const cpu = new CpuMeter(() => ({ ...stackPids(), clp: clp.pid, bench: process.pid })).begin();
    const run = await timedJob(ctx, ft, url, prefix, n);
    return peerRun('clp', n, run, child.peakMiB(), cpu.end());
  } finally {
    if (child) {
      child.proc.kill('SIGKILL');
      await child.stop();
    }
    await pool.query(`DROP DATABASE \`${database}\``).catch(() => undefined);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * `runs` runs per side over `prefix` (n objects), alternating ours and CLP's,
 * each from the table state `state`; `onRun` sees each run as it ends.
 */
export async function peerSet(
  ctx: BenchContext,
  opts: {
    binary: string;
    prefix: string;
    n: number;
    state: TableState;
    seedRows: number;
    runs: number;
    /** Each side's server runs a small job of its own before the clock (default true). */
    warmup?: boolean;
    onRun?: (r: PeerRun) => void;
  },
): Promise<PeerSet> {
  const seed = opts.state === 'seeded' ? opts.seedRows : 0;
  const warmup = opts.warmup ?? true;
  const runs: PeerRun[] = [];
  for (let i = 0; i < opts.runs; i++) {
    for (const side of ['ours', 'clp'] as const) {
      const name = `peer-${opts.n}-${opts.state}-${i + 1}-${side}`;
      ctx.log(
        `peer N=${opts.n} ${opts.state}: run ${i + 1}/${opts.runs}, ${side === 'ours' ? 'ours' : "CLP's"}`,
      );
      const r =
        side === 'ours'
          ? await runOurs(ctx, opts.prefix, opts.n, seed, warmup, name)
          : await runClp(ctx, opts.binary, opts.prefix, opts.n, seed, warmup, name);
      ctx.log(
        `  ${fmtDuration(r.ms)}, ${Math.round(r.rate).toLocaleString('en-US')} files/s, first row after ${Math.round(r.firstRowMs)} ms`,
      );
      runs.push(r);
      opts.onRun?.(r);
    }
  }
  const ours = median(runs.filter((r) => r.side === 'ours').map((r) => r.rate));
  const clp = median(runs.filter((r) => r.side === 'clp').map((r) => r.rate));
  return { n: opts.n, state: opts.state, seedRows: seed, warmup, runs, ours, clp, ratio: ours / clp };
}
