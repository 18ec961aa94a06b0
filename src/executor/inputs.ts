/**
 * A compression job's inputs as streams: objects in S3 or files on local disk.
 * Every failure to read one is an InputError naming it (s3://bucket/key or the
 * path) and the reason (NoSuchKey, AccessDenied, ENOENT...), because that is
 * what the job's status_msg must tell an operator.
 */
import { createReadStream, type Stats } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RowDataPacket } from 'mysql2/promise';
import { createJobS3Client, type JobS3Target } from '../aws';
import type { AwsSettings } from '../config/settings';
import type { Db } from '../store/db';
import { TABLES } from '../store/schema';
import { clpS3Url } from '../clp/s3-url';
import {
  compareCodePoints,
  type FsJobInput,
  type S3Location,
  type S3ObjectMetadataJobInput,
} from './clp-job-config';

export interface InputFile {
  /** The path CLP's task records for it: the object key, or the path as CLP's workers see it. */
  clpPath: string;
  /** What clp-s reads: the object's URL (CLP's rule) or the local path. */
  location: string;
  /** Where it is read from, as an operator would write it (s3://bucket/key or the path). */
  source: string;
  size: number;
  /** The file's bytes (text logs are converted before clp-s reads them); errors are InputErrors. */
  read(signal?: AbortSignal): AsyncIterable<Buffer>;
}

export interface JobInputs {
  files: InputFile[];
  /** For S3 inputs: the credentials clp-s gets (`--auth s3`), resolved as the job's aws_authentication says. */
  s3Credentials?: () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;
  close(): void;
}

export class InputError extends Error {
  override name = 'InputError';
  constructor(
    readonly source: string,
    cause: unknown,
  ) {
    super(`${source}: ${describe(cause)}`, { cause });
  }
}

/** The AWS error name (NoSuchKey) or errno code (ENOENT) first: that is what is searchable. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // An S3 error without a body (a HEAD's) is only "Unknown": its HTTP status is the reason.
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (err.name === 'Unknown' && status) return `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
  const code = (err as NodeJS.ErrnoException).code;
  if (code)
    return code === err.message || err.message.startsWith(code) ? err.message : `${code} (${err.message})`;
  if (err.name && err.name !== 'Error') {
    return err.message && err.message !== err.name && err.message !== 'UnknownError'
      ? `${err.name} (${err.message})`
      : err.name;
  }
  return err.message;
}

/** Re-throws whatever reading `open()` throws as an InputError for `source`. */
async function* guarded(source: string, open: () => Promise<Readable>): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of await open()) yield chunk as Buffer;
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new InputError(source, err);
  }
}

/**
 * A job the executor refuses as CLP would (or, for AWS, as this executor's
 * settings say): its message becomes the job's status_msg.
 */
export class JobRejectedError extends Error {
  override name = 'JobRejectedError';
}

/** The client a job's S3 location and authentication call for; refused before anything connects. */
function s3Target(loc: S3Location, aws: AwsSettings, allowAws: boolean): JobS3Target {
  const region = loc.region_code ?? aws.region;
  if (!loc.endpoint_url && !allowAws) {
    throw new JobRejectedError(
      `endpoint_url is null, so this job would read from AWS S3 (s3://${loc.bucket} in ${region}); ` +
        'this executor may not (CLP_EXECUTOR_ALLOW_AWS=false)',
    );
  }
  const target: JobS3Target = { region, endpointUrl: loc.endpoint_url ?? null };
  const auth = loc.aws_authentication;
  switch (auth.type) {
    case 'credentials':
      return {
        ...target,
        credentials: {
          accessKeyId: auth.credentials.access_key_id,
          secretAccessKey: auth.credentials.secret_access_key,
          sessionToken: auth.credentials.session_token ?? undefined,
        },
      };
    case 'profile':
      return { ...target, profile: auth.profile };
    case 'env_vars':
      // CLP's workers read these two variables and nothing else.
      if (!aws.credentials) {
        throw new JobRejectedError(
          'aws_authentication is env_vars, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set for the executor',
        );
      }
      return { ...target, credentials: aws.credentials };
    case 'default':
      // The SDK's default chain, which the executor's settings already read from the environment.
      return { ...target, credentials: aws.credentials };
    case 'ec2':
      // CLP v0.9/v0.10: the instance's role, i.e. the SDK's default chain without the executor's keys.
      return target;
  }
}

export interface S3InputOptions {
  aws: AwsSettings;
  /** CLP_EXECUTOR_ALLOW_AWS: whether a null endpoint_url may reach AWS S3. */
  allowAws: boolean;
}

/** How many HEAD requests an `s3` job's key check keeps in flight. */
const HEAD_CONCURRENCY = 16;

/**
 * The sizes of `keys` (an `s3` job names keys only), each checked to exist:
 * CLP's scheduler fails the whole job when one no longer does.
 */
async function headSizes(
  s3: S3Client,
  bucket: string,
  keys: string[],
  signal?: AbortSignal,
): Promise<number[]> {
  const sizes = new Array<number>(keys.length);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = next++;
      try {
        const res = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: keys[i] }), {
          abortSignal: signal,
        });
        sizes[i] = Number(res.ContentLength ?? 0);
      } catch (err) {
        if ((err as { name?: string }).name === 'NotFound' || (err as { name?: string }).name === 'NoSuchKey')
          throw new JobRejectedError(`s3://${bucket}/${keys[i]} does not exist`);
        throw new InputError(`s3://${bucket}/${keys[i]}`, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, keys.length) }, worker));
  return sizes;
}

/**
 * The objects `keys` (already in CLP's order) at the job's S3 location: the
 * URLs clp-s reads them from (CLP's rule, so a job CLP could not read fails
 * here too), and reads through the job's own endpoint for text conversion.
 * `sizes` come from ingested_s3_object_metadata; without them each key is HEADed.
 */
