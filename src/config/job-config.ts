/**
 * Ingestion-job configs, with CLP log-ingestor's field names, validated once
 * at the edge. Errors name the field. Configs carry no secrets: credentials
 * come from the worker's settings, so a config may travel through Temporal.
 */
import { z } from 'zod';

export const JOB_KINDS = ['s3_scanner', 'sqs_listener', 'fs'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

const GiB = 1024 * 1024 * 1024;

const requiredString = () =>
  z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') });
const nonEmpty = requiredString().trim().min(1, 'must be a non-empty string');
const optionalText = z.string().min(1).optional();

export const bufferConfigSchema = z
  .object({
    flush_threshold_bytes: z
      .number()
      .int()
      .positive()
      .default(4 * GiB),
    timeout_sec: z.number().positive().max(86_400).default(300),
    channel_capacity: z.number().int().positive().max(1_000_000).default(16),
  })
  .strict();

/** S3 object keys are at most 1,024 bytes of UTF-8. */
const s3Key = nonEmpty.refine(
  (k) => Buffer.byteLength(k, 'utf8') <= 1024,
  'must be at most 1024 bytes (an S3 key)',
);

const bucketName = nonEmpty.regex(
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
  'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)',
);

const s3Base = {
  bucket_name: bucketName,
  key_prefix: s3Key,
  region: optionalText,
  endpoint_url: z.string().url().optional(),
  dataset: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,255}$/, 'must be letters, digits and underscores')
    .default('default'),
  timestamp_key: optionalText,
  unstructured: z.boolean().default(false),
  buffer_config: bufferConfigSchema.default(() => bufferConfigSchema.parse({})),
};

export const s3ScannerConfigSchema = z
  .object({
    ...s3Base,
    scanning_interval_sec: z.number().positive().max(86_400).default(30),
    start_after: s3Key.optional(),
    /** Beyond CLP: the cursor passes only objects at least this old, so concurrent uploads are not skipped. */
    settle_delay_sec: z.number().min(0).max(3600).default(5),
    /**
     * Beyond CLP: order-free scanning. Every this many seconds the whole
     * prefix (up to the cursor) is listed again and every key not yet
     * recorded is recorded, so an object uploaded under a key that sorts
     * before the cursor is still ingested. Off when absent.
     */
    rescan_interval_sec: z
      .number()
      .min(1)
      .max(7 * 86_400)
      .optional(),
  })
  .strict();

/** One (bucket, key prefix) pair an SQS listener takes notifications for. */
export const sqsSourceSchema = z.object({ bucket_name: bucketName, key_prefix: s3Key }).strict();
export type SqsSource = z.infer<typeof sqsSourceSchema>;

const MAX_SQS_SOURCES = 100;

export const sqsListenerConfigSchema = z
  .object({
    ...s3Base,
    // Either bucket_name and key_prefix (CLP's form) or sources, never both.
    bucket_name: bucketName.optional(),
    key_prefix: s3Key.optional(),
    /** Beyond CLP: several (bucket, key prefix) pairs; notifications outside all of them are ignored. */
    sources: z
      .array(sqsSourceSchema)
      .min(1, 'must list at least one {bucket_name, key_prefix}')
      .max(MAX_SQS_SOURCES, `must list at most ${MAX_SQS_SOURCES} pairs`)
      .optional(),
    queue_url: z.string().url(),
    num_concurrent_listener_tasks: z.number().int().min(1).max(32).default(1),
    wait_time_sec: z.number().int().min(0).max(20).default(20),
    /** Beyond CLP: what happens to messages that are not S3 notifications. "leave" hands them to the queue's redrive policy. */
    ignored_message_policy: z.enum(['delete', 'leave']).default('delete'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.sources === undefined) {
      for (const field of ['bucket_name', 'key_prefix'] as const) {
        if (c[field] === undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: 'is required (or give sources instead)' });
      }
      return;
    }
    for (const field of ['bucket_name', 'key_prefix'] as const) {
      if (c[field] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: 'cannot be given with sources (give bucket_name and key_prefix, or sources)',
        });
    }
    // Within one bucket no prefix may contain another: each key belongs to one pair.
    c.sources.forEach((s, i) => {
      const j = c.sources!.findIndex(
        (o, k) =>
          k < i &&
          o.bucket_name === s.bucket_name &&
          (o.key_prefix.startsWith(s.key_prefix) || s.key_prefix.startsWith(o.key_prefix)),
      );
      if (j >= 0)
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i],
          message: `overlaps sources[${j}] (same bucket, and one key prefix contains the other)`,
        });
    });
  });

