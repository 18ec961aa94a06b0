/**
 * One claimed compression job, run as CLP's compression worker runs it: its
 * files split into tasks, each task compressed by clp-s, its archives placed
 * where CLP keeps them and registered in CLP's metadata tables; the outcome
 * recorded with CLP's statuses. When the job is not at fault (lease lost,
 * shutdown, DB away) it is left for the lease rules to settle.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { encodeTaskPaths } from '../clp/task-paths';
import { datasetTables, ensureDataset } from '../clp/metadata';
import type { Settings } from '../config/settings';
import type { ExecutorOutcome } from '../metrics';
import type { Db } from '../store/db';
import { ArchivePlacementError, stagingRoot, type ArchiveStore } from './archive-store';
import { ClpSError, ClpSUnavailableError, runClpSCompress, type ArchiveStats } from './clp-s-run';
import { InvalidClpConfigError, parseClpJobConfig, type ClpJobConfig } from './clp-job-config';
import type { TaskStep } from './task-steps';
import {
  checkObjectMetadata,
  fsInputs,
  InputError,
  JobRejectedError,
  queryObjectMetadata,
  s3Inputs,
  type InputFile,
  type JobInputs,
} from './inputs';
import { commitTask, finishJob, killJob, startTask, type Claim } from './job-store';
import { keepLease, LeaseLostError } from './lease';
import { errorFields, type Logger } from '../common/log';
import { partition } from './partition';
import { convertTextLogFile } from './text-logs';

/** What running a job needs of its executor. */
export interface JobContext {
  pool: Db;
  settings: Settings;
  signal: AbortSignal;
  executorId: string;
  archivesDir: string;
  archiveStore: ArchiveStore;
  leaseMs: number;
  log: Logger;
  /** Told each durable step a task reaches (a test harness stages crashes there). */
  onTaskStep?: (step: TaskStep) => void;
}

class ShutdownError extends Error {
  override name = 'ShutdownError';
}

/** A DB call failed: the job is not at fault, so it is left for the lease rules rather than failed. */
class DbUnavailableError extends Error {
  override name = 'DbUnavailableError';
}

async function db<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw new DbUnavailableError((err as Error).message, { cause: err });
  }
}

/** The job's files, as CLP's scheduler would find them (or the reason it would fail the job). */
async function openInputs(
  ctx: JobContext,
  input: ClpJobConfig['input'],
  signal: AbortSignal,
): Promise<JobInputs> {
  const s3 = { aws: ctx.settings.aws, allowAws: ctx.settings.executor.allowAws };
  switch (input.type) {
    case 'fs':
      return fsInputs(input, ctx.settings.clp.fsMountRoot);
    case 's3':
      return s3Inputs(input, input.keys, s3, undefined, signal);
    case 's3_object_metadata': {
      const rows = await db(queryObjectMetadata(ctx.pool, input));
      const { keys, sizes } = checkObjectMetadata(input, rows);
      return s3Inputs(input, keys, s3, sizes, signal);
    }
  }
}

/** Text logs become `{timestamp, message}` records first (CLP's log-converter step), one file per input. */
async function convertTextLogs(files: InputFile[], dir: string, signal: AbortSignal): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [i, f] of files.entries()) {
    signal.throwIfAborted();
    await convertTextLogFile(f.read(signal), path.join(dir, `${String(i).padStart(6, '0')}.jsonl`));
  }
}

interface TaskRun {
  taskId: number;
  archives: ArchiveStats[];
}

