/** createActivities(deps): the object the worker registers. */
import { compressionActivities } from './compression';
import type { ActivityDeps } from './deps';
import { jobStateActivities } from './job-state';
import { s3ScanActivities } from './s3-scan';

export function createActivities(deps: ActivityDeps) {
  return {
    ...jobStateActivities(deps),
    ...s3ScanActivities(deps),
    ...compressionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps } from './deps';
