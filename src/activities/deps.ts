/** What activities need from the worker process: settings, the store, AWS clients. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { S3Target } from '../aws';
import type { Settings } from '../config/settings';
import type { IngestorMetrics } from '../metrics';
import type { S3Lister } from '../s3-list';
import type { StoreRoles } from '../store/roles';

export interface ActivityDeps {
  settings: Settings;
  /** Every store role (an IngestionStore); each activity group is typed by the roles it uses. */
  store: StoreRoles;
  s3: (target: S3Target) => S3Client;
  /** ListObjectsV2 without the SDK's deserializer (src/s3-list.ts), for the scanner's hot path. */
  s3List: (target: S3Target) => S3Lister;
  sqs: (target: S3Target) => SQSClient;
  /** Prometheus metrics (src/metrics.ts); the store reports what it records itself. */
  metrics: IngestorMetrics;
}

/**
 * What one activity group needs: its store narrowed to the roles it uses (so
 * it can run against an in-memory fake of them) and the other deps it names.
 */
export type DepsWith<Roles, K extends Exclude<keyof ActivityDeps, 'store'> = never> = Pick<
  ActivityDeps,
  K
> & {
  store: Roles;
};
