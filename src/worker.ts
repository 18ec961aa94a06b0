/**
 * The worker: checks the CLP DB's schema (migrating it when its user may), reconciles jobs, then runs the ingestion-job
 * workflow and its activities. Run any number of these, on any number of
 * machines, against one Temporal cluster and one CLP DB.
 */
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  makeTelemetryFilterString,
} from '@temporalio/worker';
import { deploymentVersion, workerDeploymentOptions, workflowCode } from './worker-deployment';
import { createActivities, type Activities, type ActivityFaults } from './activities';
import { createS3Client, createS3ListerFor, createSqsClient, type S3Target } from './aws';
import type { S3Lister } from './s3-list';
import { ingestorMetrics, noIngestorMetrics, prometheusMetrics, type IngestorMetrics } from './metrics';
import { dbFor, loadEnvFile, loadSettings, type Settings } from './config/settings';
import { connectClient, connectConfig, connectWorker, temporalAddress } from './temporal';
import { reconcileJobs } from './job-control';
import { createPool } from './store/db';
import { IngestionStore } from './store/ingestion-store';
import { checkClpObjectMetadata, ensureSchema } from './store/schema';
import {
  anyOf,
  dbClassifier,
  dbDependency,
  describe,
  probeTcp,
  temporalClassifier,
  temporalConfigError,
  temporalDependency,
  untilAvailable,
  watch,
} from './dependencies';
import { createLogger, logProcessEvents, sdkLogLevel, sdkLogRecord, stdoutSink } from './common/log';
import { boundWorkerHeap, workflowRuntimeWarning } from './runtime';
import { Connection } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';

/** One AWS client per (region, endpoint): clients pool their connections. */
function clientCache<T>(make: (t: S3Target) => T): (t: S3Target) => T {
  const cache = new Map<string, T>();
  return (t) => {
    const key = `${t.region ?? ''}|${t.endpointUrl ?? ''}`;
    let client = cache.get(key);
    if (!client) cache.set(key, (client = make(t)));
    return client;
  };
}

export interface WorkerOptions {
  taskQueue?: string;
  /** Tests wrap activities to inject faults (e.g. a crash right after a commit). */
  wrapActivities?: (activities: Activities) => Activities;
  /** A test harness's fault injection points; production sets none. */
  faults?: ActivityFaults;
  /** The process's metrics (main() serves them when CLP_INGESTOR_METRICS_ADDRESS is set). */
  metrics?: IngestorMetrics;
  /** Tests run another build of the workflow code (a new version); default: the ingestor's. */
  workflowsPath?: string;
}

export async function createWorker(settings: Settings, opts: WorkerOptions = {}) {
  const pool = createPool(dbFor(settings, 'worker'));
  const metrics = opts.metrics ?? noIngestorMetrics;
  const store = new IngestionStore(pool, undefined, metrics);
  let connection: NativeConnection | undefined;
  try {
    const connected = await connectWorker();
    connection = connected.connection;
    const namespace = connected.namespace;
    const s3 = clientCache<S3Client>((t) => createS3Client(settings.aws, t));
    const code = await workflowCode(opts.workflowsPath);
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue: opts.taskQueue ?? settings.taskQueue,
      workflowBundle: code,
      // One version of the deployment, its runs pinned to it (docs/upgrades.md).
      ...workerDeploymentOptions(settings.deployment, code),
      activities: (opts.wrapActivities ?? ((a) => a))(
        createActivities(
          {
            settings,
            store,
            s3,
            s3List: clientCache<S3Lister>((t) => createS3ListerFor(s3(t), settings.aws, t)),
            sqs: clientCache<SQSClient>((t) => createSqsClient(settings.aws, t)),
            metrics,
          },
          opts.faults,
        ),
      ),
      // Activities wait on the DB and S3, not the CPU: allow many at once.
      maxConcurrentActivityTaskExecutions: 100,
      // When a worker dies, its jobs' next workflow tasks wait this long on its
      // sticky queue before any worker may take them: keep recovery quick.
      // Histories are small (continue-as-new), so a non-sticky replay is cheap.
      stickyQueueScheduleToStartTimeout: '3s',
    });
    const version = settings.deployment.versioning ? deploymentVersion(settings.deployment, code) : undefined;
    return { worker, pool, store, connection, version };
  } catch (err) {
    await connection?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw err;
  }
}

/**
 * Waits for the CLP DB and Temporal (capped backoff, each wait logged as what
 * it is), checks the schema and reconciles, then runs the worker until SIGINT/SIGTERM.
 * `faults`: a test harness's fault injection points (test/support/fault-harness); none in production.
 * Once running it rides outages out: while the DB is away activities fail and
 * Temporal retries them; while Temporal is away polls are retried. A watcher
 * logs each outage once per check instead of a line per failed call.
 */