export async function s3Inputs(
  loc: S3Location,
  keys: string[],
  options: S3InputOptions,
  sizes?: number[],
  signal?: AbortSignal,
): Promise<JobInputs> {
  const s3: S3Client = createJobS3Client(s3Target(loc, options.aws, options.allowAws));
  try {
    const urls = keys.map((key) => {
      try {
        return clpS3Url(loc.endpoint_url, loc.region_code, loc.bucket, key);
      } catch (err) {
        throw new JobRejectedError((err as Error).message);
      }
    });
    const known = sizes ?? (await headSizes(s3, loc.bucket, keys, signal));
    const files = keys.map((key, i): InputFile => ({
      clpPath: key,
      location: urls[i],
      source: `s3://${loc.bucket}/${key}`,
      size: known[i],
      read: (sig) =>
        guarded(`s3://${loc.bucket}/${key}`, async () => {
          const res = await s3.send(new GetObjectCommand({ Bucket: loc.bucket, Key: key }), {
            abortSignal: sig,
          });
          return res.Body as Readable;
        }),
    }));
    const s3Credentials = async () => {
      const c = await s3.config.credentials();
      return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken };
    };
    return { files, s3Credentials, close: () => s3.destroy() };
  } catch (err) {
    s3.destroy();
    throw err;
  }
}

export interface ObjectMetadataRow {
  id: number;
  key: string;
  size: number;
}

/** CLP head's scheduler query for an s3_object_metadata job, verbatim. */
export async function queryObjectMetadata(
  db: Db,
  input: S3ObjectMetadataJobInput,
): Promise<ObjectMetadataRow[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT id, \`key\`, size FROM ${TABLES.clpObjectMetadata} WHERE id IN (?) AND ingestion_job_id = ?`,
    [input.s3_object_metadata_ids, input.ingestion_job_id],
  );
  return rows.map((r) => ({ id: Number(r.id), key: String(r.key), size: Number(r.size) }));
}

/**
 * CLP's rules on what the query returned: every id, and every key under
 * key_prefix, or the whole job fails. Returns the keys in CLP's order.
 */
export function checkObjectMetadata(
  input: S3ObjectMetadataJobInput,
  rows: ObjectMetadataRow[],
): { keys: string[]; sizes: number[] } {
  const found = new Set(rows.map((r) => r.id));
  const missing = input.s3_object_metadata_ids.filter((id) => !found.has(id));
  if (missing.length) {
    const shown =
      missing.slice(0, 20).join(', ') + (missing.length > 20 ? `, ... (${missing.length} in all)` : '');
    throw new JobRejectedError(
      `${TABLES.clpObjectMetadata} has no row for s3_object_metadata_ids ${shown} with ingestion_job_id ${input.ingestion_job_id}`,
    );
  }
  const outside = rows.find((r) => !r.key.startsWith(input.key_prefix));
  if (outside) {
    throw new JobRejectedError(
      `s3_object_metadata id ${outside.id}: key ${outside.key} does not start with key_prefix "${input.key_prefix}"`,
    );
  }
  const sorted = [...rows].sort((a, b) => compareCodePoints(a.key, b.key));
  return { keys: sorted.map((r) => r.key), sizes: sorted.map((r) => r.size) };
}

/**
 * A path as CLP's compression workers see it, mapped back to this host's: the
 * workers see host `/var/x.log` as `<mountRoot>/var/x.log`. Null when the path
 * is not under the mount root (the workers cannot see it). '' means no mapping.
 */
export function hostPathOf(clpPath: string, mountRoot: string): string | null {
  if (!path.posix.isAbsolute(clpPath)) return null;
  const p = path.posix.normalize(clpPath);
  if (!mountRoot) return p;
  if (p === mountRoot || p === `${mountRoot}/`) return '/';
  return p.startsWith(`${mountRoot}/`) ? p.slice(mountRoot.length) : null;
}

interface Found {
  hostPath: string;
  clpPath: string;
  size: number;
}

/** Regular files under `p` (itself, or everything below it, in name order); symlinked directories are not followed. */
async function walk(hostPath: string, clpPath: string, out: Found[], top: boolean): Promise<void> {
  let st: Stats;
  let entries: string[] = [];
  try {
    st = await lstat(hostPath);
    if (st.isSymbolicLink()) st = await stat(hostPath);
    else if (st.isDirectory()) entries = (await readdir(hostPath)).sort();
  } catch (err) {
    if (top && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new JobRejectedError(`${clpPath} does not exist`);
    }
    throw new InputError(clpPath, err);
  }
  if (st.isFile()) out.push({ hostPath, clpPath, size: st.size });
  for (const e of entries) await walk(path.join(hostPath, e), path.posix.join(clpPath, e), out, false);
}

/**
 * The files of an `fs` job. Its paths are as CLP's workers see them (under
 * `mountRoot`); a path they could not see fails the job as it would in CLP.
 * Files are read from this host, and stored under the same names as CLP's.
 */
export async function fsInputs(input: FsJobInput, mountRoot: string): Promise<JobInputs> {
  const found: Found[] = [];
  for (const p of input.paths_to_compress) {
    const host = hostPathOf(p, mountRoot);
    if (host === null) throw new JobRejectedError(`${p} does not exist`);
    await walk(host, p, found, true);
  }
  if (found.length === 0) throw new InputError(input.paths_to_compress.join(', '), 'no files to compress');
  const files = found.map((f): InputFile => ({
    clpPath: f.clpPath,
    location: f.hostPath,
    source: f.clpPath,
    size: f.size,
    read: (signal) => guarded(f.clpPath, async () => createReadStream(f.hostPath, { signal })),
  }));
  return { files, close: () => undefined };
}
