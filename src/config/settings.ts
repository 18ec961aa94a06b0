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
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import {
  AWS_AUTH_TYPES,
  CLP_RELEASES,
  clpCompat,
  releaseName,
  S3_INPUT_TYPES,
  type AwsAuthType,
  type ClpCompat,
  type S3InputType,
} from '../clp/compat';
import { EndpointAllowList } from '../security/endpoints';

/** Loads the env file named by CLP_INGESTOR_ENV_FILE; variables already set win. */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env): void {
  const file = env.CLP_INGESTOR_ENV_FILE;
  if (!file) return;
  if (!existsSync(file)) throw new SettingsError(`CLP_INGESTOR_ENV_FILE: no such file: ${file}`);
  for (const [key, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) {
    if (env[key] === undefined) env[key] = value;
  }
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

const port = z.coerce.number().int().min(1).max(65535);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const schema = z.object({
  CLP_DB_HOST: z.string().min(1).default('127.0.0.1'),
  CLP_DB_PORT: port.default(3306),
  CLP_DB_NAME: z.string().min(1).default('clp-db'),
  CLP_DB_USER: z.string().min(1).default('clp-user'),
  CLP_DB_PASS: z.string().default(''),
  CLP_DB_CONNECTION_LIMIT: z.coerce.number().int().min(1).max(1000).default(10),
  /** MariaDB ends a transaction idle this long (a frozen process's), releasing its locks; 0: never. */
  CLP_DB_IDLE_TRANSACTION_TIMEOUT_SEC: z.coerce.number().int().min(0).max(86_400).default(20),
  /**
   * Least privilege: each process's own DB user (src/store/grants.ts), else
   * CLP_DB_USER. CLP_DB_USER is the schema owner that `migrate` runs as.
   */
  CLP_DB_WORKER_USER: z.string().min(1).optional(),
  CLP_DB_WORKER_PASS: z.string().optional(),
  CLP_DB_EXECUTOR_USER: z.string().min(1).optional(),
  CLP_DB_EXECUTOR_PASS: z.string().optional(),
  CLP_DB_API_USER: z.string().min(1).optional(),
  CLP_DB_API_PASS: z.string().optional(),
  /** The host part of the accounts `migrate` grants to ('user'@'host'). */
  CLP_DB_GRANTEE_HOST: z.string().min(1).default('%'),

  CLP_INGESTOR_TASK_QUEUE: z.string().min(1).default('clp-ingestor'),
  /** host:port where the worker serves Prometheus metrics; unset: none. */
  CLP_INGESTOR_METRICS_ADDRESS: z.string().optional(),
  /** host:port where the executor serves Prometheus metrics; unset: none. */
  CLP_EXECUTOR_METRICS_ADDRESS: z.string().optional(),
  /**
   * How long a worker or executor waits for Temporal and the CLP DB (at start,
   * or when it loses them) before it exits with status 1; 0 waits forever.
   */
  CLP_INGESTOR_DEPENDENCY_WAIT_SEC: z.coerce.number().int().min(0).max(31_536_000).default(0),
  /** The CLP release line that runs our compression jobs: picks codec, input type and auth types. */
  CLP_COMPAT: z.enum(CLP_RELEASES).default('head'),
  /** Replaced by CLP_COMPAT; refused when set, so an old deployment notices. */
  CLP_CONFIG_CODEC: z.string().optional(),
  /** s3_object_metadata (file ids; CLP head's default and Spider's only type) or s3 (key lists). */
  CLP_S3_INPUT_TYPE: z.enum(S3_INPUT_TYPES).optional(),
  /** How compression jobs authenticate to S3: CLP's aws_authentication.type. */
  CLP_S3_AUTH_TYPE: z.enum(AWS_AUTH_TYPES).default('default'),
  /** The AWS profile name for CLP_S3_AUTH_TYPE=profile. */
  CLP_S3_AUTH_PROFILE: z.string().min(1).optional(),
  /**
   * Where CLP's compression workers see the host's files: CLP's package mounts
   * host /var/log/a.log at /mnt/logs/var/log/a.log. Empty: CLP runs on this
   * host without containers and sees host paths as they are.
   */
  CLP_FS_MOUNT_ROOT: z
    .string()
    .refine(
      (p) => p === '' || (p.startsWith('/') && !p.endsWith('/')),
      'must be empty or an absolute path without a trailing /',
    )
    .default('/mnt/logs'),
  /** Compression jobs a file may go through when CLP kills them (KILLED, a cluster failure); FAILED is final. */
  CLP_COMPRESSION_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
  /** Upper bound on the files one compression job carries (keeps clp_config small). */
  CLP_MAX_FILES_PER_COMPRESSION_JOB: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
  CLP_TARGET_ARCHIVE_SIZE: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  CLP_TARGET_DICTIONARIES_SIZE: z.coerce
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
  CLP_TARGET_ENCODED_FILE_SIZE: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  CLP_TARGET_SEGMENT_SIZE: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  CLP_COMPRESSION_LEVEL: z.coerce.number().int().min(1).max(19).default(3),

  AWS_REGION: z.string().min(1).default('us-east-1'),
  AWS_ENDPOINT_URL: z.string().url().optional(),
  AWS_ENDPOINT_URL_S3: z.string().url().optional(),
  AWS_ENDPOINT_URL_SQS: z.string().url().optional(),
  /** Endpoints jobs may name (src/security/endpoints.ts); unset: AWS's own. The worker's own endpoints always count. */
  CLP_ALLOWED_ENDPOINTS: z.string().optional(),
  /** MinIO and most S3-compatible stores need path-style addressing. */
  CLP_S3_FORCE_PATH_STYLE: bool.optional(),
  /** SQS visibility timeout for received messages; extended at half of it while a batch is slow. */
  CLP_SQS_VISIBILITY_TIMEOUT_SEC: z.coerce.number().int().min(2).max(43_200).default(60),
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  AWS_SESSION_TOKEN: z.string().optional(),

  /** Where the compression executor publishes archives (one directory per archive). */
  CLP_ARCHIVE_DIR: z.string().min(1).optional(),
  /** How often an idle executor looks for PENDING compression jobs. */
  CLP_EXECUTOR_POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(600_000).default(1_000),
  /** How long a claimed job stays an executor's without renewal before another may take it over. */
  CLP_EXECUTOR_LEASE_MS: z.coerce.number().int().min(300).max(3_600_000).default(30_000),
  /** Test-only: caps how fast the executor reads each input, so a crash can be staged mid-archive. */
  CLP_EXECUTOR_THROTTLE_BYTES_PER_SEC: z.coerce.number().int().positive().optional(),
  /**
   * Whether the executor may read a job whose endpoint_url is null from AWS S3
   * (null means AWS, as in CLP). False fails such jobs without connecting
   * anywhere: tests and local stacks must never reach AWS.
   */
  CLP_EXECUTOR_ALLOW_AWS: bool.default(true),

  /** The REST API and dashboard (src/client/http). */
  CLP_INGESTOR_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  CLP_INGESTOR_HTTP_PORT: port.default(8080),
  /** When set, every route but /health needs `Authorization: Bearer <token>`. */
  CLP_INGESTOR_API_TOKEN: z.string().min(1).optional(),
  /** Larger request bodies are refused with 413. */
  CLP_INGESTOR_HTTP_BODY_LIMIT: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** The Temporal Web UI, for links from the dashboard to each job's workflow. */
  CLP_INGESTOR_TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
});

export interface DbSettings {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  connectionLimit: number;
  /** CLP_DB_IDLE_TRANSACTION_TIMEOUT_SEC (MariaDB only; 0 or absent: off). */
  idleTransactionTimeoutSec?: number;
}

export const DB_ROLES = ['worker', 'executor', 'api'] as const;
export type DbRole = (typeof DB_ROLES)[number];

export interface DbCredentials {
  user: string;
  password: string;
}

export interface AwsSettings {
  region: string;
  s3Endpoint?: string;
  sqsEndpoint?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** CLP_ALLOWED_ENDPOINTS with the endpoints above; unset: AWS's own and the endpoints above. */
  allowedEndpoints?: EndpointAllowList;
}

export interface ClpOutputSettings {
  target_archive_size: number;
  target_dictionaries_size: number;
  target_encoded_file_size: number;
  target_segment_size: number;
  compression_level: number;
}

export interface Settings {
  /** The schema owner's (CLP_DB_USER): migrations, and any role without a user of its own. */
  db: DbSettings;
  /** Each process's own DB user; dbFor() picks one. */
  dbRoles: Record<DbRole, DbCredentials>;
  /** CLP_DB_GRANTEE_HOST */
  dbGranteeHost: string;
  taskQueue: string;
  /** Where the worker and the executor serve Prometheus metrics (undefined: they do not). */
  metrics: { worker?: string; executor?: string };
  /** CLP_INGESTOR_DEPENDENCY_WAIT_SEC: 0 waits for Temporal and the DB forever. */
  dependencyWaitSec: number;
  aws: AwsSettings;
  clp: ClpSettings;
  maxFilesPerCompressionJob: number;
  sqsVisibilityTimeoutSec: number;
  clpOutput: ClpOutputSettings;
  executor: ExecutorSettings;
  http: HttpSettings;
}

export interface ClpSettings {
  compat: ClpCompat;
  s3InputType: S3InputType;
  authType: AwsAuthType;
  authProfile?: string;
  /** '' when CLP sees host paths as they are. */
  fsMountRoot: string;
  maxCompressionAttempts: number;
}

export interface ExecutorSettings {
  archiveDir: string;
  pollIntervalMs: number;
  leaseMs: number;
  throttleBytesPerSec?: number;
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
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SettingsError(`invalid setting ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
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
    db: {
      host: e.CLP_DB_HOST,
      port: e.CLP_DB_PORT,
      database: e.CLP_DB_NAME,
      user: e.CLP_DB_USER,
      password: e.CLP_DB_PASS,
      connectionLimit: e.CLP_DB_CONNECTION_LIMIT,
      idleTransactionTimeoutSec: e.CLP_DB_IDLE_TRANSACTION_TIMEOUT_SEC,
    },
    dbRoles: {
      worker: roleCredentials(e, e.CLP_DB_WORKER_USER, e.CLP_DB_WORKER_PASS, 'CLP_DB_WORKER'),
      executor: roleCredentials(e, e.CLP_DB_EXECUTOR_USER, e.CLP_DB_EXECUTOR_PASS, 'CLP_DB_EXECUTOR'),
      api: roleCredentials(e, e.CLP_DB_API_USER, e.CLP_DB_API_PASS, 'CLP_DB_API'),
    },
    dbGranteeHost: e.CLP_DB_GRANTEE_HOST,
    taskQueue: e.CLP_INGESTOR_TASK_QUEUE,
    metrics: {
      worker: metricsAddress(e.CLP_INGESTOR_METRICS_ADDRESS, 'CLP_INGESTOR_METRICS_ADDRESS'),
      executor: metricsAddress(e.CLP_EXECUTOR_METRICS_ADDRESS, 'CLP_EXECUTOR_METRICS_ADDRESS'),
    },
    dependencyWaitSec: e.CLP_INGESTOR_DEPENDENCY_WAIT_SEC,
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
    clpOutput: {
      target_archive_size: e.CLP_TARGET_ARCHIVE_SIZE,
      target_dictionaries_size: e.CLP_TARGET_DICTIONARIES_SIZE,
      target_encoded_file_size: e.CLP_TARGET_ENCODED_FILE_SIZE,
      target_segment_size: e.CLP_TARGET_SEGMENT_SIZE,
      compression_level: e.CLP_COMPRESSION_LEVEL,
    },
    executor: {
      archiveDir: path.resolve(process.cwd(), e.CLP_ARCHIVE_DIR ?? '.stack/archives'),
      pollIntervalMs: e.CLP_EXECUTOR_POLL_INTERVAL_MS,
      leaseMs: e.CLP_EXECUTOR_LEASE_MS,
      throttleBytesPerSec: e.CLP_EXECUTOR_THROTTLE_BYTES_PER_SEC,
      allowAws: e.CLP_EXECUTOR_ALLOW_AWS,
    },
    http: {
      host: e.CLP_INGESTOR_HTTP_HOST,
      port: e.CLP_INGESTOR_HTTP_PORT,
      apiToken: e.CLP_INGESTOR_API_TOKEN,
      bodyLimit: e.CLP_INGESTOR_HTTP_BODY_LIMIT,
      temporalUiUrl: e.CLP_INGESTOR_TEMPORAL_UI_URL.replace(/\/+$/, ''),
    },
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

function roleCredentials(
  e: z.infer<typeof schema>,
  user: string | undefined,
  password: string | undefined,
  name: string,
): DbCredentials {
  if (user === undefined) {
    if (password !== undefined) {
      throw new SettingsError(`invalid setting ${name}_PASS: set ${name}_USER too, or neither`);
    }
    return { user: e.CLP_DB_USER, password: e.CLP_DB_PASS };
  }
  return { user, password: password ?? '' };
}

/** The DB settings a process in `role` connects with: its own user when configured. */
export function dbFor(settings: Pick<Settings, 'db' | 'dbRoles'>, role: DbRole): DbSettings {
  return { ...settings.db, ...settings.dbRoles[role] };
}

function allowedEndpoints(e: z.infer<typeof schema>): EndpointAllowList {
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

/** The CLP release line's rules, checked together: a job CLP would refuse is refused here, at start-up. */
function clpSettings(e: z.infer<typeof schema>, haveCredentials: boolean): ClpSettings {
  const compat = clpCompat(e.CLP_COMPAT);
  const release = releaseName(compat.release);
  if (e.CLP_CONFIG_CODEC !== undefined) {
    throw new SettingsError(
      `invalid setting CLP_CONFIG_CODEC: replaced by CLP_COMPAT (${release} uses ${compat.codec}); unset it`,
    );
  }
  const s3InputType = e.CLP_S3_INPUT_TYPE ?? compat.s3InputTypes[0];
  if (!compat.s3InputTypes.includes(s3InputType)) {
    throw new SettingsError(
      `invalid setting CLP_S3_INPUT_TYPE: ${release} (CLP_COMPAT=${compat.release}) has no "${s3InputType}" input; use ${compat.s3InputTypes.join(' or ')}`,
    );
  }
  const authType = e.CLP_S3_AUTH_TYPE;
  if (!compat.authTypes.includes(authType)) {
    throw new SettingsError(
      `invalid setting CLP_S3_AUTH_TYPE: ${release} (CLP_COMPAT=${compat.release}) does not know "${authType}" authentication; use ${compat.authTypes.join(', ')}`,
    );
  }
  if (authType === 'credentials' && !haveCredentials) {
    throw new SettingsError(
      'invalid setting CLP_S3_AUTH_TYPE: "credentials" needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  if (authType === 'profile' && !e.CLP_S3_AUTH_PROFILE) {
    throw new SettingsError(
      'invalid setting CLP_S3_AUTH_PROFILE: required when CLP_S3_AUTH_TYPE is "profile"',
    );
  }
  return {
    compat,
    s3InputType,
    authType,
    authProfile: e.CLP_S3_AUTH_PROFILE,
    fsMountRoot: e.CLP_FS_MOUNT_ROOT,
    maxCompressionAttempts: e.CLP_COMPRESSION_MAX_ATTEMPTS,
  };
}
