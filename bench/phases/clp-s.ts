/**
 * The compression figures: the floor (CLP's clp-s alone on the bench objects,
 * listed, split and read exactly as the executor would) and what the end to
 * end run's compression jobs and CLP's archive table say afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { clpS3Url } from '../../src/clp/s3-url';
import { datasetTables } from '../../src/clp/metadata';
import { compareCodePoints } from '../../src/executor/clp-job-config';
import { runClpSCompress, type ArchiveStats } from '../../src/executor/clp-s-run';
import { archiveStoreFor } from '../../src/executor/executor';
import { partition } from '../../src/executor/partition';
import type { Db } from '../../src/store/db';
import { CompressionJobStatus, TABLES } from '../../src/store/schema';
import { cpuMeter, type BenchContext } from '../lib/harness';
import { BENCH_DATASET, BENCH_TIMESTAMP_KEY, forEachConcurrent } from '../lib/objects';
import { ChildrenMemory } from '../lib/proc';
import { listByToken } from './s3';

/** What clp-s made of the objects, by whichever route. */
export interface CompressionFigures {
  files: number;
  /** The objects' bytes (what was read from MinIO). */
  bytes: number;
  /** Summed from clp-s's archive stats (floor) or compression_jobs (end to end). */
  uncompressedSize: number;
  compressedSize: number;
  /** uncompressedSize / compressedSize. */
  ratio: number;
  compressionJobs: number;
  tasks: number;
  archives: number;
  /** The clp-s processes' memory (sampled every 20 ms from /proc): one run's peak, all at once. */
  clpSMemory: { peakOneMiB: number; peakTogetherMiB: number; maxAtOnce: number };
}

export interface ClpSFloorResult extends CompressionFigures {
  concurrency: number;
  /** From the first list request until the last clp-s exited. */
  ms: number;
  listMs: number;
  rate: number;
  mbPerSec: number;
  cpu: Record<string, number>;
}

/** 10^6 bytes: MB/s figures are decimal megabytes. */
export const MB = 1e6;

/**
 * The floor: clp-s alone, `concurrency` runs at once, on the objects under
 * `prefix`. Listed with the scanner's own lean lister (src/s3-list.ts,
 * continuation tokens, 1,000 keys a page); split as the executor would split
 * them: compression jobs of CLP_MAX_FILES_PER_COMPRESSION_JOB files in key
 * order, each cut into tasks by target_archive_size (src/executor/partition.ts);
 * each task one `clp-s c` run with the executor's own runClpSCompress (so the
 * same flags, clpSCompressArgs, and environment), reading the objects by the
 * URLs CLP's rule makes of what the worker writes into a job (region_code
 * null with a custom endpoint). No database, no Temporal, no archive placing.
 */
