/** A local-directory job's config (beyond CLP: its ingestor reads S3 only). */
import { z } from 'zod';
import { nonEmpty, optionalText, s3Base } from '../../config/job-fields';
import type { SourceDefinition } from '../definition';

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

export type FsConfig = z.infer<typeof fsConfigSchema>;

export const fsDefinition = {
  schema: fsConfigSchema,
  // The worker reads the directory itself: no host, no S3 location.
  endpoints: () => ({ urls: [] }),
  s3Locations: () => [],
  hasScannerState: false,
  cli: {
    describe: 'a local-directory ingestion job',
    flags: [
      { option: '--directory <path>', description: 'directory (absolute)', field: 'directory' },
      { option: '--glob <pattern>', description: 'only files matching this glob', field: 'glob' },
      {
        option: '--scanning-interval-sec <n>',
        description: 'scanning_interval_sec',
        field: 'scanning_interval_sec',
        numeric: true,
      },
      {
        option: '--settle-delay-sec <n>',
        description: 'settle_delay_sec',
        field: 'settle_delay_sec',
        numeric: true,
      },
      {
        option: '--one-time',
        description: 'one_time: scan the directory once, then finish',
        field: 'one_time',
      },
    ],
  },
  rest: {
    schemaId: 'FsConfig',
    summary: 'Create a local-directory ingestion job',
    tags: ['Jobs'],
    description:
      'Local-directory config: ingests files under an absolute directory (one_time: one scan, then the job finishes).',
  },
} satisfies SourceDefinition<typeof fsConfigSchema>;
