/**
 * The input part of CLP's compression-job config, in the shape the
 * configured CLP release decodes: the helpers each job kind's worker half
 * (src/sources/<kind>/worker.ts) builds its input with.
 */
import type { AwsAuthentication, ClpConfig } from '../clp/clp-config';
import type { JobConfig } from '../config/job-config';
import type { Settings } from '../config/settings';
import { allowListOf, checkJobEndpoints, refuseNonRetryably } from '../security/endpoints';
import type { FileToCompress } from '../store/ingestion-store';

export type ClpInput = ClpConfig['input'];

function awsAuthentication(settings: Settings): AwsAuthentication {
  const { authType, authProfile } = settings.clp;
  const creds = settings.aws.credentials;
  switch (authType) {
    case 'credentials':
      // settings validation guarantees credentials for this type
      return {
        type: 'credentials',
        credentials: {
          access_key_id: creds!.accessKeyId,
          secret_access_key: creds!.secretAccessKey,
          ...(creds!.sessionToken ? { session_token: creds!.sessionToken } : {}),
        },
      };
    case 'profile':
      return { type: 'profile', profile: authProfile! };
    case 'env_vars':
    case 'default':
      return { type: authType };
  }
}

/** A host path as CLP's compression workers see it: under the mount root of CLP's package. */
export function clpPath(hostPath: string, mountRoot: string): string {
  return mountRoot ? `${mountRoot}${hostPath}` : hostPath;
}

/** The longest prefix common to all of `strings`. */
export function commonPrefix(strings: string[]): string {
  let p = strings[0] ?? '';
  for (const s of strings) while (!s.startsWith(p)) p = p.slice(0, -1);
  return p;
}

/**
 * An S3 job's input. Every S3 job names the endpoint the ingestor itself
 * listed the objects with, because CLP uses only what the job says (null
 * means AWS); the region only for AWS (region_code is null with a custom
 * endpoint, see clpS3Url). A job's endpoint_url outside the endpoint
 * allow-list fails non-retryably: CLP never gets sent there. `where` names
 * the one bucket and key prefix the compression job reads (a CLP S3 job
 * reads one bucket, and every key must start with its key_prefix).
 */
export function s3ClpInput(
  jobId: number,
  job: Exclude<JobConfig, { kind: 'fs' }>,
  files: FileToCompress[],
  settings: Settings,
  where: (files: FileToCompress[]) => { bucket: string; keyPrefix: string },
): ClpInput {
  const c = job.config;
  refuseNonRetryably(() => checkJobEndpoints(job, allowListOf(settings.aws)));
  const { bucket, keyPrefix } = where(files);
  const endpointUrl = c.endpoint_url ?? settings.aws.s3Endpoint ?? null;
  const base = {
    bucket,
    // CLP's workers build each object's URL from these two fields (clpS3Url):
    // with a custom endpoint a region_code becomes part of the host name
    // (http://us-east-1.127.0.0.1:9000/...), so it is null there. CLP's own
    // log-ingestor likewise writes only the job's own region, never a default.
    region_code: endpointUrl === null ? (c.region ?? settings.aws.region) : null,
    key_prefix: keyPrefix,
    endpoint_url: endpointUrl,
    aws_authentication: awsAuthentication(settings),
    dataset: c.dataset,
    timestamp_key: c.timestamp_key ?? null,
    unstructured: c.unstructured,
  };
  if (settings.clp.s3InputType === 's3_object_metadata') {
    return {
      type: 's3_object_metadata',
      ...base,
      ingestion_job_id: jobId,
      s3_object_metadata_ids: files.map((f) => f.id).sort((a, b) => a - b),
    };
  }
  const keys = files.map((f) => {
    if (f.key === null) throw new Error(`ingested file ${f.id} of an S3 job has no object key`);
    return f.key;
  });
  return { type: 's3', ...base, keys: keys.sort() };
}

/** The bucket and key prefix of a job that reads one of each. */
export const itsOwnLocation =
  (c: { bucket_name: string; key_prefix: string }) => (): { bucket: string; keyPrefix: string } => ({
    bucket: c.bucket_name,
    keyPrefix: c.key_prefix,
  });
