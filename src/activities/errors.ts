/**
 * Which failures a job cannot get past by retrying. Everything else (network
 * glitches, a database or S3 briefly away) is retried with backoff forever.
 */
import { ApplicationFailure } from '@temporalio/activity';

export const NON_RECOVERABLE = 'NonRecoverableIngestionError';

const NON_RECOVERABLE_AWS_ERRORS = new Set([
  'NoSuchBucket',
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'AuthorizationHeaderMalformed',
  'PermanentRedirect',
  'InvalidToken',
  'ExpiredToken',
  'AWS.SimpleQueueService.NonExistentQueue',
  'QueueDoesNotExist',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
]);

export function nonRecoverable(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, NON_RECOVERABLE);
}

/** Rethrows an AWS error as non-recoverable when retrying cannot help. */
export function classifyAwsError(err: unknown, what: string): never {
  const e = err as {
    name?: string;
    Code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const code = e?.Code ?? e?.name ?? 'Error';
  if (NON_RECOVERABLE_AWS_ERRORS.has(code) || e?.$metadata?.httpStatusCode === 403) {
    throw nonRecoverable(`${what}: ${code}: ${e?.message ?? String(err)}`);
  }
  throw err;
}
