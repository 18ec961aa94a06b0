/**
 * Decodes and validates a compression job's clp_config. The column is written
 * by whoever submits jobs (our ingestor, CLP's own tools, or a person), so it
 * is untrusted: anything wrong with it fails that one job, with a message
 * saying what, and never the executor.
 */
import { z } from 'zod';
import { decodeClpConfig } from '../clp/clp-config';

const awsAuthentication = z.discriminatedUnion('type', [
  z.object({ type: z.literal('default') }),
  z.object({ type: z.literal('env_vars') }),
  z.object({
    type: z.literal('credentials'),
    credentials: z.object({
      access_key_id: z.string().min(1),
      secret_access_key: z.string().min(1),
      session_token: z.string().min(1).nullish(),
    }),
  }),
]);

const common = {
  dataset: z.string().default('default'),
  timestamp_key: z.string().nullish(),
  unstructured: z.boolean().default(false),
};

const s3Input = z.object({
  type: z.literal('s3'),
  bucket: z.string().min(1),
  keys: z.array(z.string().min(1)).min(1),
  region_code: z.string().min(1).nullish(),
  key_prefix: z.string().default(''),
  endpoint_url: z.string().url().nullish(),
  aws_authentication: awsAuthentication.default({ type: 'default' }),
  ...common,
});

const fsInput = z.object({
  type: z.literal('fs'),
  paths_to_compress: z.array(z.string().min(1)).min(1),
  path_prefix_to_remove: z.string().nullish(),
  ...common,
});

const output = z.looseObject({
  // clp_config speaks zstd levels (1-19); the archive codec maps them to its own range.
  compression_level: z.number().int().min(1).max(19).default(3),
  target_archive_size: z.number().int().positive().optional(),
});

const clpJobConfig = z.object({
  input: z.discriminatedUnion('type', [s3Input, fsInput]),
  output: output.default({ compression_level: 3 }),
});

export type ClpJobConfig = z.infer<typeof clpJobConfig>;
export type S3JobInput = z.infer<typeof s3Input>;
export type FsJobInput = z.infer<typeof fsInput>;

/** Why a clp_config could not be used; its message becomes the job's status_msg. */
export class InvalidClpConfigError extends Error {
  override name = 'InvalidClpConfigError';
}

/** Decodes (zstd or brotli msgpack) and validates; throws InvalidClpConfigError. */
export async function parseClpJobConfig(blob: Buffer): Promise<ClpJobConfig> {
  let decoded: unknown;
  try {
    decoded = await decodeClpConfig(blob);
  } catch (err) {
    throw new InvalidClpConfigError(`clp_config cannot be decoded: ${(err as Error).message}`);
  }
  const parsed = clpJobConfig.safeParse(decoded);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : '(root)';
    throw new InvalidClpConfigError(`clp_config is invalid at ${where}: ${issue.message}`);
  }
  return parsed.data;
}
