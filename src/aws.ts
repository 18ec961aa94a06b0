/** AWS clients built from the worker's settings (never from workflow input). */
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from './config/settings';
import { createS3Lister, type S3Lister } from './s3-list';

export interface S3Target {
  region?: string;
  endpointUrl?: string;
}

/** The S3 endpoint and addressing for a job's target, falling back to the worker's. */
function s3Endpoint(aws: AwsSettings, target: S3Target): { endpoint?: string; forcePathStyle: boolean } {
  return {
    endpoint: target.endpointUrl ?? aws.s3Endpoint,
    forcePathStyle: target.endpointUrl ? true : aws.forcePathStyle,
  };
}

/** An S3 client for a job's region and endpoint, falling back to the worker's. */
export function createS3Client(aws: AwsSettings, target: S3Target = {}): S3Client {
  return new S3Client({
    region: target.region ?? aws.region,
    ...s3Endpoint(aws, target),
    credentials: aws.credentials,
    maxAttempts: 3,
  });
}

/** The scanner's lean ListObjectsV2 for `client` (made by createS3Client for the same target). */
export function createS3ListerFor(client: S3Client, aws: AwsSettings, target: S3Target = {}): S3Lister {
  const { endpoint, forcePathStyle } = s3Endpoint(aws, target);
  return createS3Lister(client, endpoint, forcePathStyle);
}

/** AWS's own regional S3 endpoint (what CLP's workers reach when a job's endpoint_url is null). */
export function awsS3Endpoint(region: string): string {
  return `https://s3.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

export interface JobS3Target {
  region: string;
  /** The job's endpoint_url: the only endpoint used; null means AWS. */
  endpointUrl: string | null;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** An AWS profile (shared config/credentials files) to take credentials from. */
  profile?: string;
}

/**
 * An S3 client for a compression job, as CLP's workers build one: it uses
 * only the job's endpoint, never the process's own settings. The endpoint is
 * always explicit, because the SDK reads AWS_ENDPOINT_URL* (and a profile's
 * endpoint_url) whenever none is given.
 */
export function createJobS3Client(target: JobS3Target): S3Client {
  return new S3Client({
    region: target.region,
    endpoint: target.endpointUrl ?? awsS3Endpoint(target.region),
    forcePathStyle: target.endpointUrl !== null,
    credentials: target.credentials,
    profile: target.profile,
    maxAttempts: 3,
  });
}

export function createSqsClient(aws: AwsSettings, target: S3Target = {}): SQSClient {
  return new SQSClient({
    region: target.region ?? aws.region,
    endpoint: target.endpointUrl ?? aws.sqsEndpoint,
    credentials: aws.credentials,
    maxAttempts: 3,
  });
}
