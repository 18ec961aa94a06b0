/** create-<kind>: one command per job kind, its flags named after CLP's config fields. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidConfigError, JOB_KINDS, type JobKind } from '../../config/job-config';
import type { CliFlag } from '../../sources/definition';
import { SOURCE_DEFINITIONS } from '../../sources/definitions';
import { createJob } from '../../job-control';
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

/** Flags for the common config fields and the kind's own (`fields`: flag key → config field); a --config file supplies the rest (flags win). */
function configFromFlags(
  o: Record<string, unknown>,
  fields: Record<string, string>,
): Record<string, unknown> {
  const base = (o.config ? readConfigFile(String(o.config)) : {}) as Record<string, unknown>;
  const cfg: Record<string, unknown> = { ...base };
  const map: Record<string, string> = {
    dataset: 'dataset',
    timestampKey: 'timestamp_key',
    unstructured: 'unstructured',
    ...fields,
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

/** The key commander stores a flag's value under: `--endpoint-url <url>` → endpointUrl. */
function optionKey(option: string): string {
  const long = option
    .split(/[ ,]/)
    .find((p) => p.startsWith('--'))!
    .slice(2);
  return long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function addCreate(program: Command, kind: JobKind): void {
  const { describe, flags } = SOURCE_DEFINITIONS[kind].cli;
  const fields: Record<string, string> = {};
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
  for (const f of flags as CliFlag[]) {
    const name = f.option.split(' ')[0];
    if (f.numeric) cmd.option(f.option, f.description, num(name));
    else cmd.option(f.option, f.description);
    if (f.field) fields[optionKey(f.option)] = f.field;
  }
  cmd.action(async (o) =>
    withCtx(async (ctx) => {
      const id = await createJob(ctx.store, await ctx.client(), kind, configFromFlags(o, fields), {
        taskQueue: ctx.settings.taskQueue,
        allowedEndpoints: ctx.settings.aws.allowedEndpoints,
      });
      print(o.json, { id }, () => String(id));
    }),
  );
}

/** create-<kind>, one per job kind, with the flags its definition names (src/sources/<kind>/config.ts). */
export function addCreateCommands(program: Command): void {
  for (const kind of JOB_KINDS) addCreate(program, kind);
}