export async function clpSFloor(
  ctx: BenchContext,
  prefix: string,
  n: number,
  concurrency: number,
): Promise<ClpSFloorResult> {
  const { settings } = ctx;
  const out = settings.clpOutput;
  const endpointUrl = settings.aws.s3Endpoint ?? null;
  const regionCode = endpointUrl === null ? settings.aws.region : null;
  const credentials = settings.aws.credentials;
  if (!credentials) throw new Error('clp-s floor: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clp-bench-floor-'));
  const singleFileArchive = archiveStoreFor(settings, dir).singleFileArchives;
  const memory = new ChildrenMemory(process.pid, 'clp-s');
  const cpu = cpuMeter(undefined, undefined, { clpSOfBench: true }).begin();
  const t0 = performance.now();
  try {
    const objects: { key: string; size: number }[] = [];
    await listByToken(ctx, prefix, async (page) => {
      for (const o of page) objects.push({ key: o.Key!, size: o.Size ?? 0 });
    });
    const listMs = performance.now() - t0;
    if (objects.length !== n) throw new Error(`clp-s floor: listed ${objects.length} objects, expected ${n}`);
    objects.sort((a, b) => compareCodePoints(a.key, b.key));
    const jobs: (typeof objects)[] = [];
    for (let i = 0; i < objects.length; i += settings.maxFilesPerCompressionJob)
      jobs.push(objects.slice(i, i + settings.maxFilesPerCompressionJob));
    const tasks = jobs.flatMap((job) => partition(job, out.target_archive_size));
    const archives: ArchiveStats[] = [];
    await forEachConcurrent(
      tasks.map((files, i) => ({ files, i })),
      concurrency,
      async ({ files, i }) => {
        const taskDir = path.join(dir, `task-${i}`);
        const outputDir = path.join(taskDir, 'archives');
        await mkdir(outputDir, { recursive: true });
        const filesFrom = path.join(taskDir, 'inputs.txt');
        await writeFile(
          filesFrom,
          files.map((f) => clpS3Url(endpointUrl, regionCode, ctx.bucket, f.key) + '\n').join(''),
        );
        const stats = await runClpSCompress({
          bin: settings.executor.clpS,
          outputDir,
          filesFrom,
          targetEncodedSize: out.target_segment_size + out.target_dictionaries_size,
          compressionLevel: out.compression_level,
          singleFileArchive,
          timestampKey: BENCH_TIMESTAMP_KEY,
          s3Credentials: credentials,
        });
        archives.push(...stats);
      },
    );
    const ms = performance.now() - t0;
    const bytes = objects.reduce((s, o) => s + o.size, 0);
    const uncompressedSize = archives.reduce((s, a) => s + a.uncompressed_size, 0);
    const compressedSize = archives.reduce((s, a) => s + a.size, 0);
    return {
      concurrency,
      files: objects.length,
      bytes,
      ms,
      listMs,
      rate: (objects.length * 1000) / ms,
      mbPerSec: bytes / MB / (ms / 1000),
      uncompressedSize,
      compressedSize,
      ratio: uncompressedSize / compressedSize,
      compressionJobs: jobs.length,
      tasks: tasks.length,
      archives: archives.length,
      clpSMemory: memory.stop(),
      cpu: cpu.end(),
    };
  } finally {
    memory.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface E2eCompression extends Omit<CompressionFigures, 'clpSMemory'> {
  /** CLP's archive table for the bench dataset: its sums must be those of compression_jobs. */
  archiveTable: { archives: number; uncompressedSize: number; compressedSize: number; ratio: number };
  archiveTableMatches: boolean;
  /** compression_jobs that did not SUCCEED (must be 0). */
  notSucceeded: number;
}

/** What the end to end run's compression jobs (and CLP's archive table) record for ingestion job `jobId`. */
export async function e2eCompression(pool: Db, jobId: number, files: number): Promise<E2eCompression> {
  const [[f]] = await pool.query<any[]>(
    `SELECT COALESCE(SUM(size), 0) AS bytes FROM ${TABLES.ingestedFiles} WHERE ingestion_job_id = ?`,
    [jobId],
  );
  // The phase's database is its own: every compression job and archive in it is this job's.
  const [[cj]] = await pool.query<any[]>(
    `SELECT COUNT(*) AS jobs, COALESCE(SUM(uncompressed_size), 0) AS u, COALESCE(SUM(compressed_size), 0) AS c,
            COALESCE(SUM(num_tasks), 0) AS tasks, COALESCE(SUM(status <> ?), 0) AS bad FROM ${TABLES.compressionJobs}`,
    [CompressionJobStatus.SUCCEEDED],
  );
  const [[a]] = await pool.query<any[]>(
    `SELECT COUNT(*) AS n, COALESCE(SUM(uncompressed_size), 0) AS u, COALESCE(SUM(size), 0) AS c FROM \`${datasetTables(BENCH_DATASET).archives}\``,
  );
  const uncompressedSize = Number(cj.u);
  const compressedSize = Number(cj.c);
  const archiveTable = {
    archives: Number(a.n),
    uncompressedSize: Number(a.u),
    compressedSize: Number(a.c),
    ratio: Number(a.u) / Number(a.c),
  };
  return {
    files,
    bytes: Number(f.bytes),
    uncompressedSize,
    compressedSize,
    ratio: uncompressedSize / compressedSize,
    compressionJobs: Number(cj.jobs),
    tasks: Number(cj.tasks),
    archives: archiveTable.archives,
    archiveTable,
    archiveTableMatches:
      archiveTable.uncompressedSize === uncompressedSize && archiveTable.compressedSize === compressedSize,
    notSucceeded: Number(cj.bad),
  };
}
