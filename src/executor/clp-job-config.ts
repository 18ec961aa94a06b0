/**
 * Decodes and validates a compression job's clp_config exactly as strictly as
 * the configured CLP release (CLP_COMPAT) would: the codec, the input types
 * and authentication types it knows, and the rules its scheduler applies to
 * key lists. The column is written by whoever submits jobs (our ingestor,
 * CLP's own tools, or a person), so it is untrusted: anything wrong with it
 * fails that one job, with a message saying what, and never the executor.
 */
import { z } from 'zod';
import { decodeClpConfig, isZstdFrame } from '../clp/clp-config';
import { releaseName, type ClpCompat } from '../clp/compat';

const awsAuthentication = z.discriminatedUnion('type', [
  z.object({ type: z.literal('default') }),
  z.object({ type: z.literal('env_vars') }),
  z.object({ type: z.literal('profile'), profile: z.string().min(1) }),
  // Known to CLP v0.9 and v0.10 only; this ingestor never writes it.
  z.object({ type: z.literal('ec2') }),
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

const s3Common = {
  bucket: z.string().min(1),
  region_code: z.string().min(1).nullish(),
  key_prefix: z.string().default(''),
  endpoint_url: z.string().url().nullish(),
  aws_authentication: awsAuthentication.default({ type: 'default' }),
  ...common,
};

const s3Input = z.object({
  type: z.literal('s3'),
  keys: z.array(z.string().min(1)).min(1),
  ...s3Common,
});

const s3ObjectMetadataInput = z.object({
  type: z.literal('s3_object_metadata'),
  ingestion_job_id: z.number().int().nonnegative(),
  s3_object_metadata_ids: z
    .array(z.number().int().nonnegative())
    .min(1)
    .superRefine((ids, ctx) => {
      const seen = new Set<number>();
      for (const id of ids) {
        if (seen.has(id)) ctx.addIssue({ code: 'custom', message: `duplicate id ${id}` });
        seen.add(id);
      }
    }),
  ...s3Common,
});

const fsInput = z.object({
  type: z.literal('fs'),
  paths_to_compress: z.array(z.string().min(1)).min(1),
  path_prefix_to_remove: z.string().nullish(),
  ...common,
});

const MiB = 1024 * 1024;
/** CLP's OutputConfig, with its defaults. */
const output = z.looseObject({
  compression_level: z.number().int().min(1).max(19).default(3),
  target_archive_size: z
    .number()
    .int()
    .positive()
    .default(256 * MiB),
  target_dictionaries_size: z
    .number()
    .int()
    .positive()
    .default(32 * MiB),
  target_encoded_file_size: z
    .number()
    .int()
    .positive()
    .default(256 * MiB),
  target_segment_size: z
    .number()
    .int()
    .positive()
    .default(256 * MiB),
});

const clpJobConfig = z.object({
  input: z.discriminatedUnion('type', [s3Input, s3ObjectMetadataInput, fsInput]),
  output: output.default(() => output.parse({})),
});

export type ClpJobConfig = z.infer<typeof clpJobConfig>;
export type S3JobInput = z.infer<typeof s3Input>;
export type S3ObjectMetadataJobInput = z.infer<typeof s3ObjectMetadataInput>;
/** What both S3 input types share: where the objects are and how to reach them. */
export type S3Location = Omit<S3JobInput, 'type' | 'keys'>;
export type FsJobInput = z.infer<typeof fsInput>;

/** Why a clp_config could not be used; its message becomes the job's status_msg. */
export class InvalidClpConfigError extends Error {
  override name = 'InvalidClpConfigError';
}

/** Python's str ordering (by code point), which CLP's scheduler sorts keys with; JS's default is by UTF-16 unit. */
export function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i].codePointAt(0)! - y[i].codePointAt(0)!;
  }
  return x.length - y.length;
}

