/**
 * Every job kind's definition half, keyed by kind: a kind in JOB_KINDS that
 * is missing here does not compile. The parsed config of each kind, and the
 * JobConfig union, are derived from its schema.
 */
import type { z } from 'zod';
import { fsDefinition } from './fs/config';
import type { JobKind } from './kinds';
import { s3ObjectListDefinition } from './s3_object_list/config';
import { s3ScannerDefinition } from './s3_scanner/config';
import { sqsListenerDefinition } from './sqs_listener/config';
import type { SourceDefinition } from './definition';

export const SOURCE_DEFINITIONS = {
  s3_scanner: s3ScannerDefinition,
  sqs_listener: sqsListenerDefinition,
  fs: fsDefinition,
  s3_object_list: s3ObjectListDefinition,
} satisfies { [K in JobKind]: SourceDefinition<z.ZodType> };

/** The parsed config of a job of kind K. */
export type ConfigOf<K extends JobKind> = z.output<(typeof SOURCE_DEFINITIONS)[K]['schema']>;

/** A job: its kind and its parsed config. */
export type JobConfig = { [K in JobKind]: { kind: K; config: ConfigOf<K> } }[JobKind];

/**
 * The definition of `job`'s kind, typed for its config (TypeScript cannot
 * correlate a union's kind with a record's entry by itself).
 */
export function definitionOf(job: JobConfig): SourceDefinition<z.ZodType<JobConfig['config']>> {
  return SOURCE_DEFINITIONS[job.kind] as unknown as SourceDefinition<z.ZodType<JobConfig['config']>>;
}
