/**
 * The SQS listener's config (CLP log-ingestor's `sqs_listener`): ingests the
 * objects S3 event notifications on a queue name. "Beyond CLP" marks fields
 * CLP's own ingestor does not have.
 */
import { z } from 'zod';
import { bucketName, s3Base, s3Key } from '../../config/job-fields';
import { S3_FLAGS, type S3Location, type SourceDefinition } from '../definition';

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

export type SqsListenerConfig = z.infer<typeof sqsListenerConfigSchema>;

/** The (bucket, key prefix) pairs an SQS listener takes notifications for. */
export function sqsSources(c: SqsListenerConfig): SqsSource[] {
  return c.sources ?? [{ bucket_name: c.bucket_name!, key_prefix: c.key_prefix! }];
}

export const sqsListenerDefinition = {
  schema: sqsListenerConfigSchema,
  endpoints: (c) => ({
    region: c.region,
    urls: [
      ...(c.endpoint_url !== undefined ? [{ field: 'endpoint_url' as const, url: c.endpoint_url }] : []),
      { field: 'queue_url', url: c.queue_url },
    ],
  }),
  s3Locations: (c): S3Location[] =>
    sqsSources(c).map((p) => ({
      bucket: p.bucket_name,
      prefix: p.key_prefix,
      region: c.region ?? null,
      endpoint: c.endpoint_url ?? null,
      dataset: c.dataset,
    })),
  hasScannerState: false,
  cli: {
    describe: 'an SQS-listener ingestion job',
    flags: [
      ...S3_FLAGS,
      { option: '--queue-url <url>', description: 'queue_url', field: 'queue_url' },
      {
        option: '--listeners <n>',
        description: 'num_concurrent_listener_tasks',
        field: 'num_concurrent_listener_tasks',
        numeric: true,
      },
      { option: '--wait-time-sec <n>', description: 'wait_time_sec', field: 'wait_time_sec', numeric: true },
    ],
  },
  rest: {
    schemaId: 'SqsListenerConfig',
    summary: 'Create an SQS-listener ingestion job',
    tags: ['IngestionJob'],
    description:
      'CLP log-ingestor SQS-listener config: ingests the objects named by S3 event notifications on queue_url.',
  },
} satisfies SourceDefinition<typeof sqsListenerConfigSchema>;
