/**
 * One claimed compression job, run to an outcome: its inputs read, archived,
 * and the outcome recorded with CLP's statuses; or, when the job is not at
 * fault (lease lost, shutdown, DB away), left for another claim.
 */
import type { Settings } from '../config/settings';
import type { ExecutorOutcome } from '../metrics';
import type { Db } from '../store/db';
import { ArchiveWriteError, ArchiveWriter, gzipLevelFor } from './archive';
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
import { finishJob, killJob, startTask, type Claim } from './job-store';
import { keepLease, LeaseLostError } from './lease';
import { errorFields, type Logger } from './log';
import { throttled } from './throttle';

/** What running a job needs of its executor. */
export interface JobContext {
  pool: Db;
  settings: Settings;
  signal: AbortSignal;
  executorId: string;
  archivesDir: string;
  leaseMs: number;
  throttleBytesPerSec?: number;
  log: Logger;
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

/** The job's files, as CLP's scheduler would find them (or the reason it would fail the job). */
async function openInputs(ctx: JobContext, input: ClpJobConfig['input']): Promise<JobInputs> {
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

/** Runs one claimed job to an outcome; never throws. */
export async function runJob(ctx: JobContext, claim: Claim): Promise<ExecutorOutcome> {
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
  ctx: JobContext,
  claim: Claim,
  log: Logger,
  err: unknown,
  signal: AbortSignal,
  progress: { taskId: number | null; originalSize: number },
): Promise<ExecutorOutcome> {
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
