#!/usr/bin/env node
/**
 * clp-executor: `run` the compression worker (CLP's clp-s) until SIGINT/SIGTERM.
 * Settings come from the environment (and CLP_INGESTOR_ENV_FILE).
 */
import { Command, InvalidArgumentError } from 'commander';
import { dbFor, loadEnvFile, loadSettings } from '../config/settings';
import { dbClassifier, dbDependency, untilAvailable } from '../dependencies';
import { executorMetrics, noExecutorMetrics, prometheusMetrics } from '../metrics';
import { createPool } from '../store/db';
import { ensureSchema } from '../store/schema';
import { checkClpS } from '../clp/clp-s';
import { runExecutor, type ExecutorOptions } from './executor';
import { createLogger, logProcessEvents, sdkLogLevel, sdkLogRecord, stdoutSink } from '../common/log';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function settings() {
  loadEnvFile();
  return loadSettings();
}

interface RunOptions {
  concurrency: number;
  pollIntervalMs?: number;
  leaseMs?: number;
}

async function run(opts: RunOptions, hooks: ExecutorHooks): Promise<void> {
  const s = settings();
  const log = createLogger();
  logProcessEvents(log);
  // A missing or broken clp-s stops start-up with one line naming it (runExecutor checks again).
  await checkClpS(s.executor.clpS);
  // The executor runs no Temporal worker; the SDK's Core runtime only serves its metrics (loaded
  // only then: it takes a second to load, and a slow start misses an early SIGTERM).
  const sdk = s.metrics.executor ? await import('@temporalio/worker') : undefined;
  const runtime = sdk?.Runtime;
  runtime?.install({
    // The SDK's and Core's own lines as our JSON lines (as the worker's).
    logger: sdk && new sdk.DefaultLogger(sdkLogLevel(), (entry) => stdoutSink(sdkLogRecord(entry))),
    telemetryOptions: {
      logging: { filter: sdk!.makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...prometheusMetrics(s.metrics.executor),
    },
    shutdownSignals: [],
  });
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
      onTaskStep: hooks.onTaskStep,
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

/** What a test harness (test/support/fault-harness) adds to the production executor; production adds nothing. */
export type ExecutorHooks = Pick<ExecutorOptions, 'onTaskStep'>;

/** The clp-executor command line, run on this process's arguments. */
export function executorCli(hooks: ExecutorHooks = {}): void {
  const program = new Command('clp-executor')
    .description("A CLP compression worker: runs compression_jobs with CLP's clp-s into CLP archives")
    .showHelpAfterError();

  program
    .command('run')
    .description('claim and run PENDING compression jobs until SIGINT/SIGTERM')
    .option('--concurrency <n>', 'jobs to run at once', positiveInt, 1)
    .option('--poll-interval-ms <ms>', 'overrides CLP_EXECUTOR_POLL_INTERVAL_MS', positiveInt)
    .option('--lease-ms <ms>', 'overrides CLP_EXECUTOR_LEASE_MS', positiveInt)
    .action((opts: RunOptions) => run(opts, hooks));

  program.parseAsync().catch((err: unknown) => {
    // The reason it stops, as the last JSON line of its log (the supervisor's app-up shows it).
    createLogger().error(`clp-executor: ${(err as Error).message ?? String(err)}`);
    process.exitCode = 1;
  });
}

if (require.main === module) executorCli();
