/**
 * The definition half of a job kind: what clients, the store and the worker
 * all need to know about its config (zod; never bundled into workflows).
 */
import type { z } from 'zod';
import type { EndpointField } from '../security/endpoints';

/** An S3 location a job reads, for conflict detection and the bucket search attribute. */
export interface S3Location {
  bucket: string;
  prefix: string;
  region: string | null;
  endpoint: string | null;
  dataset: string;
}

/** One CLI flag of a kind's create command. */
export interface CliFlag {
  /** As commander takes it, e.g. `--bucket <name>`. */
  option: string;
  description: string;
  /** The config field the flag sets; absent for flags the create command reads itself (--url, --urls-file). */
  field?: string;
  /** The value is a number (named in the error when it is not). */
  numeric?: boolean;
}

/** The fields of a config that name (part of) a host the worker connects to. */
export interface JobEndpoints {
  region?: string;
  urls: { field: EndpointField; url: string }[];
}

export interface SourceDefinition<Schema extends z.ZodType> {
  /** The config schema, with CLP log-ingestor's field names; errors name the field. */
  schema: Schema;
  endpoints(config: z.output<Schema>): JobEndpoints;
  /** The S3 locations the job reads (empty for a local directory). */
  s3Locations(config: z.output<Schema>): S3Location[];
  /** The job keeps a scanner cursor row (log_ingestor_s3_scanner_state). */
  hasScannerState: boolean;
  /** `create-<kind>`: what it creates, and the flags beyond the ones every kind has. */
  cli: { describe: string; flags: CliFlag[] };
  /** `POST /<kind>`: the route's OpenAPI metadata and the config's schema name and description. */
  rest: { schemaId: string; summary: string; tags: string[]; description: string };
}

/** The S3 location pairs of a config with one bucket and key prefix. */
export function oneS3Location(c: {
  bucket_name: string;
  key_prefix: string;
  region?: string;
  endpoint_url?: string;
  dataset: string;
}): S3Location[] {
  return [
    {
      bucket: c.bucket_name,
      prefix: c.key_prefix,
      region: c.region ?? null,
      endpoint: c.endpoint_url ?? null,
      dataset: c.dataset,
    },
  ];
}

/** Flags every S3 kind reading one bucket and key prefix takes. */
export const S3_FLAGS: CliFlag[] = [
  { option: '--bucket <name>', description: 'bucket_name', field: 'bucket_name' },
  { option: '--prefix <prefix>', description: 'key_prefix', field: 'key_prefix' },
  { option: '--region <region>', description: 'region', field: 'region' },
  {
    option: '--endpoint-url <url>',
    description: 'endpoint_url (S3-compatible stores)',
    field: 'endpoint_url',
  },
];
