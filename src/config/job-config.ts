/**
 * Ingestion-job configs, with CLP log-ingestor's field names, validated once
 * at the edge. Errors name the field. Configs carry no secrets: credentials
 * come from the worker's settings, so a config may travel through Temporal.
 *
 * Each kind's schema lives in its folder (src/sources/<kind>/config.ts); the
 * fields several kinds share are in job-fields.ts, object-list URLs in
 * object-urls.ts. Importers use this module.
 */
import { SOURCE_DEFINITIONS, type JobConfig } from '../sources/definitions';
import { JOB_KINDS, type JobKind } from '../sources/kinds';

export { JOB_KINDS, type JobKind } from '../sources/kinds';
export type { ConfigOf, JobConfig } from '../sources/definitions';
export type { S3Location } from '../sources/definition';
export type { BufferConfig } from './job-fields';
export { fsConfigSchema, type FsConfig } from '../sources/fs/config';
export { s3ObjectListConfigSchema, type S3ObjectListConfig } from '../sources/s3_object_list/config';
export { s3ScannerConfigSchema, type S3ScannerConfig } from '../sources/s3_scanner/config';
export {
  sqsListenerConfigSchema,
  sqsSources,
  type SqsListenerConfig,
  type SqsSource,
} from '../sources/sqs_listener/config';
export { parseObjectUrls, type ObjectUrls } from './object-urls';
export { conflicts, s3Source } from '../sources/s3-locations';
export { isOneTime, jobSource } from '../sources/describe';

export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError';
}

/** Validates a raw config; throws InvalidConfigError naming the first bad field. */
export function parseJobConfig(kind: JobKind, raw: unknown): JobConfig {
  if (!(JOB_KINDS as readonly unknown[]).includes(kind)) {
    throw new InvalidConfigError(`kind: unknown job kind "${String(kind)}" (one of ${JOB_KINDS.join(', ')})`);
  }
  const schema = SOURCE_DEFINITIONS[kind].schema;
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
