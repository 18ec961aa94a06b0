/**
 * Ingestion-job configs, with CLP log-ingestor's field names, validated once
 * at the edge. Errors name the field. Configs carry no secrets: credentials
 * come from the worker's settings, so a config may travel through Temporal.
 *
 * Importers use this module; its parts are one schema per kind
 * (job-schemas.ts, with the fields several kinds share in job-fields.ts),
 * object-list URLs (object-urls.ts) and the S3 locations a job reads
 * (s3-locations.ts).
 */
import {
  fsConfigSchema,
  s3ObjectListConfigSchema,
  s3ScannerConfigSchema,
  sqsListenerConfigSchema,
  type JobConfig,
} from './job-schemas';

export const JOB_KINDS = ['s3_scanner', 'sqs_listener', 'fs', 's3_object_list'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export type { BufferConfig } from './job-fields';
export {
  fsConfigSchema,
  s3ObjectListConfigSchema,
  s3ScannerConfigSchema,
  sqsListenerConfigSchema,
  type FsConfig,
  type JobConfig,
  type S3ObjectListConfig,
  type S3ScannerConfig,
  type SqsListenerConfig,
  type SqsSource,
} from './job-schemas';
export { parseObjectUrls, type ObjectUrls } from './object-urls';
export { conflicts, s3Source, sqsSources, type S3Location } from './s3-locations';
export { isOneTime, jobSource } from './job-source';

export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError';
}

const schemas = {
  s3_scanner: s3ScannerConfigSchema,
  sqs_listener: sqsListenerConfigSchema,
  fs: fsConfigSchema,
  s3_object_list: s3ObjectListConfigSchema,
};

/** Validates a raw config; throws InvalidConfigError naming the first bad field. */
export function parseJobConfig(kind: JobKind, raw: unknown): JobConfig {
  if (!(JOB_KINDS as readonly unknown[]).includes(kind)) {
    throw new InvalidConfigError(`kind: unknown job kind "${String(kind)}" (one of ${JOB_KINDS.join(', ')})`);
  }
  const schema = schemas[kind];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidConfigError('config: must be a JSON object');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path
      .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`))
      .join('');
    const unknown =
      issue.code === 'unrecognized_keys' ? `unknown field "${issue.keys.join('", "')}"` : undefined;
    throw new InvalidConfigError(unknown ?? `${field || 'config'}: ${issue.message}`);
  }
  return { kind, config: parsed.data } as JobConfig;
}
