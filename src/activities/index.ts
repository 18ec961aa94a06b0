/** createActivities(deps): the object the worker registers. */
import { kindActivities } from '../sources/worker-kinds';
import type { SqsFaults } from '../sources/sqs_listener/activities';
import { compressionActivities } from './compression';
import type { ActivityDeps } from './deps';
import { jobRowActivities, type JobRowFaults } from './job-row';

/** Fault injection points of the activity groups (a test harness sets them; production leaves them empty). */
export type ActivityFaults = SqsFaults & JobRowFaults;

export function createActivities(deps: ActivityDeps, faults: ActivityFaults = {}) {
  return {
    ...jobRowActivities(deps, faults),
    ...kindActivities(deps, faults),
    ...compressionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps } from './deps';
export type { SqsFaults } from '../sources/sqs_listener/activities';
