/**
 * What each CLP release line accepts in a compression job: the clp_config
 * codec, the S3 input types and the aws_authentication types. One setting
 * (CLP_COMPAT) picks all three, so a combination CLP would refuse is refused
 * at start-up instead of failing every compression job later.
 *
 * Facts from CLP's source (job_orchestration/scheduler at each tag): HEAD
 * decodes zstd only and v0.9-v0.13 brotli only; the schedulers of HEAD and
 * v0.11-v0.13 take s3_object_metadata inputs (the same query of
 * ingested_s3_object_metadata), v0.9 and v0.10 only s3 and fs; the Spider
 * coordinator takes s3_object_metadata only; v0.9 and v0.10 know no `default`
 * authentication.
 */
export const CLP_RELEASES = ['head', '0.13', '0.12', '0.11', '0.10', '0.9'] as const;
export type ClpRelease = (typeof CLP_RELEASES)[number];

export type ClpConfigCodec = 'zstd' | 'brotli';
export const S3_INPUT_TYPES = ['s3_object_metadata', 's3'] as const;
export type S3InputType = (typeof S3_INPUT_TYPES)[number];
export const AWS_AUTH_TYPES = ['default', 'credentials', 'profile', 'env_vars'] as const;
export type AwsAuthType = (typeof AWS_AUTH_TYPES)[number];

export interface ClpCompat {
  release: ClpRelease;
  codec: ClpConfigCodec;
  /** Input types the release's scheduler accepts; the first is the default. */
  s3InputTypes: readonly S3InputType[];
  authTypes: readonly AwsAuthType[];
}

export function clpCompat(release: ClpRelease): ClpCompat {
  if (release === 'head') {
    return {
      release,
      codec: 'zstd',
      s3InputTypes: ['s3_object_metadata', 's3'],
      authTypes: ['default', 'credentials', 'profile', 'env_vars'],
    };
  }
  const old = release === '0.9' || release === '0.10';
  return {
    release,
    codec: 'brotli',
    // s3 stays the default on v0.11-v0.13, so a configuration that names only CLP_COMPAT submits what
    // it always has: s3_object_metadata also needs CLP's table name to be this ingestor's view, and
    // the worker refuses to start where CLP's own log-ingestor (shipped since v0.11) made that table.
    s3InputTypes: old ? ['s3'] : ['s3', 's3_object_metadata'],
    authTypes: old
      ? ['credentials', 'profile', 'env_vars']
      : ['default', 'credentials', 'profile', 'env_vars'],
  };
}

/** "CLP head" / "CLP v0.13", for messages. */
export function releaseName(release: ClpRelease): string {
  return release === 'head' ? 'CLP head' : `CLP v${release}`;
}
