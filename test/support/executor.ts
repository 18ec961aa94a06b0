/** Helpers for running the compression executor against the real stack. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Settings } from '../../src/config/settings';
import { encodeClpConfig, type ClpConfig, type ClpConfigCodec } from '../../src/clp/clp-config';
import { datasetTables, findDataset } from '../../src/clp/metadata';
import { forEachHit, searchContext, searchDataset } from '../../src/clp/search';
import { runExecutor, type ExecutorOptions, type ExecutorStats } from '../../src/executor/executor';
import { createLogger, type LogFields } from '../../src/common/log';
import { rolePool } from './stack';
import type { Db } from '../../src/store/db';
import { eventually } from './wait';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

const output = {
  target_archive_size: 256 * 1024 * 1024,
  target_dictionaries_size: 32 * 1024 * 1024,
  target_encoded_file_size: 256 * 1024 * 1024,
  target_segment_size: 256 * 1024 * 1024,
  compression_level: 3,
};

type S3Input = Extract<ClpConfig['input'], { type: 's3' }>;
type S3Fields = Omit<S3Input, 'type' | 'keys'>;

function s3Fields(settings: Settings, bucket: string, overrides: Partial<S3Fields>): S3Fields {
  return {
    bucket,
    region_code: settings.aws.region,
    key_prefix: '',
    // The job names its endpoint (MinIO here): CLP uses nothing else.
    endpoint_url: settings.aws.s3Endpoint ?? null,
    aws_authentication: { type: 'default' },
    dataset: 'default',
    timestamp_key: null,
    unstructured: false,
    ...overrides,
  };
}

export function s3JobConfig(
  settings: Settings,
  bucket: string,
  keys: string[],
  overrides: Partial<S3Fields> = {},
): ClpConfig {
  return { input: { type: 's3', keys, ...s3Fields(settings, bucket, overrides) }, output };
}

/** CLP head's s3_object_metadata input: ids of ingested_s3_object_metadata rows of one ingestion job. */
export function s3ObjectMetadataJobConfig(
  settings: Settings,
  bucket: string,
  ingestionJobId: number,
  ids: number[],
  overrides: Partial<S3Fields> = {},
): ClpConfig {
  return {
    input: {
      type: 's3_object_metadata',
      ingestion_job_id: ingestionJobId,
      s3_object_metadata_ids: ids,
      ...s3Fields(settings, bucket, overrides),
    },
    output,
  };
}

/**
 * Records S3 objects as an ingestion job's files (log_ingestor_ingested_files,
 * served to CLP as ingested_s3_object_metadata); returns the job's id and the
 * files' ids in the order of `keys`.
 */
export async function insertIngestedObjects(
  pool: Db,
  bucket: string,
  keys: string[],
): Promise<{ ingestionJobId: number; ids: number[] }> {
  const now = Date.now();
  const [job] = await pool.query<any>(
    `INSERT INTO log_ingestor_ingestion_jobs (kind, config, dataset, bucket_name, creation_ts, last_update_ts)
     VALUES ('s3_scanner', '{}', 'default', ?, ?, ?)`,
    [bucket, now, now],
  );
  const ids: number[] = [];
  for (const key of keys) {
    const [res] = await pool.query<any>(
      `INSERT INTO log_ingestor_ingested_files
         (path, bucket, object_key, size, ingestion_job_id, dedup_hash, creation_ts, last_update_ts)
       VALUES (?, ?, ?, 0, ?, ?, ?, ?)`,
      [`${bucket}/${key}`, bucket, key, job.insertId, createHash('sha256').update(key).digest(), now, now],
    );
    ids.push(res.insertId);
  }
  return { ingestionJobId: job.insertId, ids };
}

/** The settings with another CLP_FS_MOUNT_ROOT ('' means CLP sees host paths as they are). */
export function withMountRoot(settings: Settings, fsMountRoot: string): Settings {
  return { ...settings, clp: { ...settings.clp, fsMountRoot } };
}

export function fsJobConfig(paths: string[], prefix: string | null): ClpConfig {
  return {
    input: {
      type: 'fs',
      paths_to_compress: paths,
      path_prefix_to_remove: prefix,
      dataset: 'default',
      timestamp_key: null,
      unstructured: false,
    },
    output,
  };
}

