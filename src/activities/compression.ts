/** Submitting buffered files as CLP compression jobs, and awaiting their outcome. */
import { Context, log } from '@temporalio/activity';
import { encodeClpConfig, type ClpConfig } from '../clp/clp-config';
import type { JobConfig } from '../config/job-config';
import type { Settings } from '../config/settings';
import { workerHalfOf } from '../sources/worker-kinds';
import type {
  BufferSnapshot,
  CompressionRecords,
  CompressionRetry,
  FileRecords,
  FileToCompress,
  FinalizedCompressionJob,
  JobRecords,
} from '../store/ingestion-store';
import { clpPath } from './clp-input';
import type { DepsWith } from './deps';

export interface FlushResult {
  compressionJobId: number | null;
  numFiles: number;
  snapshot: BufferSnapshot;
}

export interface AwaitResult {
  finalized: FinalizedCompressionJob[];
  snapshot: BufferSnapshot;
  /** The poll interval to continue with, so backoff survives across calls. */
  nextBackoffMs: number;
}

export const MIN_POLL_MS = 1_000;
export const MAX_POLL_MS = 30_000;
/** Heartbeat at least this often while waiting, so cancellation arrives promptly. */
const HEARTBEAT_EVERY_MS = 5_000;

/**
 * The path CLP's scheduler writes into a compression task for `file` (before
 * its pathlib normalization, which the store applies to both sides): the
 * object key of an S3 file (S3 rows always have one, fs rows never), else the
 * path under CLP's mount root, as paths_to_compress named it.
 */
export function clpTaskPath(file: FileToCompress, mountRoot: string): string {
  return file.key !== null ? file.key : clpPath(file.path, mountRoot);
}

/** CLP's compression-job config for `files` (one per distinct path): the job kind's input and the output settings. */
export function buildClpConfig(
  jobId: number,
  job: JobConfig,
  files: FileToCompress[],
  settings: Settings,
): ClpConfig {
  return { input: workerHalfOf(job).clpInput(jobId, job, files, settings), output: settings.clpOutput };
}

export function compressionActivities({
  store,
  settings,
}: DepsWith<CompressionRecords & FileRecords & JobRecords, 'settings'>) {
  return {
    /** Flush number `flushSeq` of the job's buffer; idempotent per flushSeq. */
    async flushBuffer(jobId: number, job: JobConfig, flushSeq: number): Promise<FlushResult> {
      const sub = await store.submitBuffered(
        jobId,
        flushSeq,
        settings.maxFilesPerCompressionJob,
        (files) => encodeClpConfig(buildClpConfig(jobId, job, files, settings), settings.clp.compat.codec),
        { oneBucket: workerHalfOf(job).flushesPerBucket(job) },
      );
      return { ...sub, snapshot: await store.bufferSnapshot(jobId) };
    },

    /**
     * Polls the job's outstanding compression jobs (backoff from 1 s, doubling,
     * capped at 30 s) and records the outcome of those that reach a terminal
     * state. Returns as soon as something was recorded, when nothing is
     * outstanding, or after `maxWaitMs` so the workflow keeps control.
     */
    async awaitCompressionJobs(jobId: number, backoffMs: number, maxWaitMs: number): Promise<AwaitResult> {
      const ctx = Context.current();
      const deadline = Date.now() + maxWaitMs;
      let backoff = Math.min(Math.max(backoffMs, MIN_POLL_MS), MAX_POLL_MS);
      // A KILLED job is resubmitted with the job's current config (read only then).
      let job: JobConfig | undefined;
      const retry: CompressionRetry = {
        maxAttempts: settings.clp.maxCompressionAttempts,
        buildClpConfig: async (files: FileToCompress[]) => {
          const current = (job ??= (await store.requireJob(jobId)).config);
          return encodeClpConfig(buildClpConfig(jobId, current, files, settings), settings.clp.compat.codec);
        },
        // To leave out the files of a KILLED job's SUCCEEDED tasks, matched by the paths CLP gave them.
        taskPathOf: (file) => clpTaskPath(file, settings.clp.fsMountRoot),
      };
      for (;;) {
        const outstanding = await store.outstandingCompressionJobs(jobId);
        const { finalized, resubmitted } = await store.finalizeCompressionJobs(jobId, outstanding, retry);
        for (const r of resubmitted) {
          log.warn('compression job was killed; its files are in a new compression job', {
            jobId,
            killedCompressionJobId: r.killedCompressionJobId,
            compressionJobId: r.compressionJobId,
            attempt: r.attempt,
            files: r.numFiles,
          });
        }
        if (resubmitted.length > 0) backoff = MIN_POLL_MS;
        if (finalized.length > 0 || outstanding.length === 0 || Date.now() + backoff > deadline) {
          const nextBackoffMs = finalized.length > 0 ? MIN_POLL_MS : backoff;
          return { finalized, snapshot: await store.bufferSnapshot(jobId), nextBackoffMs };
        }
        for (let waited = 0; waited < backoff; waited += HEARTBEAT_EVERY_MS) {
          ctx.heartbeat();
          await ctx.sleep(Math.min(HEARTBEAT_EVERY_MS, backoff - waited));
        }
        backoff = Math.min(backoff * 2, MAX_POLL_MS);
      }
    },
  };
}
