/** Submitting buffered files as CLP compression jobs, and awaiting their outcome. */
import { Context } from '@temporalio/activity';
import { encodeClpConfig, type AwsAuthentication, type ClpConfig } from '../clp/clp-config';
import type { JobConfig } from '../config/job-config';
import type { Settings } from '../config/settings';
import type { BufferSnapshot, FinalizedCompressionJob } from '../store/ingestion-store';
import type { ActivityDeps } from './deps';

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

function awsAuthentication(settings: Settings): AwsAuthentication {
  const creds = settings.aws.credentials;
  if (settings.s3AuthType === 'credentials' && creds) {
    return {
      type: 'credentials',
      credentials: {
        access_key_id: creds.accessKeyId,
        secret_access_key: creds.secretAccessKey,
        ...(creds.sessionToken ? { session_token: creds.sessionToken } : {}),
      },
    };
  }
  return { type: settings.s3AuthType === 'env_vars' ? 'env_vars' : 'default' };
}

/** CLP's compression-job config for `paths`, in the shape CLP's scheduler decodes. */
export function buildClpConfig(job: JobConfig, paths: string[], settings: Settings): ClpConfig {
  if (job.kind === 'fs') {
    const c = job.config;
    return {
      input: {
        type: 'fs',
        paths_to_compress: paths,
        path_prefix_to_remove: c.directory,
        dataset: c.dataset,
        timestamp_key: c.timestamp_key ?? null,
        unstructured: c.unstructured,
      },
      output: settings.clpOutput,
    };
  }
  const c = job.config;
  const bucketPrefix = `${c.bucket_name}/`;
  return {
    input: {
      type: 's3',
      keys: paths.map((p) => (p.startsWith(bucketPrefix) ? p.slice(bucketPrefix.length) : p)),
      bucket: c.bucket_name,
      region_code: c.region ?? settings.aws.region,
      key_prefix: c.key_prefix,
      endpoint_url: c.endpoint_url ?? null,
      aws_authentication: awsAuthentication(settings),
      dataset: c.dataset,
      timestamp_key: c.timestamp_key ?? null,
      unstructured: c.unstructured,
    },
    output: settings.clpOutput,
  };
}

export function compressionActivities({ store, settings }: ActivityDeps) {
  return {
    /** Flush number `flushSeq` of the job's buffer; idempotent per flushSeq. */
    async flushBuffer(jobId: number, job: JobConfig, flushSeq: number): Promise<FlushResult> {
      const sub = await store.submitBuffered(jobId, flushSeq, settings.maxFilesPerCompressionJob, (paths) =>
        encodeClpConfig(buildClpConfig(job, paths, settings), settings.clpConfigCodec),
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
      for (;;) {
        const outstanding = await store.outstandingCompressionJobs(jobId);
        const finalized = await store.finalizeCompressionJobs(jobId, outstanding);
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
