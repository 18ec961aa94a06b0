/**
 * A compression job's inputs as streams: objects in S3 or files on local disk.
 * Every failure to read one is an InputError naming it (s3://bucket/key or the
 * path) and the reason (NoSuchKey, AccessDenied, ENOENT...), because that is
 * what the job's status_msg must tell an operator.
 */
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../aws';
import type { AwsSettings } from '../config/settings';
import type { FsJobInput, S3JobInput } from './clp-job-config';

export interface InputFile {
  /** The name the archive stores it under. */
  name: string;
  /** Where it is read from, as an operator would write it. */
  source: string;
  /** Size known before reading (local files); S3 sizes are learnt while streaming. */
  knownSize?: number;
  /** The file's bytes; errors are InputErrors. */
  read(signal?: AbortSignal): AsyncIterable<Buffer>;
}

export interface JobInputs {
  files: InputFile[];
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

export function s3Inputs(input: S3JobInput, aws: AwsSettings): JobInputs {
  const auth = input.aws_authentication;
  // "credentials" jobs carry their own keys; "default" and "env_vars" use the
  // executor's own settings, which already come from the SDK's environment.
  const ownAws: AwsSettings =
    auth.type === 'credentials'
      ? {
          ...aws,
          credentials: {
            accessKeyId: auth.credentials.access_key_id,
            secretAccessKey: auth.credentials.secret_access_key,
            sessionToken: auth.credentials.session_token ?? undefined,
          },
        }
      : aws;
  const s3: S3Client = createS3Client(ownAws, {
    region: input.region_code ?? undefined,
    endpointUrl: input.endpoint_url ?? undefined,
  });
  const files = input.keys.map((key): InputFile => ({
    name: key,
    source: `s3://${input.bucket}/${key}`,
    read: (signal) =>
      guarded(`s3://${input.bucket}/${key}`, async () => {
        const res = await s3.send(new GetObjectCommand({ Bucket: input.bucket, Key: key }), {
          abortSignal: signal,
        });
        return res.Body as Readable;
      }),
  }));
  return { files, close: () => s3.destroy() };
}

/** The name stored for a local path: path_prefix_to_remove stripped, never absolute. */
export function storedName(filePath: string, prefix: string | null | undefined): string {
  let name = filePath;
  if (prefix && name.startsWith(prefix)) name = name.slice(prefix.length);
  name = name.replace(/^\/+/, '');
  return name || path.basename(filePath);
}

/** Regular files under `p` (itself, or everything below it, in name order); symlinked directories are not followed. */
async function walk(p: string, out: { path: string; size: number }[]): Promise<void> {
  let st: Stats;
  let entries: string[] = [];
  try {
    st = await lstat(p);
    if (st.isSymbolicLink()) st = await stat(p);
    else if (st.isDirectory()) entries = (await readdir(p)).sort();
  } catch (err) {
    throw new InputError(p, err);
  }
  if (st.isFile()) out.push({ path: p, size: st.size });
  for (const e of entries) await walk(path.join(p, e), out);
}

export async function fsInputs(input: FsJobInput): Promise<JobInputs> {
  const found: { path: string; size: number }[] = [];
  for (const p of input.paths_to_compress) await walk(p, found);
  if (found.length === 0) throw new InputError(input.paths_to_compress.join(', '), 'no files to compress');
  const files = found.map((f): InputFile => ({
    name: storedName(f.path, input.path_prefix_to_remove),
    source: f.path,
    knownSize: f.size,
    read: (signal) => guarded(f.path, async () => createReadStream(f.path, { signal })),
  }));
  return { files, close: () => undefined };
}