/** Inserts a PENDING compression job the way a submitter does; returns its id. */
export async function insertJob(
  pool: Db,
  config: ClpConfig | Buffer,
  codec: ClpConfigCodec = 'zstd',
): Promise<number> {
  const blob = Buffer.isBuffer(config) ? config : await encodeClpConfig(config, codec);
  const [res] = await pool.query<any>('INSERT INTO compression_jobs (clp_config) VALUES (?)', [blob]);
  return res.insertId;
}

export async function jobRow(pool: Db, id: number): Promise<any> {
  const [[row]] = await pool.query<any[]>('SELECT * FROM compression_jobs WHERE id = ?', [id]);
  return row;
}

/** Polls until every job has left PENDING/RUNNING; returns their rows by id. */
export async function waitForJobs(pool: Db, ids: number[], timeoutMs = 60_000): Promise<Map<number, any>> {
  let rows: any[] = [];
  const done = async () => {
    [rows] = await pool.query<any[]>('SELECT * FROM compression_jobs WHERE id IN (?)', [ids]);
    return rows.length === ids.length && rows.every((r) => r.status >= 2);
  };
  await eventually(done, timeoutMs, 'jobs done', 100).catch(() => {
    throw new Error(`jobs not done in ${timeoutMs} ms: ${JSON.stringify(rows.map((r) => [r.id, r.status]))}`);
  });
  return new Map(rows.map((r) => [r.id, r]));
}

/** Waits until the executor has logged `msg`. */
export function untilLogged(executor: { logs: LogFields[] }, msg: string, timeoutMs = 30_000) {
  return eventually(async () => executor.logs.some((r) => r.msg === msg), timeoutMs, `"${msg}" logged`, 50);
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
}

/**
 * An in-process executor whose log records are kept for assertions; it
 * connects with its own pool, as the executor's least-privilege DB user.
 */
export function startExecutor(
  settings: Settings,
  options: Partial<ExecutorOptions> & { archivesDir: string },
): { logs: LogFields[]; stop: () => Promise<ExecutorStats>; done: Promise<ExecutorStats> } {
  const logs: LogFields[] = [];
  const controller = new AbortController();
  const pool = rolePool(settings, 'executor');
  const done = runExecutor({
    settings,
    pool,
    signal: controller.signal,
    pollIntervalMs: 50,
    leaseMs: 5_000,
    logger: createLogger((r) => logs.push(r)),
    ...options,
  }).finally(() => pool.end());
  return {
    logs,
    done,
    stop: async () => {
      controller.abort();
      return done;
    },
  };
}

/** A registered archive of a dataset, with every event clp-s finds in it. */
export interface DatasetArchive {
  id: string;
  begin_timestamp: number;
  end_timestamp: number;
  size: number;
  uncompressed_size: number;
  events: Record<string, unknown>[];
}

/**
 * Every archive CLP's archives table registers for `dataset`, with every
 * event the product's search (CLP's clp-s) finds in it ('*' matches every
 * event), so a test counts events as a CLP user finds them. Only registered
 * archives count, as in CLP.
 */
export async function datasetArchives(
  pool: Db,
  settings: Settings,
  dataset: string,
): Promise<DatasetArchive[]> {
  if (!(await findDataset(pool, dataset))) return [];
  const [rows] = await pool.query<any[]>(
    `SELECT id, begin_timestamp, end_timestamp, size, uncompressed_size FROM \`${datasetTables(dataset).archives}\` ORDER BY pagination_id`,
  );
  const archives = rows.map((r): DatasetArchive => ({
    id: r.id,
    begin_timestamp: Number(r.begin_timestamp),
    end_timestamp: Number(r.end_timestamp),
    size: Number(r.size),
    uncompressed_size: Number(r.uncompressed_size),
    events: [],
  }));
  const byId = new Map(archives.map((a) => [a.id, a]));
  const search = searchDataset(searchContext(settings, pool), { dataset, query: '*', limit: Infinity });
  await forEachHit(search, (hit) => {
    byId.get(hit.archive_id)!.events.push(hit.event);
  });
  return archives;
}

/** Every event of the dataset's registered archives. */
export async function datasetEvents(
  pool: Db,
  settings: Settings,
  dataset: string,
): Promise<Record<string, unknown>[]> {
  return (await datasetArchives(pool, settings, dataset)).flatMap((a) => a.events);
}

