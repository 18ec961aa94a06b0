/** The S3 scanner's worker half. */
import { itsOwnLocation, s3ClpInput } from '../../activities/clp-input';
import type { SourceKindWorkerHalf } from '../worker-half';
import { s3ScanActivities } from './activities';
import { s3ScanSplitActivities } from './split';
import type { S3ScannerConfig } from './config';

type Job = { kind: 's3_scanner'; config: S3ScannerConfig };

export const s3ScannerWorkerHalf = {
  activities: (deps) => ({ ...s3ScanActivities(deps), ...s3ScanSplitActivities(deps) }),
  clpInput: (jobId, job, files, settings) =>
    s3ClpInput(jobId, job, files, settings, itsOwnLocation(job.config)),
  flushesPerBucket: () => false,
} satisfies SourceKindWorkerHalf<
  Job,
  ReturnType<typeof s3ScanActivities> & ReturnType<typeof s3ScanSplitActivities>
>;
