/**
 * Every environment variable a process of ours reads, declared once: its name,
 * type and bounds (a zod schema), default, the processes that read it and what
 * it does. Processes read settings only through readSettings() (or
 * loadSettings() in settings.ts, which shapes the parsed values), so a bad
 * value stops a process with one line naming the variable.
 *
 * docs/configuration.md's settings tables are generated from this
 * (`npm run docs:settings`), and a unit test fails when they disagree.
 *
 * Secrets (`secret: true`) are read like any other setting and never logged;
 * an error about one names the variable, never its value.
 */
import { z } from 'zod';
import { AWS_AUTH_TYPES, CLP_RELEASES, S3_INPUT_TYPES } from '../clp/compat';
import { SettingsError } from './settings-error';

/** The processes that read settings. */
export const PROCESSES = ['worker', 'executor', 'api', 'cli', 'demo'] as const;
export type Process = (typeof PROCESSES)[number];

export interface SettingSpec<T extends z.ZodType = z.ZodType> {
  /** Validation, and the default when the variable is unset. */
  type: T;
  /** Which processes read it. */
  readBy: readonly Process[];
  /** One line: what it does. */
  description: string;
  /** Never logged, never in workflow inputs or history; the docs show no value. */
  secret?: true;
  /** For tests only: production never sets it. */
  testOnly?: true;
  /** The default when the code derives it from other settings (the schema's default is shown otherwise). */
  derivedDefault?: string;
  /** The type, where the schema cannot say it (a transform). */
  typeText?: string;
  /** Read by a library rather than our code. */
  via?: string;
}

/** Keeps each entry's zod type precise, so Env types every variable. */
function setting<T extends z.ZodType>(spec: SettingSpec<T>): SettingSpec<T> {
  return spec;
}

export const BOOL_VALUES = ['true', 'false', '1', '0', 'yes', 'no'] as const;
const port = z.coerce.number().int().min(1).max(65535);
const bool = z.enum(BOOL_VALUES).transform((v) => v === 'true' || v === '1' || v === 'yes');
/** A size in bytes. */
const bytes = (fallback: number) => z.coerce.number().int().positive().default(fallback);
/** An integer in [min, max]. */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const ALL = PROCESSES;
const DB_USERS = ['worker', 'executor', 'api', 'cli', 'demo'] as const;
const S3_USERS = ['worker', 'executor', 'api', 'cli', 'demo'] as const;
const TEMPORAL_USERS = ['worker', 'api', 'cli', 'demo'] as const;
const SEARCHERS = ['executor', 'api', 'cli'] as const;
const ENVCONFIG = '@temporalio/envconfig';

const general = {
  CLP_INGESTOR_ENV_FILE: setting({
    type: z.string().optional(),
    readBy: ALL,
    description: 'an env file to load first; variables already set win',
  }),
  CLP_INGESTOR_LOG_LEVEL: setting({
    type: z
      .preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(LOG_LEVELS))
      .default('info'),
    typeText: 'trace, debug, info, warn or error (any case)',
    readBy: ['worker', 'executor', 'api'],
    description: "the least severe log line written (our lines, the Temporal SDK's and the REST API's)",
  }),
  CLP_INGESTOR_DEPENDENCY_WAIT_SEC: setting({
    type: int(0, 31_536_000).default(0),
    readBy: ['worker', 'executor'],
    description: 'how long to wait for Temporal and the CLP DB before exiting with status 1; 0: forever',
  }),
  CLP_INGESTOR_HEAP_GROWING_PERCENT: setting({
    type: int(0, 1000).default(50),
    readBy: ['worker'],
    description:
      "how far (%) the worker's old generation may grow past its live size before V8's next full GC; lower: less memory, more CPU; 0: V8's own heuristic (docs/operations.md, Worker memory)",
  }),
  CLP_INGESTOR_METRICS_ADDRESS: setting({
    type: z.string().optional(),
    typeText: 'host:port',
    readBy: ['worker'],
    description: 'where the worker serves Prometheus metrics; unset or empty: nowhere',
  }),
  CLP_EXECUTOR_METRICS_ADDRESS: setting({
    type: z.string().optional(),
    typeText: 'host:port',
    readBy: ['executor'],
    description: 'where the executor serves Prometheus metrics; unset or empty: nowhere',
  }),
};

