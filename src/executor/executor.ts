/**
 * A stand-in for CLP's compression scheduler and workers: claims PENDING
 * compression_jobs, compresses their inputs into archives and records the
 * outcome with CLP's statuses, so the ingestor can be run end to end without
 * a CLP deployment (and against the same DB contract).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Settings } from '../config/settings';
import { Backoff, dbClassifier, dbDependency, waitMessage, type Classifier } from '../dependencies';
import type { Db } from '../store/db';
import { ArchiveWriteError, ArchiveWriter, gzipLevelFor, stagingRoot } from './archive';
import { InvalidClpConfigError, parseClpJobConfig, type ClpJobConfig } from './clp-job-config';
import {
  checkObjectMetadata,
  fsInputs,
  InputError,
  JobRejectedError,
  queryObjectMetadata,
  s3Inputs,
  type JobInputs,
} from './inputs';
import {
  claimNextJob,
  finishJob,
  killJob,
  killOrphanedJobs,
  liveClaimTokens,
  startTask,
  type Claim,
} from './job-store';
import { keepLease, LeaseLostError } from './lease';
import { noExecutorMetrics, type ExecutorMetrics } from '../metrics';
import { createLogger, errorFields, type Logger } from './log';
import { throttled } from './throttle';

export interface ExecutorOptions {
  settings: Settings;
  pool: Db;
  /** Aborting stops claiming; a job in progress is marked KILLED, as CLP would find it. */
  signal?: AbortSignal;
  pollIntervalMs?: number;
  leaseMs?: number;
  archivesDir?: string;
  executorId?: string;
  /** Jobs run at once by this executor (each its own claim). */
  concurrency?: number;
  throttleBytesPerSec?: number;
  logger?: Logger;
  metrics?: ExecutorMetrics;
}

export interface ExecutorStats {
  succeeded: number;
  failed: number;
  /**
   * Jobs given up without an outcome of this executor's: lease lost (another
   * executor KILLED it), shutdown (KILLED), DB unavailable (KILLED once its lease expires).
   */
  abandoned: number;
}

type JobResult = keyof ExecutorStats;

interface Context {
  pool: Db;
  settings: Settings;
  signal: AbortSignal;
  executorId: string;
  archivesDir: string;
  pollIntervalMs: number;
  leaseMs: number;
  throttleBytesPerSec?: number;
  log: Logger;
  metrics: ExecutorMetrics;
  /** Jobs running now, over all loops (the metrics' gauge). */
  running: number;
}

class ShutdownError extends Error {
  override name = 'ShutdownError';
}

/** A DB call failed: the job is not at fault, so it is left for a retry rather than failed. */
class DbUnavailableError extends Error {
  override name = 'DbUnavailableError';
}

async function db<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ArchiveWriteError) throw err;
    throw new DbUnavailableError((err as Error).message, { cause: err });
  }
}

