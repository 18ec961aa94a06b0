/**
 * Service settings from the environment, validated once at start-up.
 *
 * Names follow each ecosystem's conventions: CLP's CLP_DB_* for the database,
 * the AWS SDK's AWS_REGION / AWS_ENDPOINT_URL[_S3|_SQS] and credential chain,
 * and Temporal's TEMPORAL_* (read by @temporalio/envconfig, so TLS, API keys
 * and TOML profiles work the same as in every other Temporal SDK and the CLI).
 *
 * Secrets read here stay in the worker process: nothing in this module is ever
 * passed as a workflow argument.
 *
 * Importers use this module; its parts are the variables with their defaults,
 * bounds and readers (env-schema.ts, the one declaration of every setting), the env file (env.ts), the DB's settings
 * (db-settings.ts) and CLP's (clp-settings.ts).
 */
import path from 'node:path';
import { defaultClpSPath } from '../clp/clp-s';
import { EndpointAllowList } from '../security/endpoints';
import { clpOutputSettings, clpSettings, type ClpOutputSettings, type ClpSettings } from './clp-settings';
import { dbSettings, type DbCredentials, type DbRole, type DbSettings } from './db-settings';
import { SettingsError } from './env';
import { readSettings, type Env, type LogLevel } from './env-schema';

export { loadEnvFile, SettingsError } from './env';
export { readSettings } from './env-schema';
export { DB_ROLES, dbFor, type DbCredentials, type DbRole, type DbSettings } from './db-settings';
export type { ClpOutputSettings, ClpSettings } from './clp-settings';

export interface AwsSettings {
  region: string;
  s3Endpoint?: string;
  sqsEndpoint?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** CLP_ALLOWED_ENDPOINTS with the endpoints above; unset: AWS's own and the endpoints above. */
  allowedEndpoints?: EndpointAllowList;
}

export interface Settings {
  /** The schema owner's (CLP_DB_USER): migrations, and any role without a user of its own. */
  db: DbSettings;
  /** Each process's own DB user; dbFor() picks one. */
  dbRoles: Record<DbRole, DbCredentials>;
  /** CLP_DB_GRANTEE_HOST */
  dbGranteeHost: string;
  taskQueue: string;
  /** The worker's Worker Deployment (worker-deployment.ts). */
  deployment: DeploymentSettings;
  /** Where the worker and the executor serve Prometheus metrics (undefined: they do not). */
  metrics: { worker?: string; executor?: string };
  /** CLP_INGESTOR_DEPENDENCY_WAIT_SEC: 0 waits for Temporal and the DB forever. */
  dependencyWaitSec: number;
  /** CLP_INGESTOR_HEAP_GROWING_PERCENT (src/runtime.ts; 0: V8's own). */
  heapGrowingPercent: number;
  aws: AwsSettings;
  clp: ClpSettings;
  maxFilesPerCompressionJob: number;
  sqsVisibilityTimeoutSec: number;
  clpOutput: ClpOutputSettings;
  executor: ExecutorSettings;
  http: HttpSettings;
  /** CLP_INGESTOR_LOG_LEVEL, lower case. */
  logLevel: LogLevel;
}

export interface DeploymentSettings {
  /** CLP_INGESTOR_WORKER_VERSIONING */
  versioning: boolean;
  /** CLP_INGESTOR_DEPLOYMENT_NAME, else the task queue. */
  name: string;
  /** CLP_INGESTOR_BUILD_ID; undefined: a hash of the workflow bundle. */
  buildId?: string;
}

export interface ExecutorSettings {
  archiveDir: string;
  pollIntervalMs: number;
  leaseMs: number;
  /** clp-s (CLP_S_PATH). */
  clpS: string;
  /** CLP_ARCHIVE_S3_BUCKET / _KEY_PREFIX: archives go to S3 instead of archiveDir (staging stays local). */
  archiveS3?: { bucket: string; keyPrefix: string };
  /** CLP_EXECUTOR_ALLOW_AWS: a job with a null endpoint_url may read from AWS S3. */
  allowAws: boolean;
}

