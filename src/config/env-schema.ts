/**
 * Every environment variable the services read, with its default and bounds:
 * the one place to look a setting up. loadSettings (settings.ts) shapes the
 * parsed values for the code that uses them.
 */
import { z } from 'zod';
import { AWS_AUTH_TYPES, CLP_RELEASES, S3_INPUT_TYPES } from '../clp/compat';

const port = z.coerce.number().int().min(1).max(65535);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
/** A size in bytes. */
const bytes = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const envSchema = z.object({
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
  /**
   * Worker Versioning (docs/upgrades.md): the worker polls as one version of a Worker Deployment,
   * and a job's run stays on the version it started on. Off: the worker is unversioned.
   */
  CLP_INGESTOR_WORKER_VERSIONING: bool.default(true),
  /** The Worker Deployment's name; unset: the task queue's name (one deployment per task queue). */
  CLP_INGESTOR_DEPLOYMENT_NAME: z.string().min(1).optional(),
  /** The version's build id; unset: derived from the workflow bundle, so each workflow change is a new version. */
  CLP_INGESTOR_BUILD_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, 'letters, digits, - and _ only')
    .optional(),
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
  /** s3_object_metadata (file ids; CLP head's default, v0.11+, Spider's only type) or s3 (key lists). */
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
  CLP_TARGET_ARCHIVE_SIZE: bytes(256 * 1024 * 1024),
  CLP_TARGET_DICTIONARIES_SIZE: bytes(32 * 1024 * 1024),
  CLP_TARGET_ENCODED_FILE_SIZE: bytes(256 * 1024 * 1024),
  CLP_TARGET_SEGMENT_SIZE: bytes(256 * 1024 * 1024),
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

  /**
   * Where the compression worker keeps clp-s archives: `<dir>/<dataset>/<archive id>`
   * (CLP's archive_output.directory), and its staging area (`<dir>/.staging`).
   */
  CLP_ARCHIVE_DIR: z.string().min(1).optional(),
  /** Archives go to this S3 bucket instead, at `<prefix><dataset>/<archive id>` (CLP's S3 archive storage). */
  CLP_ARCHIVE_S3_BUCKET: z.string().min(1).optional(),
  CLP_ARCHIVE_S3_KEY_PREFIX: z.string().default(''),
  /** CLP's clp-s binary; default: the one scripts/stack.sh installs from the pinned yscope-clp-core wheel. */
  CLP_S_PATH: z.string().min(1).optional(),
  /** How often an idle executor looks for PENDING compression jobs. */
  CLP_EXECUTOR_POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(600_000).default(1_000),
  /** How long a claimed job stays an executor's without renewal before another may take it over. */
  CLP_EXECUTOR_LEASE_MS: z.coerce.number().int().min(300).max(3_600_000).default(30_000),
  /**
   * Test-only fault hook: the executor SIGKILLs itself at this step of a task
   * (src/executor/fault.ts names the steps), so tests can stage a crash at each.
   */
  CLP_EXECUTOR_CRASH_AT: z.string().min(1).optional(),
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
  CLP_INGESTOR_HTTP_BODY_LIMIT: bytes(1024 * 1024),
  /** The Temporal Web UI, for links from the dashboard to each job's workflow. */
  CLP_INGESTOR_TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
});

/** The parsed environment. */
export type Env = z.infer<typeof envSchema>;
