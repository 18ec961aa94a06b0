/**
 * The S3 scanner's config (CLP log-ingestor's `s3_scanner`): scans a bucket's
 * key prefix in key order. "Beyond CLP" marks fields CLP's own ingestor does
 * not have.
 */
import { z } from 'zod';
import { s3Base, s3Key } from '../../config/job-fields';
import { oneS3Location, S3_FLAGS, type SourceDefinition } from '../definition';

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
     * after the cursor (split into key ranges; see split.ts). 1: one lister,
     * page after page, as CLP's ingestor lists.
     */
    listing_parallelism: z.number().int().min(1).max(16).optional(),
  })
  .strict();

export type S3ScannerConfig = z.infer<typeof s3ScannerConfigSchema>;

export const s3ScannerDefinition = {
  schema: s3ScannerConfigSchema,
  endpoints: (c) => ({
    region: c.region,
    urls: c.endpoint_url !== undefined ? [{ field: 'endpoint_url', url: c.endpoint_url }] : [],
  }),
  s3Locations: oneS3Location,
  hasScannerState: true,
  cli: {
    describe: 'an S3-scanner ingestion job',
    flags: [
      ...S3_FLAGS,
      {
        option: '--scanning-interval-sec <n>',
        description: 'scanning_interval_sec',
        field: 'scanning_interval_sec',
        numeric: true,
      },
      { option: '--start-after <key>', description: 'start_after', field: 'start_after' },
      {
        option: '--settle-delay-sec <n>',
        description: 'settle_delay_sec',
        field: 'settle_delay_sec',
        numeric: true,
      },
      { option: '--one-time', description: 'one_time: scan the prefix once, then finish', field: 'one_time' },
    ],
  },
  rest: {
    schemaId: 'S3ScannerConfig',
    summary: 'Create an S3-scanner ingestion job',
    tags: ['IngestionJob'],
    description:
      'CLP log-ingestor S3-scanner config: scans bucket_name/key_prefix every scanning_interval_sec, in key order (one_time: one scan to the end of the prefix, then the job finishes).',
  },
} satisfies SourceDefinition<typeof s3ScannerConfigSchema>;