const temporal = {
  CLP_INGESTOR_TASK_QUEUE: setting({
    type: z.string().min(1).default('clp-ingestor'),
    readBy: TEMPORAL_USERS,
    description: 'the task queue of the job workflows',
  }),
  CLP_INGESTOR_WORKER_VERSIONING: setting({
    type: bool.default(true),
    typeText: 'true or false',
    readBy: ['worker'],
    description:
      'poll as one version of a Worker Deployment; a job run stays on the version it started on (docs/upgrades.md)',
  }),
  CLP_INGESTOR_DEPLOYMENT_NAME: setting({
    type: z.string().min(1).optional(),
    derivedDefault: 'the task queue',
    readBy: ['worker'],
    description: "the worker's Worker Deployment",
  }),
  CLP_INGESTOR_MAKE_CURRENT_WAIT_MS: setting({
    type: int(0, 3_600_000).default(60_000),
    readBy: ['worker'],
    description: "how long `worker-deployment make-current` waits for the new version's worker to poll",
  }),
  CLP_INGESTOR_BUILD_ID: setting({
    type: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, 'letters, digits, - and _ only')
      .optional(),
    derivedDefault: '`wf-` + a hash of the workflow bundle',
    readBy: ['worker'],
    description: "the worker's version; each workflow change is a new version by default",
  }),
  TEMPORAL_ADDRESS: setting({
    type: z.string().optional(),
    derivedDefault: '`localhost:7233`',
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: "the Temporal frontend's host:port",
  }),
  TEMPORAL_NAMESPACE: setting({
    type: z.string().optional(),
    derivedDefault: '`clp-ingestor`',
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: 'the namespace of the job workflows (one per CLP DB)',
  }),
  TEMPORAL_API_KEY: setting({
    type: z.string().optional(),
    secret: true,
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: 'a Temporal Cloud API key (turns TLS on)',
  }),
  TEMPORAL_TLS: setting({
    type: z.string().optional(),
    typeText: '`true` or `1` for on',
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: 'TLS to Temporal',
  }),
  TEMPORAL_TLS_CLIENT_CERT_PATH: setting({
    type: z.string().optional(),
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: "mTLS: the client certificate's file (or `_DATA`: the certificate itself)",
  }),
  TEMPORAL_TLS_CLIENT_CERT_DATA: setting({
    type: z.string().optional(),
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: 'mTLS: the client certificate, PEM',
  }),
  TEMPORAL_TLS_CLIENT_KEY_PATH: setting({
    type: z.string().optional(),
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: "mTLS: the client key's file",
  }),
  TEMPORAL_TLS_CLIENT_KEY_DATA: setting({
    type: z.string().optional(),
    secret: true,
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: 'mTLS: the client key, PEM',
  }),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: setting({
    type: z.string().optional(),
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: "the server CA certificate's file",
  }),
  TEMPORAL_TLS_SERVER_CA_CERT_DATA: setting({
    type: z.string().optional(),
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: 'the server CA certificate, PEM',
  }),
  TEMPORAL_TLS_SERVER_NAME: setting({
    type: z.string().optional(),
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: "the server name TLS checks the server's certificate against",
  }),
  TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: setting({
    type: z.string().optional(),
    typeText: '`true` or `1` for on',
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: "skip checking the server certificate's host name",
  }),
  TEMPORAL_CODEC_ENDPOINT: setting({
    type: z.string().optional(),
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: 'a remote payload codec endpoint',
  }),
  TEMPORAL_CODEC_AUTH: setting({
    type: z.string().optional(),
    secret: true,
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: "the codec endpoint's Authorization header",
  }),
  TEMPORAL_PROFILE: setting({
    type: z.string().optional(),
    derivedDefault: '`default`',
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: 'the profile to read from the TOML config file (`TEMPORAL_GRPC_META_*` add gRPC headers)',
  }),
  TEMPORAL_CONFIG_FILE: setting({
    type: z.string().optional(),
    derivedDefault: "the SDK's (`~/.config/temporalio/temporal.toml`)",
    readBy: TEMPORAL_USERS,
    via: ENVCONFIG,
    description: "the TOML file of Temporal's client profiles",
  }),
};