export interface HttpSettings {
  host: string;
  port: number;
  apiToken?: string;
  bodyLimit: number;
  temporalUiUrl: string;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const e = readSettings(env);
  const s3Endpoint = e.AWS_ENDPOINT_URL_S3 ?? e.AWS_ENDPOINT_URL;
  const credentials =
    e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: e.AWS_ACCESS_KEY_ID,
          secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
          sessionToken: e.AWS_SESSION_TOKEN,
        }
      : undefined;
  const clp = clpSettings(e, credentials !== undefined);
  return {
    ...dbSettings(e),
    taskQueue: e.CLP_INGESTOR_TASK_QUEUE,
    deployment: {
      versioning: e.CLP_INGESTOR_WORKER_VERSIONING,
      name: e.CLP_INGESTOR_DEPLOYMENT_NAME ?? e.CLP_INGESTOR_TASK_QUEUE,
      buildId: e.CLP_INGESTOR_BUILD_ID,
    },
    metrics: {
      worker: metricsAddress(e.CLP_INGESTOR_METRICS_ADDRESS, 'CLP_INGESTOR_METRICS_ADDRESS'),
      executor: metricsAddress(e.CLP_EXECUTOR_METRICS_ADDRESS, 'CLP_EXECUTOR_METRICS_ADDRESS'),
    },
    dependencyWaitSec: e.CLP_INGESTOR_DEPENDENCY_WAIT_SEC,
    heapGrowingPercent: e.CLP_INGESTOR_HEAP_GROWING_PERCENT,
    aws: {
      region: e.AWS_REGION,
      s3Endpoint,
      sqsEndpoint: e.AWS_ENDPOINT_URL_SQS ?? e.AWS_ENDPOINT_URL,
      forcePathStyle: e.CLP_S3_FORCE_PATH_STYLE ?? s3Endpoint !== undefined,
      credentials,
      allowedEndpoints: allowedEndpoints(e),
    },
    clp,
    maxFilesPerCompressionJob: e.CLP_MAX_FILES_PER_COMPRESSION_JOB,
    sqsVisibilityTimeoutSec: e.CLP_SQS_VISIBILITY_TIMEOUT_SEC,
    clpOutput: clpOutputSettings(e),
    executor: {
      archiveDir: path.resolve(process.cwd(), e.CLP_ARCHIVE_DIR),
      pollIntervalMs: e.CLP_EXECUTOR_POLL_INTERVAL_MS,
      leaseMs: e.CLP_EXECUTOR_LEASE_MS,
      clpS: e.CLP_S_PATH ?? defaultClpSPath(e.CLP_INGESTOR_TOOLS),
      archiveS3: e.CLP_ARCHIVE_S3_BUCKET
        ? { bucket: e.CLP_ARCHIVE_S3_BUCKET, keyPrefix: e.CLP_ARCHIVE_S3_KEY_PREFIX }
        : undefined,
      allowAws: e.CLP_EXECUTOR_ALLOW_AWS,
    },
    http: {
      host: e.CLP_INGESTOR_HTTP_HOST,
      port: e.CLP_INGESTOR_HTTP_PORT,
      apiToken: e.CLP_INGESTOR_API_TOKEN,
      bodyLimit: e.CLP_INGESTOR_HTTP_BODY_LIMIT,
      temporalUiUrl: e.CLP_INGESTOR_TEMPORAL_UI_URL.replace(/\/+$/, ''),
    },
    logLevel: e.CLP_INGESTOR_LOG_LEVEL,
  };
}

/** host:port, checked here: a metrics endpoint on a mistyped address would go unnoticed. */
function metricsAddress(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new SettingsError(
      `invalid setting ${name}: expected host:port (for example 127.0.0.1:9464), got "${value}"`,
    );
  }
  return value;
}

function allowedEndpoints(e: Env): EndpointAllowList {
  try {
    return EndpointAllowList.from(e.CLP_ALLOWED_ENDPOINTS, {
      AWS_ENDPOINT_URL: e.AWS_ENDPOINT_URL,
      AWS_ENDPOINT_URL_S3: e.AWS_ENDPOINT_URL_S3,
      AWS_ENDPOINT_URL_SQS: e.AWS_ENDPOINT_URL_SQS,
    });
  } catch (err) {
    throw new SettingsError(`invalid setting ${(err as Error).message}`);
  }
}
