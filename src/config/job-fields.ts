/** Field schemas shared by several job kinds' configs (src/sources/<kind>/config.ts). */
import { z } from 'zod';
import { DATASET_NAME, MAX_DATASET_LENGTH } from '../clp/metadata';
import { BUCKET_NAME_RE } from './object-urls';

const GiB = 1024 * 1024 * 1024;

export const requiredString = () =>
  z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') });
export const nonEmpty = requiredString().trim().min(1, 'must be a non-empty string');
export const optionalText = z.string().min(1).optional();

const bufferConfigSchema = z
  .object({
    flush_threshold_bytes: z
      .number()
      .int()
      .positive()
      .default(4 * GiB),
    timeout_sec: z.number().positive().max(86_400).default(300),
    // CLP's log-ingestor sizes an in-process channel with it; accepted (and checked) so CLP's
    // job configs load unchanged, with no effect here (activities write straight to the buffer).
    channel_capacity: z.number().int().positive().max(1_000_000).default(16),
  })
  .strict();
export type BufferConfig = z.infer<typeof bufferConfigSchema>;

/** S3 object keys are at most 1,024 bytes of UTF-8. */
export const s3Key = nonEmpty.refine(
  (k) => Buffer.byteLength(k, 'utf8') <= 1024,
  'must be at most 1024 bytes (an S3 key)',
);

export const bucketName = nonEmpty.regex(
  BUCKET_NAME_RE,
  'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)',
);

export const s3Base = {
  bucket_name: bucketName,
  key_prefix: s3Key,
  region: optionalText,
  endpoint_url: z.string().url().optional(),
  // What CLP's package refuses (validate_dataset_name): its tables are named after the dataset.
  dataset: z
    .string()
    .regex(DATASET_NAME, 'must be letters, digits and underscores (a CLP dataset name)')
    .max(
      MAX_DATASET_LENGTH,
      `must be at most ${MAX_DATASET_LENGTH} characters (CLP's limit: clp_<dataset>_column_metadata must fit MySQL's 64-character table names)`,
    )
    .default('default'),
  timestamp_key: optionalText,
  unstructured: z.boolean().default(false),
  buffer_config: bufferConfigSchema.default(() => bufferConfigSchema.parse({})),
};