const db = {
  CLP_DB_HOST: setting({
    type: z.string().min(1).default('127.0.0.1'),
    readBy: DB_USERS,
    description: "the CLP DB's host (CLP's own variable names)",
  }),
  CLP_DB_PORT: setting({ type: port.default(3306), readBy: DB_USERS, description: "the CLP DB's port" }),
  CLP_DB_NAME: setting({
    type: z.string().min(1).default('clp-db'),
    readBy: DB_USERS,
    description: 'the CLP database',
  }),
  CLP_DB_USER: setting({
    type: z.string().min(1).default('clp-user'),
    readBy: DB_USERS,
    description: "the schema owner, which `clp-ingestor migrate` runs as; any role's user when it has none",
  }),
  CLP_DB_PASS: setting({
    type: z.string().default(''),
    secret: true,
    readBy: DB_USERS,
    description: "`CLP_DB_USER`'s password",
  }),
  CLP_DB_CONNECTION_LIMIT: setting({
    type: int(1, 1000).default(10),
    readBy: DB_USERS,
    description: "connections in each process's pool",
  }),
  CLP_DB_IDLE_TRANSACTION_TIMEOUT_SEC: setting({
    type: int(0, 86_400).default(20),
    readBy: DB_USERS,
    description:
      "MariaDB ends a transaction idle this long (a frozen process's), releasing its locks; 0: never",
  }),
  CLP_DB_WORKER_USER: setting({
    type: z.string().min(1).optional(),
    derivedDefault: '`CLP_DB_USER`',
    readBy: ['worker', 'cli', 'demo'],
    description: "the worker's least-privilege DB user (`migrate` grants to it)",
  }),
  CLP_DB_WORKER_PASS: setting({
    type: z.string().optional(),
    secret: true,
    derivedDefault: '`CLP_DB_PASS`',
    readBy: ['worker'],
    description: "`CLP_DB_WORKER_USER`'s password",
  }),
  CLP_DB_EXECUTOR_USER: setting({
    type: z.string().min(1).optional(),
    derivedDefault: '`CLP_DB_USER`',
    readBy: ['executor', 'cli', 'demo'],
    description: "the executor's least-privilege DB user (`migrate` grants to it)",
  }),
  CLP_DB_EXECUTOR_PASS: setting({
    type: z.string().optional(),
    secret: true,
    derivedDefault: '`CLP_DB_PASS`',
    readBy: ['executor'],
    description: "`CLP_DB_EXECUTOR_USER`'s password",
  }),
  CLP_DB_API_USER: setting({
    type: z.string().min(1).optional(),
    derivedDefault: '`CLP_DB_USER`',
    readBy: ['api', 'cli', 'demo'],
    description: "the REST API's and the CLI's least-privilege DB user (`migrate` grants to it)",
  }),
  CLP_DB_API_PASS: setting({
    type: z.string().optional(),
    secret: true,
    derivedDefault: '`CLP_DB_PASS`',
    readBy: ['api', 'cli', 'demo'],
    description: "`CLP_DB_API_USER`'s password",
  }),
  CLP_DB_GRANTEE_HOST: setting({
    type: z.string().min(1).default('%'),
    readBy: ['cli', 'demo'],
    description: "the host part of the accounts `migrate` grants to ('user'@'host')",
  }),
};

