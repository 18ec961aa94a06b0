/** An object list's worker half. */
import { itsOwnLocation, s3ClpInput } from '../../activities/clp-input';
import type { SourceKindWorkerHalf } from '../worker-half';
import { s3ObjectListActivities } from './activities';
import type { S3ObjectListConfig } from './config';

type Job = { kind: 's3_object_list'; config: S3ObjectListConfig };

export const s3ObjectListWorkerHalf = {
  activities: (deps) => s3ObjectListActivities(deps),
  clpInput: (jobId, job, files, settings) =>
    s3ClpInput(jobId, job, files, settings, itsOwnLocation(job.config)),
  flushesPerBucket: () => false,
} satisfies SourceKindWorkerHalf<Job, ReturnType<typeof s3ObjectListActivities>>;
