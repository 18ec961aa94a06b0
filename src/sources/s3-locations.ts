/** The S3 locations a job reads, and when two jobs would read the same objects. */
import type { S3Location } from './definition';
import { definitionOf, type JobConfig } from './definitions';

/** The first S3 location a job reads (its only one unless an SQS job lists several sources). */
export function s3Source(job: JobConfig): S3Location | undefined {
  return definitionOf(job).s3Locations(job.config)[0];
}

/** Two S3 jobs conflict when they would ingest the same objects into the same dataset. */
export function conflicts(a: JobConfig, b: JobConfig): boolean {
  const ys = definitionOf(b).s3Locations(b.config);
  return definitionOf(a)
    .s3Locations(a.config)
    .some((x) =>
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
