/** createActivities(deps): the object the worker registers. */
import { compressionActivities } from './compression';
import type { ActivityDeps } from './deps';
import { fsScanActivities } from './fs-scan';
import { jobStateActivities, type JobStateFaults } from './job-state';
import { s3ObjectListActivities } from './s3-object-list';
import { s3ScanActivities } from './s3-scan';
import { s3ScanSplitActivities } from './s3-scan-split';
import { sqsReceiveActivities, type SqsFaults } from './sqs-receive';

/** Test-only fault injection points of every activity group. */
export type ActivityFaults = SqsFaults & JobStateFaults;

export function createActivities(deps: ActivityDeps, faults: ActivityFaults = {}) {
  return {
    ...jobStateActivities(deps, faults),
    ...s3ScanActivities(deps),
    ...s3ScanSplitActivities(deps),
    ...s3ObjectListActivities(deps),
    ...sqsReceiveActivities(deps, faults),
    ...fsScanActivities(deps),
    ...compressionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps } from './deps';
export type { SqsFaults } from './sqs-receive';
