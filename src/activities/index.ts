/** createActivities(deps): the object the worker registers. */
import { compressionActivities } from './compression';
import type { ActivityDeps } from './deps';
import { fsScanActivities } from './fs-scan';
import { jobStateActivities } from './job-state';
import { s3ObjectListActivities } from './s3-object-list';
import { s3ScanActivities } from './s3-scan';
import { sqsReceiveActivities, type SqsFaults } from './sqs-receive';

export function createActivities(deps: ActivityDeps, faults: SqsFaults = {}) {
  return {
    ...jobStateActivities(deps),
    ...s3ScanActivities(deps),
    ...s3ObjectListActivities(deps),
    ...sqsReceiveActivities(deps, faults),
    ...fsScanActivities(deps),
    ...compressionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps } from './deps';
export type { SqsFaults } from './sqs-receive';
