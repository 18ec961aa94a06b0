/**
 * One zod schema per job kind, with CLP log-ingestor's field names; "Beyond
 * CLP" marks fields CLP's own ingestor does not have.
 */
import { z } from 'zod';
import { bucketName, nonEmpty, optionalText, requiredString, s3Base, s3Key } from './job-fields';
import { parseObjectUrls, type ObjectUrls } from './object-urls';

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
    /** Beyond CLP: scan the prefix once to its end, then drain and finish. */
    one_time: z.boolean().optional(),
    /**
     * Beyond CLP: how many listers share the job's listing when keys wait
     * after the cursor (split into key ranges; see s3-scan-split.ts). 1: one
     * lister, page after page, as CLP's ingestor lists.
     */
    listing_parallelism: z.number().int().min(1).max(16).optional(),
  })
  .strict();

/** One (bucket, key prefix) pair an SQS listener takes notifications for. */
const sqsSourceSchema = z.object({ bucket_name: bucketName, key_prefix: s3Key }).strict();
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
    /** Scan the directory once (until a pass finds every file settled), then drain and finish. */
    one_time: z.boolean().optional(),
  })
  .strict();

/** At most this many objects in one s3_object_list job (its config travels in workflow input). */
const MAX_OBJECT_URLS = 10_000;

/**
 * A one-time job over an explicit list of objects, all in one bucket at one
 * endpoint. The bucket, endpoint and key prefix (the keys' longest common
 * prefix) are derived from `urls`; a config may repeat them (a stored config
 * does), but they must then be what the URLs say.
 */
export const s3ObjectListConfigSchema = z
  .object({
    urls: z
      .array(requiredString(), {
        error: (iss) => (iss.input === undefined ? 'is required' : 'must be an array'),
      })
      .min(1, 'must name at least one object')
      .max(MAX_OBJECT_URLS, `must name at most ${MAX_OBJECT_URLS} objects`),
    bucket_name: z.string().optional(),
    key_prefix: z.string().optional(),
    endpoint_url: z.string().optional(),
    region: optionalText,
    dataset: s3Base.dataset,
    timestamp_key: optionalText,
    unstructured: z.boolean().default(false),
    buffer_config: s3Base.buffer_config,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.urls.length === 0 || c.urls.length > MAX_OBJECT_URLS) return; // refused above
    const parsed = parseObjectUrls(c.urls);
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', path: ['urls'], message: parsed.error });
      return;
    }
    const derived = {
      bucket_name: parsed.bucket,
      key_prefix: parsed.keyPrefix,
      endpoint_url: parsed.endpoint,
    };
    for (const field of ['bucket_name', 'key_prefix', 'endpoint_url'] as const) {
      if (c[field] !== undefined && c[field] !== derived[field])
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `must be what urls name (${JSON.stringify(derived[field] ?? null)}), or left out`,
        });
    }
  })
  .transform((c) => {
    const parsed = parseObjectUrls(c.urls) as ObjectUrls; // valid: refined above
    const rest = { ...c };
    delete rest.endpoint_url; // a stored s3:// list has none; an endpoint list's is derived again
    return {
      ...rest,
      bucket_name: parsed.bucket,
      key_prefix: parsed.keyPrefix,
      ...(parsed.endpoint !== undefined ? { endpoint_url: parsed.endpoint } : {}),
    };
  });

export type S3ScannerConfig = z.infer<typeof s3ScannerConfigSchema>;
export type SqsListenerConfig = z.infer<typeof sqsListenerConfigSchema>;
export type FsConfig = z.infer<typeof fsConfigSchema>;
export type S3ObjectListConfig = z.infer<typeof s3ObjectListConfigSchema>;

export type JobConfig =
  | { kind: 's3_scanner'; config: S3ScannerConfig }
  | { kind: 'sqs_listener'; config: SqsListenerConfig }
  | { kind: 'fs'; config: FsConfig }
  | { kind: 's3_object_list'; config: S3ObjectListConfig };
