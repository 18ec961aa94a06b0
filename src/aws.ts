/**
 * AWS clients built from the worker's settings (never from workflow input).
 *
 * A job's endpoint, region and queue URL are checked against the endpoint
 * allow-list here (and, for SQS, every command's QueueUrl). A client for a
 * refused target is never pointed at it: every request it is asked to make
 * fails, before anything connects, with a non-retryable failure naming the
 * field, whatever path the job's config came by. (The failure comes with the
 * first request, not from the factory, so an activity that makes its client
 * before its own clean-up is set up still cleans up.)
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsSettings } from './config/settings';
import { createS3Lister, type S3Lister } from './s3-list';
import { allowListOf, checkRegion, refuseNonRetryably } from './security/endpoints';

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

/** The non-retryable failure `check` ends in, or undefined when it passes. */
function refusalOf(check: () => void): ApplicationFailure | undefined {
  try {
    refuseNonRetryably(check);
    return undefined;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
}

/** Why a job's S3 endpoint (endpoint_url) and region may not be used, or undefined. */
function s3Refusal(aws: AwsSettings, target: S3Target): ApplicationFailure | undefined {
  return refusalOf(() => {
    checkRegion(target.region);
    if (target.endpointUrl !== undefined) allowListOf(aws).check('endpoint_url', target.endpointUrl);
  });
}

/** Makes every request of `client` fail with `refused` before it is built or sent. */
function refuseEveryCommand(client: S3Client | SQSClient, refused: ApplicationFailure): void {
  (client as S3Client).middlewareStack.add(
    () => async () => {
      throw refused;
    },
    { step: 'initialize', name: 'clpEndpointRefused', priority: 'high' },
  );
}

/** An S3 client for a job's region and endpoint, falling back to the worker's. */
export function createS3Client(aws: AwsSettings, target: S3Target = {}): S3Client {
  const refused = s3Refusal(aws, target);
  const client = new S3Client({
    region: refused ? aws.region : (target.region ?? aws.region),
    ...s3Endpoint(aws, refused ? {} : target),
    credentials: aws.credentials,
    maxAttempts: 3,
  });
  if (refused) refuseEveryCommand(client, refused);
  return client;
}

/** The scanner's lean ListObjectsV2 for `client` (made by createS3Client for the same target). */
export function createS3ListerFor(client: S3Client, aws: AwsSettings, target: S3Target = {}): S3Lister {
  const refused = s3Refusal(aws, target);
  if (refused)
    return async () => {
      throw refused;
    };
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

/**
 * An SQS client for a job's region and endpoint (taken from its queue_url),
 * falling back to the worker's. Every command's QueueUrl is checked against
 * the allow-list before it is sent: without an endpoint the SDK sends to the
 * QueueUrl's host.
 */
export function createSqsClient(aws: AwsSettings, target: S3Target = {}): SQSClient {
  const allowed = allowListOf(aws);
  const refused = refusalOf(() => {
    checkRegion(target.region);
    if (target.endpointUrl !== undefined) allowed.check('queue_url', target.endpointUrl);
  });
  const client = new SQSClient({
    region: refused ? aws.region : (target.region ?? aws.region),
    endpoint: refused ? aws.sqsEndpoint : (target.endpointUrl ?? aws.sqsEndpoint),
    credentials: aws.credentials,
    maxAttempts: 3,
  });
  if (refused) refuseEveryCommand(client, refused);
  client.middlewareStack.add(
    (next) => async (args) => {
      const queueUrl = (args.input as { QueueUrl?: unknown }).QueueUrl;
      if (typeof queueUrl === 'string') refuseNonRetryably(() => allowed.check('queue_url', queueUrl));
      return next(args);
    },
    { step: 'initialize', name: 'clpEndpointAllowList', priority: 'high' },
  );
  return client;
}