const clp = {
  CLP_COMPAT: setting({
    type: z.enum(CLP_RELEASES).default('head'),
    readBy: ['worker', 'executor'],
    description:
      'the CLP release line that runs the compression jobs: picks codec, S3 input type and auth types',
  }),
  CLP_CONFIG_CODEC: setting({
    type: z.string().optional(),
    typeText: 'none: refused when set',
    readBy: ALL,
    description: 'replaced by `CLP_COMPAT`; refused when set, so an old deployment notices',
  }),
  CLP_S3_INPUT_TYPE: setting({
    type: z.enum(S3_INPUT_TYPES).optional(),
    derivedDefault: "the release's (`s3_object_metadata` on head, else `s3`)",
    readBy: ['worker', 'executor'],
    description: 's3_object_metadata (file ids; head, 0.11+, the only type Spider takes) or s3 (key lists)',
  }),
  CLP_S3_AUTH_TYPE: setting({
    type: z.enum(AWS_AUTH_TYPES).default('default'),
    readBy: ['worker', 'executor'],
    description: "how compression jobs authenticate to S3 (CLP's aws_authentication.type)",
  }),
  CLP_S3_AUTH_PROFILE: setting({
    type: z.string().min(1).optional(),
    readBy: ['worker', 'executor'],
    description: 'the AWS profile name for `CLP_S3_AUTH_TYPE=profile`',
  }),
  CLP_FS_MOUNT_ROOT: setting({
    type: z
      .string()
      .refine(
        (p) => p === '' || (p.startsWith('/') && !p.endsWith('/')),
        'must be empty or an absolute path without a trailing /',
      )
      .default('/mnt/logs'),
    typeText: 'empty, or an absolute path without a trailing /',
    readBy: ['worker', 'executor'],
    description:
      "where CLP's compression workers see host files (host /a.log at /mnt/logs/a.log); empty: as they are",
  }),
  CLP_COMPRESSION_MAX_ATTEMPTS: setting({
    type: int(1, 100).default(3),
    readBy: ['worker'],
    description: 'compression jobs a file may go through when CLP kills them (KILLED); FAILED is final',
  }),
  CLP_MAX_FILES_PER_COMPRESSION_JOB: setting({
    type: int(1, 1_000_000).default(20_000),
    readBy: ['worker'],
    description: 'the most files one compression job carries (keeps clp_config small)',
  }),
  CLP_TARGET_ARCHIVE_SIZE: setting({
    type: bytes(256 * 1024 * 1024),
    readBy: ['worker'],
    description: "clp_config's output.target_archive_size, bytes",
  }),
  CLP_TARGET_DICTIONARIES_SIZE: setting({
    type: bytes(32 * 1024 * 1024),
    readBy: ['worker'],
    description: "clp_config's output.target_dictionaries_size, bytes",
  }),
  CLP_TARGET_ENCODED_FILE_SIZE: setting({
    type: bytes(256 * 1024 * 1024),
    readBy: ['worker'],
    description: "clp_config's output.target_encoded_file_size, bytes",
  }),
  CLP_TARGET_SEGMENT_SIZE: setting({
    type: bytes(256 * 1024 * 1024),
    readBy: ['worker'],
    description: "clp_config's output.target_segment_size, bytes",
  }),
  CLP_COMPRESSION_LEVEL: setting({
    type: int(1, 19).default(3),
    readBy: ['worker'],
    description: "clp_config's output.compression_level",
  }),
};

const aws = {
  AWS_REGION: setting({
    type: z.string().min(1).default('us-east-1'),
    readBy: S3_USERS,
    description: 'the AWS region of S3 and SQS when a job names none',
  }),
  AWS_ENDPOINT_URL: setting({
    type: z.string().url().optional(),
    derivedDefault: "AWS's",
    readBy: S3_USERS,
    description: 'a custom endpoint for S3 and SQS (MinIO, ...)',
  }),
  AWS_ENDPOINT_URL_S3: setting({
    type: z.string().url().optional(),
    derivedDefault: '`AWS_ENDPOINT_URL`',
    readBy: S3_USERS,
    description: 'a custom S3 endpoint',
  }),
  AWS_ENDPOINT_URL_SQS: setting({
    type: z.string().url().optional(),
    derivedDefault: '`AWS_ENDPOINT_URL`',
    readBy: ['worker', 'demo'],
    description: 'a custom SQS endpoint',
  }),
  AWS_ACCESS_KEY_ID: setting({
    type: z.string().optional(),
    derivedDefault: "the AWS SDK's credential chain",
    readBy: S3_USERS,
    description: 'the access key (with `AWS_SECRET_ACCESS_KEY`)',
  }),
  AWS_SECRET_ACCESS_KEY: setting({
    type: z.string().optional(),
    secret: true,
    readBy: S3_USERS,
    description: 'the secret key',
  }),
  AWS_SESSION_TOKEN: setting({
    type: z.string().optional(),
    secret: true,
    readBy: S3_USERS,
    description: 'a session token for temporary credentials',
  }),
  CLP_ALLOWED_ENDPOINTS: setting({
    type: z.string().optional(),
    typeText: 'comma-separated `scheme://host[:port]`, host may start with `*.`',
    derivedDefault: '`https://*.amazonaws.com,https://*.amazonaws.com.cn`',
    readBy: ['worker', 'api', 'cli'],
    description: "endpoints a job may name; the worker's own `AWS_ENDPOINT_URL*` always count",
  }),
  CLP_S3_FORCE_PATH_STYLE: setting({
    type: bool.optional(),
    derivedDefault: 'on with a custom S3 endpoint',
    readBy: S3_USERS,
    description: 'path-style S3 addressing (MinIO and most S3-compatible stores need it)',
  }),
  CLP_SQS_VISIBILITY_TIMEOUT_SEC: setting({
    type: int(2, 43_200).default(60),
    readBy: ['worker'],
    description: 'visibility of received SQS messages, extended at half of it while a batch is slow',
  }),
};

