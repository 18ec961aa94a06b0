/**
 * Every job kind's worker half, keyed by kind: a kind in JOB_KINDS that is
 * missing here does not compile. Worker-only: never imported by workflows.
 */
import type { ActivityDeps } from '../activities/deps';
import type { ActivityFaults } from '../activities';
import type { JobConfig } from './definitions';
import { fsWorkerHalf } from './fs/worker';
import { JOB_KINDS, type JobKind } from './kinds';
import { s3ObjectListWorkerHalf } from './s3_object_list/worker';
import { s3ScannerWorkerHalf } from './s3_scanner/worker';
import { sqsListenerWorkerHalf } from './sqs_listener/worker';
import type { SourceKindWorkerHalf } from './worker-half';

export const WORKER_HALVES = {
  s3_scanner: s3ScannerWorkerHalf,
  sqs_listener: sqsListenerWorkerHalf,
  fs: fsWorkerHalf,
  s3_object_list: s3ObjectListWorkerHalf,
} satisfies { [K in JobKind]: SourceKindWorkerHalf<Extract<JobConfig, { kind: K }>, object> };

/** The worker half of `job`'s kind, typed for it. */
export function workerHalfOf(job: JobConfig): SourceKindWorkerHalf<JobConfig, object> {
  return WORKER_HALVES[job.kind] as unknown as SourceKindWorkerHalf<JobConfig, object>;
}

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
  ? I
  : never;

/** Every kind's activities together (their names are distinct across kinds). */
export type KindActivities = UnionToIntersection<
  { [K in JobKind]: ReturnType<(typeof WORKER_HALVES)[K]['activities']> }[JobKind]
>;

export function kindActivities(deps: ActivityDeps, faults: ActivityFaults): KindActivities {
  return Object.assign({}, ...JOB_KINDS.map((k) => WORKER_HALVES[k].activities(deps, faults)));
}
