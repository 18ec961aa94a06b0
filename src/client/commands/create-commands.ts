/** create-<kind>: one command per job kind, its flags named after CLP's config fields. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidConfigError, type JobKind } from '../../config/job-config';
import { createJob } from '../jobs';
import { num, print, withCtx } from './context';

/** A file's text, or stdin's for "-"; errors name the flag. */
function readInput(flag: string, path: string): string {
  try {
    return path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidConfigError(`${flag} ${path}: ${(err as Error).message}`);
  }
}

function readConfigFile(path: string): unknown {
  const text = readInput('--config', path);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidConfigError(`--config ${path}: ${(err as Error).message}`);
  }
}

/** One URL a line; blank lines and lines starting with # are skipped. */
function readUrlsFile(path: string): string[] {
  return readInput('--urls-file', path)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

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

export function addCreateCommands(program: Command): void {
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
}