export function defaultExecutorId(): string {
  return `${os.hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/**
 * Removes staging directories no live claim owns: leftovers of executors that
 * died mid-archive. Directories of live leases (other executors sharing this
 * archive directory) are left alone.
 */
export async function cleanStaleStaging(pool: Db, archivesDir: string, log: Logger): Promise<string[]> {
  const root = stagingRoot(archivesDir);
  const names = await readdir(root).catch(() => [] as string[]);
  if (names.length === 0) return [];
  const live = await liveClaimTokens(pool);
  const stale = names.filter((n) => !live.has(n));
  for (const name of stale) await rm(path.join(root, name), { recursive: true, force: true });
  if (stale.length) log.info('removed stale staging directories', { staging: stale });
  return stale;
}

export async function runExecutor(options: ExecutorOptions): Promise<ExecutorStats> {
  const { settings, pool } = options;
  const executorId = options.executorId ?? defaultExecutorId();
  const ctx: Context = {
    pool,
    settings,
    signal: options.signal ?? new AbortController().signal,
    executorId,
    archivesDir: options.archivesDir ?? settings.executor.archiveDir,
    pollIntervalMs: options.pollIntervalMs ?? settings.executor.pollIntervalMs,
    leaseMs: options.leaseMs ?? settings.executor.leaseMs,
    throttleBytesPerSec: options.throttleBytesPerSec ?? settings.executor.throttleBytesPerSec,
    log: (options.logger ?? createLogger()).child({ executor_id: executorId }),
    metrics: options.metrics ?? noExecutorMetrics,
    running: 0,
  };
  await mkdir(stagingRoot(ctx.archivesDir), { recursive: true });
  // Housekeeping: if the DB is gone again already, the claim loop waits for it.
  await cleanStaleStaging(pool, ctx.archivesDir, ctx.log).catch((err) =>
    ctx.log.warn('removing stale staging directories failed', errorFields(err)),
  );
  ctx.log.info('executor started', {
    archives_dir: ctx.archivesDir,
    lease_ms: ctx.leaseMs,
    poll_interval_ms: ctx.pollIntervalMs,
  });
  const stats: ExecutorStats = { succeeded: 0, failed: 0, abandoned: 0 };
  const loops = Array.from({ length: options.concurrency ?? 1 }, () => loop(ctx, stats));
  await Promise.all(loops);
  ctx.log.info('executor stopped', { ...stats });
  return stats;
}

async function loop(ctx: Context, stats: ExecutorStats): Promise<void> {
  const db = dbDependency(ctx.settings.db);
  const unavailable = dbClassifier(db);
  // While the DB is away (or claiming keeps failing), poll with capped backoff and one line per wait.
  const backoff = new Backoff();
  while (!ctx.signal.aborted) {
    let claim: Claim | null = null;
    await killOrphans(ctx, unavailable);
    try {
      claim = await claimNextJob(ctx.pool, ctx.executorId, ctx.leaseMs);
    } catch (err) {
      const delay = backoff.next();
      const why = unavailable(err);
      if (why) {
        ctx.log.warn(waitMessage(why, delay), {
          dependency: db.name,
          address: db.address,
          reason: why.reason,
          retry_in_ms: delay,
          waited_ms: backoff.elapsedMs,
        });
      } else {
        ctx.log.error('claiming a job failed', { ...errorFields(err), retry_in_ms: delay });
      }
      await sleep(delay, undefined, { signal: ctx.signal }).catch(() => undefined);
      continue;
    }
    backoff.recovered(ctx.log, db);
    if (claim) {
      ctx.metrics.running(++ctx.running);
      const result = await runJob(ctx, claim);
      ctx.metrics.running(--ctx.running);
      ctx.metrics.jobEnded(result);
      stats[result]++;
    } else {
      await sleep(ctx.pollIntervalMs, undefined, { signal: ctx.signal }).catch(() => undefined);
    }
  }
}

/** The job's files, as CLP's scheduler would find them (or the reason it would fail the job). */
async function openInputs(ctx: Context, input: ClpJobConfig['input']): Promise<JobInputs> {
  const s3 = { aws: ctx.settings.aws, allowAws: ctx.settings.executor.allowAws };
  switch (input.type) {
    case 'fs':
      return fsInputs(input, ctx.settings.clp.fsMountRoot);
    case 's3':
      return s3Inputs(input, input.keys, s3);
    case 's3_object_metadata': {
      const rows = await db(queryObjectMetadata(ctx.pool, input));
      return s3Inputs(input, checkObjectMetadata(input, rows), s3);
    }
  }
}

/**
 * Marks KILLED the RUNNING jobs whose executor died (lease expired), as CLP's
 * scheduler does with every RUNNING job it finds at start-up, and removes
 * their half-written archives. Never throws.
 */
async function killOrphans(ctx: Context, unavailable: Classifier): Promise<void> {
  try {
    for (const dead of await killOrphanedJobs(ctx.pool)) {
      ctx.log.warn('job KILLED: the executor holding it died', {
        compression_job_id: dead.jobId,
        dead_executor_id: dead.executorId,
      });
      if (dead.claimToken) {
        await rm(path.join(stagingRoot(ctx.archivesDir), dead.claimToken), { recursive: true, force: true });
      }
    }
  } catch (err) {
    // An unreachable DB is reported by the claim loop, once per wait.
    if (!unavailable(err)) ctx.log.error('killing orphaned jobs failed', errorFields(err));
  }
}

/** Runs one claimed job to an outcome; never throws. */
async function runJob(ctx: Context, claim: Claim): Promise<JobResult> {
  const log = ctx.log.child({ compression_job_id: claim.jobId, claim_token: claim.claimToken });
  const started = Date.now();
  log.info('job claimed', { num_claims: claim.numClaims });

  const abort = new AbortController();
  const onShutdown = () => abort.abort(new ShutdownError('executor shutting down'));
  ctx.signal.addEventListener('abort', onShutdown, { once: true });
  if (ctx.signal.aborted) onShutdown();
  const lease = keepLease(ctx.pool, claim, ctx.leaseMs, log, (err) => abort.abort(err));

  let inputs: JobInputs | undefined;
  let writer: ArchiveWriter | undefined;
  let taskId: number | null = null;
  let originalSize = 0;
  try {
    abort.signal.throwIfAborted(); // shutdown began while this claim was in flight
    const config = await parseClpJobConfig(claim.clpConfig, ctx.settings.clp.compat);
    inputs = await openInputs(ctx, config.input);
    const knownSize = inputs.files.reduce((n, f) => n + (f.knownSize ?? 0), 0);
    const paths = inputs.files.map((f) => f.source);
    taskId = await db(startTask(ctx.pool, claim, paths, knownSize));
    if (taskId === null) throw new LeaseLostError('lease lost before the task started');

    const level = gzipLevelFor(config.output.compression_level);
    writer = await ArchiveWriter.create(ctx.archivesDir, claim.claimToken, claim.jobId, level);
    log.info('archiving', {
      archive_id: writer.archiveId,
      num_files: inputs.files.length,
      gzip_level: level,
    });
    for (const file of inputs.files) {
      abort.signal.throwIfAborted();
      log.debug('archiving input', { source: file.source, name: file.name });
      const chunks = throttled(file.read(abort.signal), ctx.throttleBytesPerSec, abort.signal);
      const entry = await writer.add(file.name, chunks, abort.signal);
      originalSize += entry.original_size;
    }
    const index = await writer.seal();

    // Stop renewing first: the finishing transaction checks the lease under a row lock anyway.
    await lease.stop();
    const sizes = { originalSize, uncompressedSize: originalSize, compressedSize: writer.compressedSize };
    const done = await db(finishJob(ctx.pool, claim, { status: 'succeeded', taskId, ...sizes }, writer));
    if (!done) {
      log.warn('lease lost before publishing; archive discarded');
      return 'abandoned';
    }
    log.info('job succeeded', {
      archive_id: index.archive_id,
      num_files: index.files.length,
      uncompressed_size: sizes.uncompressedSize,
      compressed_size: sizes.compressedSize,
      duration_ms: Date.now() - started,
    });
    return 'succeeded';
  } catch (err) {
    await lease.stop();
    return await settleFailure(ctx, claim, log, err, abort.signal, { taskId, originalSize });
  } finally {
    ctx.signal.removeEventListener('abort', onShutdown);
    await writer?.discard();
    inputs?.close();
  }
}

/** Decides what an error means for the job: fail it, or leave it for another claim. */
async function settleFailure(
  ctx: Context,
  claim: Claim,
  log: Logger,
  err: unknown,
  signal: AbortSignal,
  progress: { taskId: number | null; originalSize: number },
): Promise<JobResult> {
  const reason: unknown = signal.aborted ? signal.reason : err;
  if (reason instanceof LeaseLostError) {
    log.warn('job abandoned: lease lost', errorFields(reason));
    return 'abandoned';
  }
  if (reason instanceof ShutdownError) {
    // What CLP's scheduler makes of a job it was running when it stopped; the submitter resubmits it.
    const message = `executor ${ctx.executorId} shut down while running the job`;
    const killed = await killJob(ctx.pool, claim, message).catch((e) => {
      log.warn('marking the job KILLED failed; it is KILLED once its lease expires', errorFields(e));
      return false;
    });
    log.info(killed ? 'job KILLED: executor shutting down' : 'job abandoned: executor shutting down');
    return 'abandoned';
  }
  if (err instanceof DbUnavailableError) {
    log.error('job abandoned: database unavailable; it is KILLED once its lease expires', errorFields(err));
    return 'abandoned';
  }
  const message =
    err instanceof InputError ||
    err instanceof InvalidClpConfigError ||
    err instanceof JobRejectedError ||
    err instanceof ArchiveWriteError
      ? err.message
      : `${(err as Error).name ?? 'Error'}: ${(err as Error).message ?? String(err)}`;
  try {
    const recorded = await finishJob(ctx.pool, claim, {
      status: 'failed',
      taskId: progress.taskId,
      message,
      originalSize: progress.originalSize,
      uncompressedSize: progress.originalSize,
    });
    if (!recorded) {
      log.warn('job abandoned: lease lost before recording its failure', { status_msg: message });
      return 'abandoned';
    }
    log.warn('job failed', { status_msg: message });
    return 'failed';
  } catch (dbErr) {
    log.error('recording the failure failed; the job is KILLED once its lease expires', errorFields(dbErr));
    return 'abandoned';
  }
}