export async function main(opts: Pick<WorkerOptions, 'faults'> = {}): Promise<void> {
  loadEnvFile();
  const settings = loadSettings();
  Runtime.install({
    // The SDK's lines (workflow and activity ones carry their workflow id, type and activity) and
    // Core's, forwarded to it, are JSON lines like ours: one event per line, for a log pipeline.
    logger: new DefaultLogger(sdkLogLevel(), (entry) => stdoutSink(sdkLogRecord(entry))),
    telemetryOptions: {
      logging: {
        // Core logs every retried poll (two lines a second while Temporal is
        // away, for as long as it is); the watcher below reports outages instead.
        filter: `${makeTelemetryFilterString({ core: 'WARN' })},temporalio_client::retry=OFF`,
        forward: {},
      },
      ...prometheusMetrics(settings.metrics.worker),
    },
    // Signals are ours: a shutdown must also end a wait for Temporal or the DB.
    shutdownSignals: [],
  });
  const log = createLogger();
  logProcessEvents(log);
  const runtimeWarning = workflowRuntimeWarning();
  if (runtimeWarning) log.warn(runtimeWarning, { node: process.version });
  const heapWarning = boundWorkerHeap(settings.heapGrowingPercent);
  if (heapWarning) log.warn(heapWarning, { execArgv: process.execArgv });
  const stop = new AbortController();
  let worker: Worker | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130); // a second signal: stop now
    log.info('shutting down', { signal });
    stop.abort();
    try {
      worker?.shutdown();
    } catch {
      // already stopping
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const db = dbDependency(settings.db);
  const { connectionOptions, namespace } = connectConfig();
  const temporal = temporalDependency(temporalAddress());
  const onDb = dbClassifier(db);
  const onTemporal = temporalClassifier(temporal);
  const wait = { timeoutMs: settings.dependencyWaitSec * 1000, log, signal: stop.signal };
  /** Connects only once a TCP probe gets through, so the log names the network error. */
  const viaProbe =
    <T>(connect: () => Promise<T>) =>
    async () => {
      await probeTcp(temporal.address);
      return connect();
    };

  try {
    const dbSettings = dbFor(settings, 'worker');
    const pool = createPool(dbSettings);
    try {
      const applied = await untilAvailable(() => ensureSchema(pool, dbSettings.user), onDb, wait);
      if (applied.length) log.info('applied migrations', { versions: applied });
      await untilAvailable(() => checkClpObjectMetadata(pool, settings.clp.s3InputType), onDb, wait);
      const client = await untilAvailable(viaProbe(connectClient), onTemporal, wait);
      try {
        const store = new IngestionStore(pool);
        const report = await untilAvailable(
          () => reconcileJobs(store, client, settings.taskQueue),
          anyOf(onDb, onTemporal),
          wait,
        );
        log.info('reconciled jobs', { ...report });
      } finally {
        await client.connection.close();
      }
    } finally {
      await pool.end();
    }

    const created = await untilAvailable(
      viaProbe(() =>
        createWorker(settings, {
          faults: opts.faults,
          metrics: ingestorMetrics(Runtime.instance().metricMeter),
        }),
      ),
      onTemporal,
      wait,
    );
    worker = created.worker;
    if (stop.signal.aborted) worker.shutdown();
    log.info('worker started', {
      taskQueue: settings.taskQueue,
      version: created.version
        ? `${created.version.deploymentName}:${created.version.buildId}`
        : 'unversioned',
      metrics: settings.metrics.worker ? `http://${settings.metrics.worker}/metrics` : 'off',
      namespace,
      temporal: temporal.address,
      pid: process.pid,
    });
    const watching = new AbortController();
    const monitor = Connection.lazy(connectionOptions);
    const watchers = [
      watch(
        temporal,
        () =>
          probeTcp(temporal.address).then(() =>
            monitor.withDeadline(Date.now() + 5_000, () => monitor.workflowService.getSystemInfo({})),
          ),
        onTemporal,
        { log, signal: watching.signal, meanwhile: 'polls are retried' },
      ),
      watch(db, () => created.pool.query('SELECT 1'), onDb, {
        log,
        signal: watching.signal,
        meanwhile: 'activities are retried',
      }),
    ];
    try {
      await worker.run();
    } finally {
      watching.abort();
      await Promise.all(watchers);
      await monitor.close();
      await created.pool.end();
      await created.connection.close();
    }
    log.info('worker stopped');
  } catch (err) {
    if (stop.signal.aborted && !worker) {
      log.info('stopped before the worker started');
      return;
    }
    const config = temporalConfigError(err, namespace, temporal.address);
    if (config) throw new Error(config);
    // Access denied, unknown database, ...: say which server said so.
    if (typeof (err as { sqlMessage?: unknown }).sqlMessage === 'string') {
      throw new Error(`${describe(db)}: ${(err as Error).message}`);
    }
    throw err;
  }
}

/** Runs `run` as the process: exit 0 when it returns, 1 with one error line when it throws. */
export function runAsProcess(run: () => Promise<void>): void {
  run().then(
    // A native runtime that never ran a worker can keep the event loop alive.
    () => process.exit(0),
    (err) => {
      stdoutSink({
        ts: new Date().toISOString(),
        level: 'error',
        msg: `worker: ${err instanceof Error ? err.message : String(err)}`,
      });
      process.exit(1);
    },
  );
}

if (require.main === module) runAsProcess(() => main());
