/** AWS clients built from the worker's settings (never from workflow input). */
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from './config/settings';

export interface S3Target {
  region?: string;
  endpointUrl?: string;
}

/** An S3 client for a job's region and endpoint, falling back to the worker's. */
export function createS3Client(aws: AwsSettings, target: S3Target = {}): S3Client {
  const endpoint = target.endpointUrl ?? aws.s3Endpoint;
  return new S3Client({
    region: target.region ?? aws.region,
    endpoint,
    forcePathStyle: target.endpointUrl ? true : aws.forcePathStyle,
    credentials: aws.credentials,
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