/** Runs one task: clp-s into staging, archives placed, then registered with the task's success. */
async function runTask(
  ctx: JobContext,
  claim: Claim,
  config: ClpJobConfig,
  inputs: JobInputs,
  files: InputFile[],
  taskId: number,
  signal: AbortSignal,
  log: Logger,
): Promise<TaskRun> {
  const { input, output } = config;
  const staging = path.join(stagingRoot(ctx.archivesDir), claim.claimToken, `task-${taskId}`);
  const outputDir = path.join(staging, 'archives');
  await mkdir(outputDir, { recursive: true });
  let filesFrom: string | undefined;
  let inputDir: string | undefined;
  if (input.unstructured) {
    inputDir = path.join(staging, 'converted');
    await convertTextLogs(files, inputDir, signal);
  } else {
    filesFrom = path.join(staging, 'inputs.txt');
    await writeFile(filesFrom, files.map((f) => f.location + '\n').join(''));
  }
  const s3 = input.type !== 'fs' && !input.unstructured;
  const archives = await runClpSCompress({
    bin: ctx.settings.executor.clpS,
    outputDir,
    filesFrom,
    inputDir,
    targetEncodedSize: output.target_segment_size + output.target_dictionaries_size,
    compressionLevel: output.compression_level,
    singleFileArchive: ctx.archiveStore.singleFileArchives,
    timestampKey: input.unstructured ? 'timestamp' : input.timestamp_key,
    s3Credentials: s3 ? await inputs.s3Credentials!() : undefined,
    signal,
    onStarted: () => ctx.onTaskStep?.('clp-s-running'),
  });
  // Every entry clp-s left is an archive it reported: anything else would be a half-written one.
  const written = (await readdir(outputDir)).sort();
  const reported = archives.map((a) => a.id).sort();
  if (written.join('\n') !== reported.join('\n'))
    throw new ClpSError(`clp-s reported archives [${reported.join(', ')}] but wrote [${written.join(', ')}]`);
  ctx.onTaskStep?.('archives-written');

  for (const a of archives) {
    signal.throwIfAborted();
    await ctx.archiveStore.place(input.dataset, a.id, path.join(outputDir, a.id));
  }
  ctx.onTaskStep?.('archives-placed');
  const registered = await db(
    commitTask(ctx.pool, claim, taskId, datasetTables(input.dataset).archives, archives),
  );
  if (!registered) {
    // The lease check refused the registration and nothing was written: these archives are nobody's.
    for (const a of archives) await ctx.archiveStore.remove(input.dataset, a.id);
    throw new LeaseLostError('lease lost before registering the archives');
  }
  ctx.onTaskStep?.('task-committed');
  log.info('task succeeded', {
    task_id: taskId,
    num_files: files.length,
    archives: archives.map((a) => a.id),
    uncompressed_size: archives.reduce((n, a) => n + a.uncompressed_size, 0),
    compressed_size: archives.reduce((n, a) => n + a.size, 0),
  });
  await rm(staging, { recursive: true, force: true });
  return { taskId, archives };
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
  let taskId: number | null = null;
  try {
    abort.signal.throwIfAborted(); // shutdown began while this claim was in flight
    const config = await parseClpJobConfig(claim.clpConfig, ctx.settings.clp.compat);
    inputs = await openInputs(ctx, config.input, abort.signal);
    const { dataset } = config.input;
    await db(ensureDataset(ctx.pool, dataset, ctx.archiveStore.storageDirectory(dataset)));
    const tasks = partition(inputs.files, config.output.target_archive_size);
    log.info('compressing', { num_files: inputs.files.length, num_tasks: tasks.length, dataset });
    let numArchives = 0;
    for (const files of tasks) {
      abort.signal.throwIfAborted();
      const paths = await encodeTaskPaths(
        {
          file_paths: files.map((f) => f.clpPath),
          group_ids: files.map((_, i) => i),
          st_sizes: files.map((f) => f.size),
        },
        ctx.settings.clp.compat.codec,
      );
      const size = files.reduce((n, f) => n + f.size, 0);
      taskId = await db(startTask(ctx.pool, claim, paths, size));
      if (taskId === null) throw new LeaseLostError('lease lost before the task started');
      numArchives += (await runTask(ctx, claim, config, inputs, files, taskId, abort.signal, log)).archives
        .length;
      taskId = null;
    }

    // Stop renewing first: the finishing transaction checks the lease under a row lock anyway.
    await lease.stop();
    const done = await db(finishJob(ctx.pool, claim, { status: 'succeeded' }));
    if (!done) {
      log.warn('lease lost before recording success; the job is KILLED and its unfinished tasks resubmitted');
      return 'abandoned';
    }
    log.info('job succeeded', {
      num_tasks: tasks.length,
      num_archives: numArchives,
      duration_ms: Date.now() - started,
    });
    return 'succeeded';
  } catch (err) {
    await lease.stop();
    return await settleFailure(ctx, claim, log, err, abort.signal, taskId);
  } finally {
    ctx.signal.removeEventListener('abort', onShutdown);
    inputs?.close();
    await rm(path.join(stagingRoot(ctx.archivesDir), claim.claimToken), {
      recursive: true,
      force: true,
    }).catch(() => undefined);
  }
}

/** Decides what an error means for the job: fail it, or leave it to the lease rules. */
async function settleFailure(
  ctx: JobContext,
  claim: Claim,
  log: Logger,
  err: unknown,
  signal: AbortSignal,
  taskId: number | null,
): Promise<ExecutorOutcome> {
  const reason: unknown = signal.aborted ? signal.reason : err;
  if (reason instanceof LeaseLostError) {
    log.warn('job abandoned: lease lost', errorFields(reason));
    return 'abandoned';
  }
  if (reason instanceof ShutdownError) {
    // What CLP's scheduler makes of a job it was running when it stopped; the submitter resubmits its unfinished tasks.
    const message = `executor ${ctx.executorId} shut down while running the job`;
    const killed = await killJob(ctx.pool, claim, message).catch((e) => {
      log.warn('marking the job KILLED failed; it is KILLED once its lease expires', errorFields(e));
      return false;
    });
    log.info(killed ? 'job KILLED: executor shutting down' : 'job abandoned: executor shutting down');
    return 'abandoned';
  }
  if (
    err instanceof DbUnavailableError ||
    err instanceof ArchivePlacementError ||
    err instanceof ClpSUnavailableError
  ) {
    // Neither is the data's fault: the lease expires and the job is KILLED, and its unfinished files resubmitted.
    log.error('job abandoned; it is KILLED once its lease expires', errorFields(err));
    return 'abandoned';
  }
  const message =
    err instanceof InputError ||
    err instanceof InvalidClpConfigError ||
    err instanceof JobRejectedError ||
    err instanceof ClpSError
      ? err.message
      : `${(err as Error).name ?? 'Error'}: ${(err as Error).message ?? String(err)}`;
  try {
    const recorded = await finishJob(ctx.pool, claim, { status: 'failed', taskId, message });
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