const executor = {
  CLP_ARCHIVE_DIR: setting({
    type: z.string().min(1).default('.stack/archives'),
    readBy: SEARCHERS,
    description: 'where archives are kept, `<dir>/<dataset>/<archive id>`, and staged (`<dir>/.staging`)',
  }),
  CLP_ARCHIVE_S3_BUCKET: setting({
    type: z.string().min(1).optional(),
    readBy: SEARCHERS,
    description: 'archives go to this S3 bucket instead, at `<prefix><dataset>/<archive id>`',
  }),
  CLP_ARCHIVE_S3_KEY_PREFIX: setting({
    type: z.string().default(''),
    readBy: SEARCHERS,
    description: "the archives' key prefix in `CLP_ARCHIVE_S3_BUCKET`",
  }),
  CLP_S_PATH: setting({
    type: z.string().min(1).optional(),
    derivedDefault: "the pinned wheel's, in `CLP_INGESTOR_TOOLS`",
    readBy: SEARCHERS,
    description: "CLP's clp-s binary",
  }),
  CLP_INGESTOR_TOOLS: setting({
    type: z.string().optional(),
    derivedDefault: '`~/.cache/clp-ingestor/bin`',
    readBy: SEARCHERS,
    description: 'the tool cache scripts/stack.sh installs clp-s into',
  }),
  CLP_INGESTOR_STACK_DIR: setting({
    type: z.string().optional(),
    derivedDefault: '`.stack` (in the checkout)',
    readBy: ['demo'],
    description: "the local stack's data directory; the demo ingests its logs/ folder",
  }),
  CLP_EXECUTOR_POLL_INTERVAL_MS: setting({
    type: int(10, 600_000).default(1_000),
    readBy: ['executor'],
    description: 'how often an idle executor looks for PENDING compression jobs',
  }),
  CLP_EXECUTOR_LEASE_MS: setting({
    type: int(300, 3_600_000).default(30_000),
    readBy: ['executor'],
    description: "how long a claimed job stays an executor's without renewal",
  }),
  CLP_EXECUTOR_ALLOW_AWS: setting({
    type: bool.default(true),
    readBy: ['executor'],
    description:
      'whether a job with a null endpoint_url may read AWS S3; false fails such jobs (local stacks)',
  }),
};

const api = {
  CLP_INGESTOR_HTTP_HOST: setting({
    type: z.string().min(1).default('127.0.0.1'),
    readBy: ['api'],
    description: 'the address the REST API and dashboard listen on',
  }),
  CLP_INGESTOR_HTTP_PORT: setting({ type: port.default(8080), readBy: ['api'], description: 'their port' }),
  CLP_INGESTOR_HTTP_BODY_LIMIT: setting({
    type: bytes(1024 * 1024),
    readBy: ['api'],
    description: 'larger request bodies are refused with 413',
  }),
  CLP_INGESTOR_TEMPORAL_UI_URL: setting({
    type: z.string().url().default('http://127.0.0.1:8233'),
    readBy: ['api'],
    description: "the Temporal Web UI, for the dashboard's links to each job's workflow",
  }),
  CLP_INGESTOR_API_READ_TOKENS: setting({
    type: z.string().optional(),
    typeText: 'comma-separated tokens, 16+ characters each',
    secret: true,
    readBy: ['api'],
    description: 'bearer tokens that may list and inspect; no token anywhere: auth is off',
  }),
  CLP_INGESTOR_API_OPERATOR_TOKENS: setting({
    type: z.string().optional(),
    typeText: 'comma-separated tokens, 16+ characters each',
    secret: true,
    readBy: ['api'],
    description: 'bearer tokens that may also create, pause, resume, stop and terminate',
  }),
  CLP_INGESTOR_API_TOKENS_FILE: setting({
    type: z.string().optional(),
    typeText: 'a path',
    readBy: ['api'],
    description:
      'a file of `read <token>` / `operator <token>` lines, or JSON `{"read": [...], "operator": [...]}`',
  }),
  CLP_INGESTOR_API_TOKEN: setting({
    type: z.string().min(1).optional(),
    secret: true,
    readBy: ['api'],
    description: 'one operator token (the older setting; no length rule)',
  }),
};

