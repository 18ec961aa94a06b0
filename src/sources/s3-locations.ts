/** The S3 locations a job reads, and when two jobs would read the same objects. */
import type { JobConfig, SqsListenerConfig, SqsSource } from './job-schemas';

/** The (bucket, key prefix) pairs an SQS listener takes notifications for. */
export function sqsSources(c: SqsListenerConfig): SqsSource[] {
  return c.sources ?? [{ bucket_name: c.bucket_name!, key_prefix: c.key_prefix! }];
}

export interface S3Location {
  bucket: string;
  prefix: string;
  region: string | null;
  endpoint: string | null;
  dataset: string;
}

/** The S3 locations a job reads, for conflict detection; empty for fs jobs. */
function s3Sources(job: JobConfig): S3Location[] {
  if (job.kind === 'fs') return [];
  const c = job.config;
  const pairs =
    job.kind === 'sqs_listener'
      ? sqsSources(job.config)
      : [{ bucket_name: job.config.bucket_name, key_prefix: job.config.key_prefix }];
  return pairs.map((p) => ({
    bucket: p.bucket_name,
    prefix: p.key_prefix,
    region: c.region ?? null,
    endpoint: c.endpoint_url ?? null,
    dataset: c.dataset,
  }));
}

/** The first S3 location a job reads (its only one unless an SQS job lists several sources). */
export function s3Source(job: JobConfig): S3Location | undefined {
  return s3Sources(job)[0];
}

/** Two S3 jobs conflict when they would ingest the same objects into the same dataset. */
export function conflicts(a: JobConfig, b: JobConfig): boolean {
  const ys = s3Sources(b);
  return s3Sources(a).some((x) =>
    ys.some(
      (y) =>
        x.bucket === y.bucket &&
        x.region === y.region &&
        x.endpoint === y.endpoint &&
        x.dataset === y.dataset &&
        (x.prefix.startsWith(y.prefix) || y.prefix.startsWith(x.prefix)),
    ),
  );
}