export const fsConfigSchema = z
  .object({
    directory: nonEmpty.refine((p) => p.startsWith('/'), 'must be an absolute path'),
    glob: optionalText,
    dataset: s3Base.dataset,
    timestamp_key: optionalText,
    unstructured: z.boolean().default(false),
    buffer_config: s3Base.buffer_config,
    scanning_interval_sec: z.number().positive().max(86_400).default(30),
    settle_delay_sec: z.number().min(0).max(86_400).default(10),
  })
  .strict();

export type BufferConfig = z.infer<typeof bufferConfigSchema>;
export type S3ScannerConfig = z.infer<typeof s3ScannerConfigSchema>;
export type SqsListenerConfig = z.infer<typeof sqsListenerConfigSchema>;
export type FsConfig = z.infer<typeof fsConfigSchema>;

export type JobConfig =
  | { kind: 's3_scanner'; config: S3ScannerConfig }
  | { kind: 'sqs_listener'; config: SqsListenerConfig }
  | { kind: 'fs'; config: FsConfig };

export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError';
}

const schemas = {
  s3_scanner: s3ScannerConfigSchema,
  sqs_listener: sqsListenerConfigSchema,
  fs: fsConfigSchema,
};

/** Validates a raw config; throws InvalidConfigError naming the first bad field. */
export function parseJobConfig(kind: JobKind, raw: unknown): JobConfig {
  const schema = schemas[kind];
  if (!schema) throw new InvalidConfigError(`unknown job kind "${String(kind)}"`);
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

/** The (bucket, key prefix) pairs an SQS listener takes notifications for. */
export function sqsSources(c: SqsListenerConfig): SqsSource[] {
  return c.sources ?? [{ bucket_name: c.bucket_name!, key_prefix: c.key_prefix! }];
}

export interface S3Location {
  bucket: string;
  prefix: string;
  region: string | null;
  endpoint: string | null;
  dataset: string;
}

/** The S3 locations a job reads, for conflict detection; empty for fs jobs. */
export function s3Sources(job: JobConfig): S3Location[] {
  if (job.kind === 'fs') return [];
  const c = job.config;
  const pairs =
    job.kind === 'sqs_listener'
      ? sqsSources(job.config)
      : [{ bucket_name: job.config.bucket_name, key_prefix: job.config.key_prefix }];
  return pairs.map((p) => ({
    bucket: p.bucket_name,
    prefix: p.key_prefix,
    region: c.region ?? null,
    endpoint: c.endpoint_url ?? null,
    dataset: c.dataset,
  }));
}

/** The first S3 location a job reads (its only one unless an SQS job lists several sources). */
export function s3Source(job: JobConfig): S3Location | undefined {
  return s3Sources(job)[0];
}

/** Two S3 jobs conflict when they would ingest the same objects into the same dataset. */
export function conflicts(a: JobConfig, b: JobConfig): boolean {
  const ys = s3Sources(b);
  return s3Sources(a).some((x) =>
    ys.some(
      (y) =>
        x.bucket === y.bucket &&
        x.region === y.region &&
        x.endpoint === y.endpoint &&
        x.dataset === y.dataset &&
        (x.prefix.startsWith(y.prefix) || y.prefix.startsWith(x.prefix)),
    ),
  );
}
