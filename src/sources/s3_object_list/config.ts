/**
 * A one-time job over an explicit list of objects, all in one bucket at one
 * endpoint (beyond CLP). The bucket, endpoint and key prefix (the keys'
 * longest common prefix) are derived from `urls`; a config may repeat them (a
 * stored config does), but they must then be what the URLs say.
 */
import { z } from 'zod';
import { optionalText, requiredString, s3Base } from '../../config/job-fields';
import { parseObjectUrls, type ObjectUrls } from '../../config/object-urls';
import { oneS3Location, type SourceDefinition } from '../definition';

/** At most this many objects in one s3_object_list job (its config travels in workflow input). */
const MAX_OBJECT_URLS = 10_000;

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

export type S3ObjectListConfig = z.infer<typeof s3ObjectListConfigSchema>;

export const s3ObjectListDefinition = {
  schema: s3ObjectListConfigSchema,
  endpoints: (c) => ({
    region: c.region,
    // The endpoint is the one the URLs name: refused under the field the user wrote.
    urls: c.endpoint_url !== undefined ? [{ field: 'urls', url: c.endpoint_url }] : [],
  }),
  s3Locations: oneS3Location,
  // Its cursor row holds how far the look-up of the listed objects got.
  hasScannerState: true,
  cli: {
    describe: 'a one-time ingestion job of listed S3 objects',
    flags: [
      {
        option: '--url <url...>',
        description: 'urls: s3://bucket/key or http(s)://endpoint/bucket/key (repeatable)',
      },
      { option: '--urls-file <file>', description: 'urls, one a line (- for stdin)' },
      { option: '--region <region>', description: 'region', field: 'region' },
    ],
  },
  rest: {
    schemaId: 'S3ObjectListConfig',
    summary: 'Create a one-time ingestion job of listed S3 objects',
    tags: ['Jobs'],
    description:
      'One-time job of listed objects: urls are s3://bucket/key or path-style http(s)://host[:port]/bucket/key, all in one bucket at one endpoint, no duplicates. bucket_name, key_prefix and endpoint_url are derived from urls. An object that does not exist is recorded as a failed file with the reason. The job finishes when every object is compressed or failed.',
  },
} satisfies SourceDefinition<typeof s3ObjectListConfigSchema>;
