/**
 * A stand-in for CLP's compression scheduler and workers: claims PENDING
 * compression_jobs, compresses their inputs into archives and records the
 * outcome with CLP's statuses, so the ingestor can be run end to end without
 * a CLP deployment (and against the same DB contract).
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Settings } from '../config/settings';
import { Backoff, dbClassifier, dbDependency, dependencyFields, waitMessage } from '../dependencies';
import type { Db } from '../store/db';
import { noExecutorMetrics, type ExecutorMetrics } from '../metrics';
import {
  DirectoryArchiveStore,
  S3ArchiveStore,
  stagingRoot,
  sweepUnregistered,
  type ArchiveStore,
} from './archive-store';
import { createS3Client } from '../aws';
import { checkClpS } from '../clp/clp-s';
import { cleanStaleStaging, killOrphans } from './housekeeping';
import { claimNextJob, type Claim } from './job-store';
import { createLogger, errorFields, type Logger } from '../common/log';
import { runJob, type JobContext } from './run-job';
import type { TaskStep } from './task-steps';

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
  logger?: Logger;
  metrics?: ExecutorMetrics;
  /** Told each durable step a task reaches (src/executor/task-steps.ts); a test harness stages crashes there. */
  onTaskStep?: (step: TaskStep) => void;
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

interface Context extends JobContext {
  pollIntervalMs: number;
  metrics: ExecutorMetrics;
  /** Jobs running now, over all loops (the metrics' gauge). */
  running: number;
}

function defaultExecutorId(): string {
  return `${os.hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/** Archives go where CLP keeps them: the archive directory, or the S3 archive bucket. */
export function archiveStoreFor(settings: Settings, archivesDir: string): ArchiveStore {
  const s3 = settings.executor.archiveS3;
  if (!s3) return new DirectoryArchiveStore(archivesDir);
  return new S3ArchiveStore(createS3Client(settings.aws), s3.bucket, s3.keyPrefix);
}

/**
 * An archive placed but not registered is a leftover once no registration of
 * it can still commit: registrations check a live lease, so after many lease
 * periods (and at least an hour) it is certainly dead.
 */
export function unregisteredGraceMs(leaseMs: number): number {
  return Math.max(60 * 60 * 1000, 10 * leaseMs);
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
    archiveStore: archiveStoreFor(settings, options.archivesDir ?? settings.executor.archiveDir),
    log: (options.logger ?? createLogger()).child({ executor_id: executorId }),
    metrics: options.metrics ?? noExecutorMetrics,
    onTaskStep: options.onTaskStep,
    running: 0,
  };
  // A missing or broken clp-s stops start-up with one line naming it.
  await checkClpS(settings.executor.clpS);
  await mkdir(stagingRoot(ctx.archivesDir), { recursive: true });
  // Housekeeping: if the DB is gone again already, the claim loop waits for it.
  await cleanStaleStaging(pool, ctx.archivesDir, ctx.log).catch((err) =>
    ctx.log.warn('removing stale staging directories failed', errorFields(err)),
  );
  if (ctx.archiveStore instanceof DirectoryArchiveStore) {
    await sweepUnregistered(pool, ctx.archiveStore, unregisteredGraceMs(ctx.leaseMs))
      .then(
        (removed) => removed.length && ctx.log.warn('removed unregistered archives', { archives: removed }),
      )
      .catch((err) => ctx.log.warn('removing unregistered archives failed', errorFields(err)));
  }
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
          ...dependencyFields(db),
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