/** JSON log lines with a unique `seq` per event (`from` onwards), for exactly-once counts by search. */
export function jsonLogLines(count: number, from = 0, tag = 'e'): Buffer {
  const lines: string[] = [];
  for (let i = from; i < from + count; i++) {
    lines.push(
      JSON.stringify({
        ts: Date.UTC(2024, 4, 17) + i * 1000,
        level: i % 10 === 0 ? 'ERROR' : 'INFO',
        msg: i % 10 === 0 ? `request ${i} failed: timeout` : `request ${i} ok`,
        tag,
        seq: i,
      }),
    );
  }
  return Buffer.from(lines.join('\n') + '\n');
}

/**
 * Compiles just the executor (src/executor/main.ts and what it imports) with
 * the build tsconfig, into a throwaway directory under node_modules/.cache so
 * the compiled code still resolves the repo's node_modules. Building only this
 * closure keeps the test independent of unrelated work in progress in src/.
 */
export function buildExecutor(): { mainJs: string; outDir: string } {
  const cache = path.join(REPO_ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const outDir = mkdtempSync(path.join(cache, 'clp-executor-build-'));
  const tsconfig = path.join(outDir, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(REPO_ROOT, 'tsconfig.build.json'),
      compilerOptions: {
        rootDir: path.join(REPO_ROOT, 'src'),
        outDir: path.join(outDir, 'dist'),
        sourceMap: false,
      },
      files: [path.join(REPO_ROOT, 'src', 'executor', 'main.ts')],
      include: [],
    }),
  );
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', tsconfig], { stdio: 'pipe' });
  return { mainJs: path.join(outDir, 'dist', 'executor', 'main.js'), outDir };
}

export interface ChildExecutor {
  child: ChildProcess;
  logs: LogFields[];
  /** Lines on stdout that were not JSON objects (there should be none). */
  badLines: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node main.js <args>` with the test's settings in its environment; stdout parsed as JSON lines. */
export function spawnExecutor(mainJs: string, args: string[], env: Record<string, string>): ChildExecutor {
  const child = spawn(process.execPath, [mainJs, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogFields[] = [];
  const badLines: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const record = JSON.parse(line);
      if (record && typeof record === 'object' && !Array.isArray(record)) logs.push(record);
      else badLines.push(line);
    } catch {
      badLines.push(line);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, logs, badLines, stderr, exited };
}

/** Deterministic, realistic application log lines (for compression-ratio checks). */
export function generateLogs(targetBytes: number, seed = 1): Buffer {
  let state = seed >>> 0 || 1;
  const rand = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const levels = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'];
  const loggers = [
    'c.e.api.OrderController',
    'c.e.db.ConnectionPool',
    'c.e.auth.TokenFilter',
    'c.e.cache.Redis',
  ];
  const paths = ['/api/v1/orders', '/api/v1/users', '/api/v1/cart', '/healthz', '/api/v1/payments'];
  const methods = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
  const lines: string[] = [];
  let size = 0;
  let ts = Date.UTC(2024, 4, 17, 10, 0, 0);
  while (size < targetBytes) {
    ts += Math.floor(rand() * 40);
    const level = pick(levels);
    const thread = `http-nio-8080-exec-${1 + Math.floor(rand() * 32)}`;
    const trace = Math.floor(rand() * 0xffffffff)
      .toString(16)
      .padStart(8, '0');
    let msg: string;
    const r = rand();
    if (r < 0.6) {
      msg =
        `${pick(methods)} ${pick(paths)}/${Math.floor(rand() * 100000)} status=${pick([200, 200, 200, 201, 404, 500])} ` +
        `latency_ms=${Math.floor(rand() * 900)} user_id=u-${Math.floor(rand() * 50000)} trace_id=${trace}`;
    } else if (r < 0.85) {
      msg = `pool stats active=${Math.floor(rand() * 20)} idle=${Math.floor(rand() * 10)} waiting=${Math.floor(rand() * 5)}`;
    } else if (r < 0.97) {
      msg = `cache ${pick(['hit', 'miss'])} key=session:${trace} ttl=${Math.floor(rand() * 3600)}s`;
    } else {
      msg =
        `request failed trace_id=${trace}\njava.net.SocketTimeoutException: Read timed out\n` +
        `\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)\n` +
        `\tat c.e.db.ConnectionPool.acquire(ConnectionPool.java:${100 + Math.floor(rand() * 200)})`;
    }
    const line = `${new Date(ts).toISOString()} ${level.padEnd(5)} [${thread}] ${pick(loggers)} - ${msg}\n`;
    lines.push(line);
    size += Buffer.byteLength(line);
  }
  return Buffer.from(lines.join(''));
}
