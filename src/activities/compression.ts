/** Submitting buffered files as CLP compression jobs, and awaiting their outcome. */
import { Context, log } from '@temporalio/activity';
import { encodeClpConfig, type AwsAuthentication, type ClpConfig } from '../clp/clp-config';
import { sqsSources, type JobConfig } from '../config/job-config';
import type { Settings } from '../config/settings';
import { allowListOf, checkJobEndpoints, refuseNonRetryably } from '../security/endpoints';
import type {
  BufferSnapshot,
  CompressionRecords,
  CompressionRetry,
  FileRecords,
  FileToCompress,
  FinalizedCompressionJob,
  JobRecords,
} from '../store/ingestion-store';
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

function awsAuthentication(settings: Settings): AwsAuthentication {
  const { authType, authProfile } = settings.clp;
  const creds = settings.aws.credentials;
  switch (authType) {
    case 'credentials':
      // settings validation guarantees credentials for this type
      return {
        type: 'credentials',
        credentials: {
          access_key_id: creds!.accessKeyId,
          secret_access_key: creds!.secretAccessKey,
          ...(creds!.sessionToken ? { session_token: creds!.sessionToken } : {}),
        },
      };
    case 'profile':
      return { type: 'profile', profile: authProfile! };
    case 'env_vars':
    case 'default':
      return { type: authType };
  }
}

/** A host path as CLP's compression workers see it: under the mount root of CLP's package. */
export function clpPath(hostPath: string, mountRoot: string): string {
  return mountRoot ? `${mountRoot}${hostPath}` : hostPath;
}

/**
 * The path CLP's scheduler writes into a compression task for `file` (before
 * its pathlib normalization, which the store applies to both sides): the
 * object key of an S3 file (S3 rows always have one, fs rows never), else the
 * path under CLP's mount root, as paths_to_compress named it.
 */
export function clpTaskPath(file: FileToCompress, mountRoot: string): string {
  return file.key !== null ? file.key : clpPath(file.path, mountRoot);
}

/**
 * CLP's compression-job config for `files` (one per distinct path), in the
 * shape the configured CLP release decodes. Every S3 job names the endpoint
 * the ingestor itself listed the objects with, because CLP uses only what the
 * job says (null means AWS); the region only for AWS (region_code is null
 * with a custom endpoint, see clpS3Url). A job's endpoint_url outside the
 * endpoint allow-list fails non-retryably: CLP never gets sent there.
 */
export function buildClpConfig(
  jobId: number,
  job: JobConfig,
  files: FileToCompress[],
  settings: Settings,
): ClpConfig {
  const output = settings.clpOutput;
  if (job.kind === 'fs') {
    const c = job.config;
    const root = settings.clp.fsMountRoot;
    return {
      input: {
        type: 'fs',
        paths_to_compress: files.map((f) => clpPath(f.path, root)),
        path_prefix_to_remove: clpPath(c.directory, root),
        dataset: c.dataset,
        timestamp_key: c.timestamp_key ?? null,
        unstructured: c.unstructured,
      },
      output,
    };
  }
  const c = job.config;
  refuseNonRetryably(() => checkJobEndpoints(job, allowListOf(settings.aws)));
  const where = s3Location(job, files);
  const endpointUrl = c.endpoint_url ?? settings.aws.s3Endpoint ?? null;
  const base = {
    bucket: where.bucket,
    // CLP's workers build each object's URL from these two fields (clpS3Url):
    // with a custom endpoint a region_code becomes part of the host name
    // (http://us-east-1.127.0.0.1:9000/...), so it is null there. CLP's own
    // log-ingestor likewise writes only the job's own region, never a default.
    region_code: endpointUrl === null ? (c.region ?? settings.aws.region) : null,
    key_prefix: where.keyPrefix,
    endpoint_url: endpointUrl,
    aws_authentication: awsAuthentication(settings),
    dataset: c.dataset,
    timestamp_key: c.timestamp_key ?? null,
    unstructured: c.unstructured,
  };
  if (settings.clp.s3InputType === 's3_object_metadata') {
    return {
      input: {
        type: 's3_object_metadata',
        ...base,
        ingestion_job_id: jobId,
        s3_object_metadata_ids: files.map((f) => f.id).sort((a, b) => a - b),
      },
      output,
    };
  }
  const keys = files.map((f) => {
    if (f.key === null) throw new Error(`ingested file ${f.id} of an S3 job has no object key`);
    return f.key;
  });
  return { input: { type: 's3', ...base, keys: keys.sort() }, output };
}

/** The longest prefix common to all of `strings`. */
function commonPrefix(strings: string[]): string {
  let p = strings[0] ?? '';
  for (const s of strings) while (!s.startsWith(p)) p = p.slice(0, -1);
  return p;
}

/**
 * The one bucket and key prefix a compression job of `files` names (a CLP
 * S3 job reads one bucket, and every key must start with its key_prefix).
 * A job's own bucket_name and key_prefix; for an SQS job with several
 * sources, the bucket of the files (a flush takes one bucket's files) and
 * the longest prefix common to that bucket's sources.
 */
export function s3Location(
  job: Exclude<JobConfig, { kind: 'fs' }>,
  files: FileToCompress[],
): { bucket: string; keyPrefix: string } {
  if (job.kind !== 'sqs_listener' || !job.config.sources)
    return { bucket: job.config.bucket_name!, keyPrefix: job.config.key_prefix! };
  const buckets = new Set(files.map((f) => f.bucket ?? null));
  if (buckets.size !== 1 || !files[0].bucket)
    throw new Error(`a compression job must name one bucket; these files are in ${buckets.size}`);
  const bucket = files[0].bucket;
  const prefixes = job.config.sources.filter((s) => s.bucket_name === bucket).map((s) => s.key_prefix);
  if (prefixes.length === 0) throw new Error(`bucket ${bucket} is none of the job's sources`);
  return { bucket, keyPrefix: commonPrefix(prefixes) };
}

/** True when the job's files may be in more than one bucket: each flush then takes one bucket's. */
export function flushesPerBucket(job: JobConfig): boolean {
  return job.kind === 'sqs_listener' && new Set(sqsSources(job.config).map((s) => s.bucket_name)).size > 1;
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
        { oneBucket: flushesPerBucket(job) },
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
