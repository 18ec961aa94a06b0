/** The SQS listener's worker half. */
import { commonPrefix, s3ClpInput } from '../../activities/clp-input';
import type { FileToCompress } from '../../store/ingestion-store';
import type { SourceKindWorkerHalf } from '../worker-half';
import { sqsReceiveActivities } from './activities';
import { sqsSources, type SqsListenerConfig } from './config';

type Job = { kind: 'sqs_listener'; config: SqsListenerConfig };

/**
 * The one bucket and key prefix a compression job of `files` names: the
 * job's own bucket_name and key_prefix; with several sources, the bucket of
 * the files (a flush takes one bucket's files) and the longest prefix common
 * to that bucket's sources.
 */
function location(c: SqsListenerConfig, files: FileToCompress[]): { bucket: string; keyPrefix: string } {
  if (!c.sources) return { bucket: c.bucket_name!, keyPrefix: c.key_prefix! };
  const buckets = new Set(files.map((f) => f.bucket ?? null));
  if (buckets.size !== 1 || !files[0].bucket)
    throw new Error(`a compression job must name one bucket; these files are in ${buckets.size}`);
  const bucket = files[0].bucket;
  const prefixes = c.sources.filter((s) => s.bucket_name === bucket).map((s) => s.key_prefix);
  if (prefixes.length === 0) throw new Error(`bucket ${bucket} is none of the job's sources`);
  return { bucket, keyPrefix: commonPrefix(prefixes) };
}

export const sqsListenerWorkerHalf = {
  activities: (deps, faults) => sqsReceiveActivities(deps, faults),
  clpInput: (jobId, job, files, settings) =>
    s3ClpInput(jobId, job, files, settings, (fs) => location(job.config, fs)),
  flushesPerBucket: (job) => new Set(sqsSources(job.config).map((s) => s.bucket_name)).size > 1,
} satisfies SourceKindWorkerHalf<Job, ReturnType<typeof sqsReceiveActivities>>;
