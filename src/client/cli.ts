#!/usr/bin/env node
/**
 * clp-ingestor: create and control ingestion jobs, inspect their files.
 * Same configuration sources as the worker (environment, CLP_INGESTOR_ENV_FILE).
 * Errors are one line on stderr and a non-zero exit code.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { InvalidConfigError, jobSource, type JobKind } from '../config/job-config';
import {
  dbFor,
  loadEnvFile,
  loadSettings,
  SettingsError,
  type DbRole,
  type Settings,
} from '../config/settings';
import { CONTROL_REQUESTS } from '../lifecycle';
import { createPool } from '../store/db';
import {
  ConflictError,
  FILE_STATUSES,
  IngestionStore,
  JOB_STATUSES,
  NotFoundError,
  type FileStatus,
  type JobRow,
  type JobStatus,
} from '../store/ingestion-store';
import { account, applyGrants, configuredGrantees, DB_ROLES, grantStatements } from '../store/grants';
import { migrate } from '../store/schema';
import { controlJob, createJob, IllegalRequestError, queryProgress, reconcileJobs } from './jobs';
import { connectClient } from './temporal';

export const EXIT = { ok: 0, error: 1, usage: 2, notFound: 3, refused: 4 } as const;

interface Ctx {
  settings: Settings;
  store: IngestionStore;
  client(): Promise<Client>;
  close(): Promise<void>;
}

/** Runs a command as the API's DB user (CLP_DB_API_USER), or as the schema owner (CLP_DB_USER). */
async function withCtx<T>(fn: (ctx: Ctx) => Promise<T>, role: DbRole | 'owner' = 'api'): Promise<T> {
  loadEnvFile();
  const settings = loadSettings();
  const pool = createPool(role === 'owner' ? settings.db : dbFor(settings, role));
  let client: Client | undefined;
  const ctx: Ctx = {
    settings,
    store: new IngestionStore(pool),
    client: async () => (client ??= await connectClient()),
    close: async () => {
      await client?.connection.close();
      await pool.end();
    },
  };
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

function print(json: boolean, value: unknown, human: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : human());
}

function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)';
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(width[i]))
      .join('  ')
      .trimEnd();
  return [
    line(cols),
    line(width.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => String(r[c] ?? '')))),
  ].join('\n');
}

function jobSummary(j: JobRow) {
  const src = jobSource(j.config);
  return {
    id: j.id,
    kind: j.kind,
    status: j.status,
    dataset: j.dataset,
    source: src,
    ingested: j.numFilesIngested,
    compressed: j.numFilesCompressed,
    failed: j.numFilesFailed,
  };
}