/**
 * CLP's scheduler on an `s3` input's keys: sorted; then one duplicate, one
 * key outside key_prefix or one "directory" key fails the whole job.
 * Returns the keys in the order CLP processes them.
 */
export function checkS3Keys(input: Pick<S3JobInput, 'keys' | 'key_prefix'>): string[] {
  const keys = [...input.keys].sort(compareCodePoints);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (i > 0 && keys[i - 1] === key)
      throw new InvalidClpConfigError(`clp_config is invalid at input.keys: duplicate key ${key}`);
    if (!key.startsWith(input.key_prefix)) {
      throw new InvalidClpConfigError(
        `clp_config is invalid at input.keys: key ${key} does not start with key_prefix "${input.key_prefix}"`,
      );
    }
    if (key.endsWith('/'))
      throw new InvalidClpConfigError(`clp_config is invalid at input.keys: key ${key} ends with "/"`);
  }
  return keys;
}

/** The zstd frame header says how large the content is (CLP's scheduler cannot decompress a frame that does not). */
function zstdContentSizeKnown(blob: Buffer): boolean {
  if (blob.length < 5) return false;
  const descriptor = blob[4];
  return descriptor >> 6 !== 0 || (descriptor & 0x20) !== 0;
}

/** The codec check CLP makes implicitly: each release line decompresses with one codec only. */
function checkCodec(blob: Buffer, compat: ClpCompat): void {
  const release = `${releaseName(compat.release)} (CLP_COMPAT=${compat.release})`;
  const zstd = isZstdFrame(blob);
  if (compat.codec === 'zstd' && !zstd) {
    throw new InvalidClpConfigError(
      `clp_config cannot be decoded: it is not a zstd frame, and ${release} decodes only zstd (brotli is CLP v0.9-v0.13's)`,
    );
  }
  if (compat.codec === 'zstd' && !zstdContentSizeKnown(blob)) {
    throw new InvalidClpConfigError(
      `clp_config cannot be decoded: its zstd frame does not carry the content size, which ${release} requires`,
    );
  }
  if (compat.codec === 'brotli' && zstd) {
    throw new InvalidClpConfigError(
      `clp_config cannot be decoded: it is zstd-compressed, and ${release} decodes only brotli (zstd is CLP head's)`,
    );
  }
}

/** What the release's scheduler accepts: what the ingestor may write, plus `ec2` on v0.9/v0.10. */
function schedulerAuthTypes(compat: ClpCompat): readonly string[] {
  const old = compat.release === '0.9' || compat.release === '0.10';
  return old ? [...compat.authTypes, 'ec2'] : compat.authTypes;
}

/** Input and authentication types the release line does not know fail the job, as CLP's models would. */
function checkRelease(config: ClpJobConfig, compat: ClpCompat): void {
  const release = `${releaseName(compat.release)} (CLP_COMPAT=${compat.release})`;
  const input = config.input;
  if (input.type === 'fs') return;
  if (!compat.s3InputTypes.includes(input.type)) {
    throw new InvalidClpConfigError(
      `clp_config is invalid at input.type: ${release} has no "${input.type}" input (it knows ${['fs', ...compat.s3InputTypes].join(', ')})`,
    );
  }
  const auth = input.aws_authentication.type;
  const known: readonly string[] = schedulerAuthTypes(compat);
  if (!known.includes(auth)) {
    throw new InvalidClpConfigError(
      `clp_config is invalid at input.aws_authentication.type: ${release} does not know "${auth}" authentication (it knows ${known.join(', ')})`,
    );
  }
}

/**
 * Decodes (with the codec of the release line `compat`) and validates;
 * throws InvalidClpConfigError. `s3` keys come back in CLP's order.
 */
export async function parseClpJobConfig(blob: Buffer, compat: ClpCompat): Promise<ClpJobConfig> {
  checkCodec(blob, compat);
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
  const config = parsed.data;
  checkRelease(config, compat);
  if (config.input.type === 's3') config.input.keys = checkS3Keys(config.input);
  return config;
}
