#!/usr/bin/env node
/**
 * clp-executor: `run` the compression executor until SIGINT/SIGTERM, `ls` an
 * archive's index, or `extract` one file from an archive byte for byte.
 * Settings come from the environment (and CLP_INGESTOR_ENV_FILE).
 */
import { Command, InvalidArgumentError } from 'commander';
import { dbFor, loadEnvFile, loadSettings } from '../config/settings';
import { dbClassifier, dbDependency, untilAvailable } from '../dependencies';
import { executorMetrics, noExecutorMetrics, prometheusMetrics } from '../metrics';
import { createPool } from '../store/db';
import { ensureSchema } from '../store/schema';
import {
  extractEntry,
  extractToFile,
  findEntry,
  readArchiveIndex,
  resolveArchiveDir,
} from './archive-reader';
import { runExecutor } from './executor';
import { createLogger } from './log';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function settings() {
  loadEnvFile();
  return loadSettings();
}

async function run(opts: { concurrency: number; pollIntervalMs?: number; leaseMs?: number }): Promise<void> {
  const s = settings();
  const log = createLogger();
  // The executor runs no Temporal worker; the SDK's Core runtime only serves its metrics (loaded
  // only then: it takes a second to load, and a slow start misses an early SIGTERM).
  const runtime = s.metrics.executor ? (await import('@temporalio/worker')).Runtime : undefined;
  runtime?.install({ telemetryOptions: prometheusMetrics(s.metrics.executor), shutdownSignals: [] });
  const metrics = runtime ? executorMetrics(runtime.instance().metricMeter) : noExecutorMetrics;
  const dbSettings = dbFor(s, 'executor');
  const pool = createPool(dbSettings);
  const controller = new AbortController();
  const stop = (signal: string) => {
    if (controller.signal.aborted) process.exit(130); // a second signal: stop now
    log.info('shutting down', { signal });
    controller.abort();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    // Started before the DB is up: wait for it (capped backoff, each wait logged).
    const db = dbDependency(s.db);
    await untilAvailable(() => ensureSchema(pool, dbSettings.user), dbClassifier(db), {
      timeoutMs: s.dependencyWaitSec * 1000,
      log,
      signal: controller.signal,
    });
    await runExecutor({
      settings: s,
      pool,
      signal: controller.signal,
      concurrency: opts.concurrency,
      pollIntervalMs: opts.pollIntervalMs,
      leaseMs: opts.leaseMs,
      logger: log,
      metrics,
    });
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    log.info('stopped before the executor started');
  } finally {
    await pool.end();
    // The metrics server would keep the process alive.
    await runtime?.instance().shutdown();
  }
}

async function ls(archive: string, opts: { json?: boolean }): Promise<void> {
  const dir = resolveArchiveDir(archive, settings().executor.archiveDir);
  const index = await readArchiveIndex(dir);
  if (opts.json) {
    process.stdout.write(JSON.stringify(index, null, 2) + '\n');
    return;
  }
  for (const f of index.files) {
    process.stdout.write(`${f.original_size}\t${f.length}\t${f.sha256}\t${f.name}\n`);
  }
}

async function extract(archive: string, name: string, opts: { out?: string }): Promise<void> {
  const dir = resolveArchiveDir(archive, settings().executor.archiveDir);
  const entry = findEntry(await readArchiveIndex(dir), name);
  if (!entry) throw new Error(`${name}: not in archive ${dir}`);
  if (opts.out) await extractToFile(dir, entry, opts.out);
  else await extractEntry(dir, entry, process.stdout, { end: false });
}

const program = new Command('clp-executor')
  .description('A CLP-compatible compression executor: runs compression_jobs into archives')
  .showHelpAfterError();

program
  .command('run')
  .description('claim and run PENDING compression jobs until SIGINT/SIGTERM')
  .option('--concurrency <n>', 'jobs to run at once', positiveInt, 1)
  .option('--poll-interval-ms <ms>', 'overrides CLP_EXECUTOR_POLL_INTERVAL_MS', positiveInt)
  .option('--lease-ms <ms>', 'overrides CLP_EXECUTOR_LEASE_MS', positiveInt)
  .action(run);

program
  .command('ls')
  .description("list an archive's files: original size, compressed length, sha256, name")
  .argument('<archive>', 'archive id (in CLP_ARCHIVE_DIR) or archive directory')
  .option('--json', 'print the whole index as JSON')
  .action(ls);

program
  .command('extract')
  .description('write one file of an archive, verified against its sha256')
  .argument('<archive>', 'archive id (in CLP_ARCHIVE_DIR) or archive directory')
  .argument('<file-name>', 'the name the file is stored under (see ls)')
  .option('--out <path>', 'write here instead of to stdout')
  .action(extract);

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`clp-executor: ${(err as Error).message ?? String(err)}\n`);
  process.exitCode = 1;
});
