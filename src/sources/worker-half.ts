/**
 * The worker half of a job kind: its activities and how its files become a
 * CLP compression job's input. Worker-only code (AWS SDK, file system, the
 * store): never imported by the workflow bundle.
 */
import type { ClpInput } from '../activities/clp-input';
import type { ActivityDeps } from '../activities/deps';
import type { ActivityFaults } from '../activities';
import type { Settings } from '../config/settings';
import type { FileToCompress } from '../store/ingestion-store';

export interface SourceKindWorkerHalf<Job, Activities extends object> {
  /** The kind's activities; their names are in recorded histories, so they never change. */
  activities(deps: ActivityDeps, faults: ActivityFaults): Activities;
  /** The input of a compression job of `files` (the config's part of CLP's clp_config). */
  clpInput(jobId: number, job: Job, files: FileToCompress[], settings: Settings): ClpInput;
  /** The job's files may be in more than one bucket: each flush then takes one bucket's. */
  flushesPerBucket(job: Job): boolean;
}
