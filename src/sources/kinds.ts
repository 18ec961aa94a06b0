/**
 * The job kinds: a closed list. Each kind lives in its own folder
 * (src/sources/<kind>/) and is tied in by three records keyed by kind, each
 * declared `satisfies Record<JobKind, ...>`, so a kind added here and missing
 * from any of them is a compile error:
 *
 *   definitions.ts    its config schema, endpoint fields, S3 locations, CLI flags, REST create route
 *   workflow-kinds.ts what the workflow bundle needs: facts of a config and the reader step
 *   worker-kinds.ts   what the worker needs: its activities and its compression input
 *
 * Imports nothing, so the workflow bundle can use it.
 */
export const JOB_KINDS = ['s3_scanner', 'sqs_listener', 'fs', 's3_object_list'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