function readConfigFile(path: string): unknown {
  try {
    return JSON.parse(path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InvalidConfigError(`--config ${path}: ${(err as Error).message}`);
  }
}

/** One URL a line; blank lines and lines starting with # are skipped. */
function readUrlsFile(path: string): string[] {
  let text: string;
  try {
    text = path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidConfigError(`--urls-file ${path}: ${(err as Error).message}`);
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidConfigError(`${name}: not a number: ${v}`);
  return n;
};

/** Flags for the common config fields; a --config file supplies the rest (flags win). */
function configFromFlags(o: Record<string, unknown>): Record<string, unknown> {
  const base = (o.config ? readConfigFile(String(o.config)) : {}) as Record<string, unknown>;
  const cfg: Record<string, unknown> = { ...base };
  const map: Record<string, string> = {
    bucket: 'bucket_name',
    prefix: 'key_prefix',
    region: 'region',
    endpointUrl: 'endpoint_url',
    dataset: 'dataset',
    timestampKey: 'timestamp_key',
    unstructured: 'unstructured',
    scanningIntervalSec: 'scanning_interval_sec',
    startAfter: 'start_after',
    queueUrl: 'queue_url',
    listeners: 'num_concurrent_listener_tasks',
    waitTimeSec: 'wait_time_sec',
    directory: 'directory',
    glob: 'glob',
    settleDelaySec: 'settle_delay_sec',
    oneTime: 'one_time',
  };
  for (const [flag, field] of Object.entries(map)) if (o[flag] !== undefined) cfg[field] = o[flag];
  const urls = [
    ...((o.url as string[] | undefined) ?? []),
    ...(o.urlsFile ? readUrlsFile(String(o.urlsFile)) : []),
  ];
  if (urls.length) cfg.urls = [...((base.urls as string[] | undefined) ?? []), ...urls];
  const buffer = { ...((base.buffer_config as object) ?? {}) } as Record<string, unknown>;
  if (o.flushThresholdBytes !== undefined) buffer.flush_threshold_bytes = o.flushThresholdBytes;
  if (o.timeoutSec !== undefined) buffer.timeout_sec = o.timeoutSec;
  if (Object.keys(buffer).length) cfg.buffer_config = buffer;
  return cfg;
}

function addCreate(program: Command, kind: JobKind, describe: string, flags: (c: Command) => Command): void {
  const cmd = program
    .command(`create-${kind.replace(/_/g, '-')}`)
    .description(`create ${describe}; prints the job id`)
    .option('--config <file>', 'JSON config with CLP log-ingestor field names (- for stdin)')
    .option('--dataset <name>', 'CLP dataset')
    .option('--timestamp-key <key>', 'timestamp key for JSON logs')
    .option('--unstructured', 'logs are unstructured text')
    .option(
      '--flush-threshold-bytes <n>',
      'buffer_config.flush_threshold_bytes',
      num('--flush-threshold-bytes'),
    )
    .option('--timeout-sec <n>', 'buffer_config.timeout_sec', num('--timeout-sec'))
    .option('--json', 'print JSON');
  flags(cmd).action(async (o) =>
    withCtx(async (ctx) => {
      const id = await createJob(ctx.store, await ctx.client(), kind, configFromFlags(o), {
        taskQueue: ctx.settings.taskQueue,
        allowedEndpoints: ctx.settings.aws.allowedEndpoints,
      });
      print(o.json, { id }, () => String(id));
    }),
  );
}

export function buildProgram(): Command {
  const program = new Command('clp-ingestor')
    .description('Fault-tolerant log ingestion into CLP, on Temporal')
    .showHelpAfterError()
    .exitOverride();

  const s3Flags = (c: Command) =>
    c
      .option('--bucket <name>', 'bucket_name')
      .option('--prefix <prefix>', 'key_prefix')
      .option('--region <region>', 'region')
      .option('--endpoint-url <url>', 'endpoint_url (S3-compatible stores)');
  addCreate(program, 's3_scanner', 'an S3-scanner ingestion job', (c) =>
    s3Flags(c)
      .option('--scanning-interval-sec <n>', 'scanning_interval_sec', num('--scanning-interval-sec'))
      .option('--start-after <key>', 'start_after')
      .option('--settle-delay-sec <n>', 'settle_delay_sec', num('--settle-delay-sec'))
      .option('--one-time', 'one_time: scan the prefix once, then finish'),
  );
  addCreate(program, 'sqs_listener', 'an SQS-listener ingestion job', (c) =>
    s3Flags(c)
      .option('--queue-url <url>', 'queue_url')
      .option('--listeners <n>', 'num_concurrent_listener_tasks', num('--listeners'))
      .option('--wait-time-sec <n>', 'wait_time_sec', num('--wait-time-sec')),
  );
  addCreate(program, 'fs', 'a local-directory ingestion job', (c) =>
    c
      .option('--directory <path>', 'directory (absolute)')
      .option('--glob <pattern>', 'only files matching this glob')
      .option('--scanning-interval-sec <n>', 'scanning_interval_sec', num('--scanning-interval-sec'))
      .option('--settle-delay-sec <n>', 'settle_delay_sec', num('--settle-delay-sec'))
      .option('--one-time', 'one_time: scan the directory once, then finish'),
  );
  addCreate(program, 's3_object_list', 'a one-time ingestion job of listed S3 objects', (c) =>
    c
      .option('--url <url...>', 'urls: s3://bucket/key or http(s)://endpoint/bucket/key (repeatable)')
      .option('--urls-file <file>', 'urls, one a line (- for stdin)')
      .option('--region <region>', 'region'),
  );

  program
    .command('list')
    .description('list ingestion jobs')
    .addOption(new Option('--status <status>', 'only jobs with this status').choices(JOB_STATUSES))
    .option('--dataset <name>', 'only jobs of this dataset')
    .option('--json', 'print JSON')
    .action(async (o) =>
      withCtx(async (ctx) => {
        const jobs = await ctx.store.listJobs({
          status: o.status ? [o.status as JobStatus] : undefined,
          dataset: o.dataset,
        });
        print(o.json, jobs, () => table(jobs.map(jobSummary)));
      }),
    );

  program
    .command('status <job>')
    .description(
      "a job's record and, while its workflow runs, its live progress (<job>: its id, or its workflow's id)",
    )
    .option('--json', 'print JSON')
    .action(async (id: string, o) =>
      withCtx(async (ctx) => {
        const job = /^\d+$/.test(id)
          ? await ctx.store.requireJob(parseId(id))
          : await ctx.store.requireJobOfWorkflow(id);
        const jobId = job.id;
        const files = await ctx.store.countFilesByStatus(jobId);
        const live = await queryProgress(await ctx.client(), job.workflowId);
        const out = { job, files, live, workflowId: job.workflowId };
        print(o.json, out, () =>
          [
            table([jobSummary(job)]),
            `files: ${FILE_STATUSES.map((s) => `${s} ${files[s]}`).join(', ')}`,
            job.errorMsg ? `error: ${job.errorMsg}` : '',
            live
              ? `live: ${live.status}${live.stopRequested ? ' (stopping)' : ''}, buffer ${live.buffer.files} files / ${live.buffer.bytes} bytes, ${live.outstandingCompressionJobs} compression jobs outstanding, run ${live.runs}`
              : 'live: no running workflow',
            `workflow: ${job.workflowId}`,
          ]
            .filter(Boolean)
            .join('\n'),
        );
      }),
    );

  for (const request of CONTROL_REQUESTS) {
    program
      .command(`${request} <job>`)
      .description(`${request} an ingestion job`)
      .action(async (id: string) =>
        withCtx(async (ctx) => {
          const p = await controlJob(ctx.store, await ctx.client(), parseId(id), request);
          console.log(
            request === 'stop' ? `job ${id} is stopping (draining its buffer)` : `job ${id} is ${p.status}`,
          );
        }),
      );
  }

  program
    .command('files <job>')
    .description("a job's files with their status and compression job id")
    .addOption(new Option('--status <status>', 'only files with this status').choices(FILE_STATUSES))
    .option('--limit <n>', 'at most this many', num('--limit'), 100)
    .option('--after <id>', 'files after this file id (paging)', num('--after'), 0)
    .option('--json', 'print JSON')
    .action(async (id: string, o) =>
      withCtx(async (ctx) => {
        const jobId = parseId(id);
        await ctx.store.requireJob(jobId);
        const files = await ctx.store.listFiles(jobId, {
          status: o.status as FileStatus | undefined,
          limit: o.limit,
          afterId: o.after,
        });
        print(o.json, files, () =>
          table(
            files.map((f) => ({
              id: f.id,
              status: f.status,
              compression_job: f.compressionJobId ?? '',
              // every attempt, when KILLED compression jobs were resubmitted
              attempts: f.compressionJobIds.length > 1 ? f.compressionJobIds.join(' > ') : '',
              size: f.size,
              path: f.path,
              error: f.error ?? '',
            })),
          ),
        );
      }),
    );

  program
    .command('migrate')
    .description(
      'create or upgrade the CLP DB tables as the schema owner (CLP_DB_USER), then grant the worker, executor and API users theirs (idempotent)',
    )
    .action(async () =>
      withCtx(async (ctx) => {
        const applied = await migrate(ctx.store.db);
        console.log(applied.length ? `applied migrations ${applied.join(', ')}` : 'schema up to date');
        const granted = await applyGrants(
          ctx.store.db,
          configuredGrantees(ctx.settings),
          ctx.settings.dbGranteeHost,
        );
        for (const g of granted) console.log(`granted ${g}`);
      }, 'owner'),
    );

  program
    .command('db-grants')
    .description('print the GRANT statements each role needs on the CLP DB (for a DBA)')
    .option('--role <role>', `only this role (${DB_ROLES.join(', ')})`)
    .option('--user <user>', "the grantee (default: the role's configured user)")
    .option('--host <host>', "the grantee's host part (default: CLP_DB_GRANTEE_HOST)")
    .action((o: { role?: string; user?: string; host?: string }) => {
      loadEnvFile();
      const settings = loadSettings();
      if (o.role !== undefined && !(DB_ROLES as readonly string[]).includes(o.role)) {
        throw new InvalidConfigError(`--role: must be one of ${DB_ROLES.join(', ')}`);
      }
      const roles = o.role ? [o.role as DbRole] : DB_ROLES;
      for (const role of roles) {
        const user = o.user ?? settings.dbRoles[role].user;
        const grantee = account(user, o.host ?? settings.dbGranteeHost);
        console.log(`-- ${role}`);
        for (const sql of grantStatements(role, settings.db.database, grantee)) console.log(`${sql};`);
      }
    });

  program
    .command('reconcile')
    .description('make Temporal agree with the DB: start missing workflows, drain hand-terminated jobs')
    .option('--json', 'print JSON')
    .action(async (o) =>
      withCtx(async (ctx) => {
        const report = await reconcileJobs(ctx.store, await ctx.client(), ctx.settings.taskQueue);
        print(
          o.json,
          report,
          () =>
            `checked ${report.checked} active jobs; started ${report.started.length ? report.started.join(', ') : 'none'}; draining ${report.drained.length ? report.drained.join(', ') : 'none'}`,
        );
      }),
    );

  return program;
}

function parseId(id: string): number {
  const n = Number(id);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidConfigError(`job id must be a positive integer, got "${id}"`);
  return n;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof NotFoundError) return EXIT.notFound;
  if (err instanceof ConflictError || err instanceof IllegalRequestError) return EXIT.refused;
  if (err instanceof InvalidConfigError || err instanceof SettingsError) return EXIT.usage;
  return EXIT.error;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code?.startsWith('commander.')) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    console.error(`clp-ingestor: ${e.message ?? String(err)}`);
    return exitCodeFor(err);
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => process.exit(code));
}