const demo = {
  DEMO_FILES: setting({
    type: int(1, 1_000_000).default(200),
    readBy: ['demo'],
    description: 'JSON log files uploaded',
  }),
  DEMO_TEXT_FILES: setting({
    type: int(0, 100_000).default(20),
    readBy: ['demo'],
    description: 'text log files written',
  }),
  DEMO_BUCKET: setting({
    type: z.string().min(1).default('clp-demo'),
    readBy: ['demo'],
    description: 'the bucket the JSON logs go to',
  }),
  DEMO_TEXT_DIR: setting({
    type: z.string().min(1).optional(),
    derivedDefault: '`.stack/demo-text-logs/<run>`',
    readBy: ['demo'],
    description: 'the directory the text logs go to',
  }),
  DEMO_DATASET: setting({
    type: z.string().min(1).default('demo'),
    readBy: ['demo'],
    description: "the JSON logs' dataset (the text logs': `<dataset>_text`)",
  }),
  DEMO_TIMEOUT_SEC: setting({
    type: int(1, 86_400).default(600),
    readBy: ['demo'],
    description: 'how long the demo waits for every file to be compressed',
  }),
};

/**
 * Fault hooks the crash tests set (test/fault); production sets none. They
 * are declared here because production code reads them.
 */
const faults = {
  CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE: setting({
    type: z.coerce.number().min(0).default(0),
    typeText: 'a number ≥ 0',
    testOnly: true,
    readBy: ['worker'],
    description:
      'read by the fault harness around the worker (test/support/fault-harness), never by the worker itself: SIGKILL between an SQS batch commit and its delete, every n-th batch (n ≥ 1) or with chance n',
  }),
  CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER: setting({
    type: bool.default(false),
    testOnly: true,
    readBy: ['worker'],
    description:
      "read by the fault harness around the worker, never by the worker itself: SIGKILL right after a workflow's job row commits, before the call returns",
  }),
  CLP_EXECUTOR_CRASH_AT: setting({
    type: z.string().min(1).optional(),
    typeText: 'a task step (src/executor/task-steps.ts)',
    testOnly: true,
    readBy: ['executor'],
    description:
      'read by the fault harness around the executor, never by the executor itself: SIGKILL at this step of a task',
  }),
};

/** The settings by subject, in the order the docs list them. */
export const SETTING_GROUPS = [
  ['General', general],
  ['Temporal', temporal],
  ['CLP DB', db],
  ['CLP compression jobs', clp],
  ['S3, SQS and endpoints', aws],
  ['Compression worker and search', executor],
  ['REST API', api],
  ['Demo', demo],
  ['Fault hooks (tests only)', faults],
] as const;

export const SETTINGS = {
  ...general,
  ...temporal,
  ...db,
  ...clp,
  ...aws,
  ...executor,
  ...api,
  ...demo,
  ...faults,
};
export type SettingName = keyof typeof SETTINGS;

type Shape = { [K in SettingName]: (typeof SETTINGS)[K]['type'] };

export const envSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([name, s]) => [name, s.type])) as Shape,
);

/** The parsed environment. */
export type Env = z.infer<typeof envSchema>;

/**
 * The named settings (all when `names` is omitted), parsed and defaulted;
 * throws SettingsError naming the first bad variable.
 */
export function readSettings(env: NodeJS.ProcessEnv): Env;
export function readSettings<K extends SettingName>(
  env: NodeJS.ProcessEnv,
  names: readonly K[],
): Pick<Env, K>;
export function readSettings(env: NodeJS.ProcessEnv, names?: readonly SettingName[]): Partial<Env> {
  const schema = names
    ? envSchema.pick(Object.fromEntries(names.map((n) => [n, true])) as Record<SettingName, true>)
    : envSchema;
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SettingsError(`invalid setting ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}
