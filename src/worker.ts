/**
 * The worker: migrates the CLP DB, reconciles jobs, then runs the ingestion-job
 * workflow and its activities. Run any number of these, on any number of
 * machines, against one Temporal cluster and one CLP DB.
 */
import { Runtime, Worker, makeTelemetryFilterString, DefaultLogger } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { WORKFLOW_BUNDLE } from './bundle-workflows';
import { createActivities, type Activities, type SqsFaults } from './activities';
import { createS3Client, createS3ListerFor, createSqsClient, type S3Target } from './aws';
import type { S3Lister } from './s3-list';
import { loadEnvFile, loadSettings, type Settings } from './config/settings';
import { connectClient, connectWorker } from './client/temporal';
import { reconcileJobs } from './client/jobs';
import { createPool } from './store/db';
import { IngestionStore } from './store/ingestion-store';
import { checkClpObjectMetadata, migrate } from './store/schema';
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
  faults?: SqsFaults;
}

export async function createWorker(settings: Settings, opts: WorkerOptions = {}) {
  const pool = createPool(settings.db);
  const store = new IngestionStore(pool);
  const { connection, namespace } = await connectWorker();
  const s3 = clientCache<S3Client>((t) => createS3Client(settings.aws, t));
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue: opts.taskQueue ?? settings.taskQueue,
    // The build's prebundled workflow code when present (npm run build); else bundle now.
    ...(existsSync(WORKFLOW_BUNDLE)
      ? { workflowBundle: { codePath: WORKFLOW_BUNDLE } }
      : { workflowsPath: require.resolve('./workflows') }),
    activities: (opts.wrapActivities ?? ((a) => a))(
      createActivities(
        {
          settings,
          store,
          s3,
          s3List: clientCache<S3Lister>((t) => createS3ListerFor(s3(t), settings.aws, t)),
          sqs: clientCache<SQSClient>((t) => createSqsClient(settings.aws, t)),
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
  return { worker, pool, store, connection };
}

/**
 * Test-only fault injection for the crash-loop suite (test/fault): with
 * CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE=p the process kills itself with
 * SIGKILL, with probability p, after an SQS batch is committed and before its
 * messages are deleted: the window that persist-then-delete must survive.
 */
function faultsFromEnv(): SqsFaults {
  const p = Number(process.env.CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE ?? 0);
  if (!(p > 0)) return {};
  return {
    beforeDelete: async () => {
      if (Math.random() < p) process.kill(process.pid, 'SIGKILL');
    },
  };
}

async function main(): Promise<void> {
  loadEnvFile();
  const settings = loadSettings();
  Runtime.install({
    logger: new DefaultLogger((process.env.CLP_INGESTOR_LOG_LEVEL as 'INFO') ?? 'INFO'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  });
  const pool = createPool(settings.db);
  const applied = await migrate(pool);
  if (applied.length) console.log(JSON.stringify({ msg: 'applied migrations', versions: applied }));
  await checkClpObjectMetadata(pool, settings.clp.s3InputType);
  const client = await connectClient();
  const report = await reconcileJobs(new IngestionStore(pool), client, settings.taskQueue);
  console.log(JSON.stringify({ msg: 'reconciled jobs', ...report }));
  await client.connection.close();
  await pool.end();

  const { worker, pool: workerPool, connection } = await createWorker(settings, { faults: faultsFromEnv() });
  console.log(JSON.stringify({ msg: 'worker started', taskQueue: settings.taskQueue, pid: process.pid }));
  await worker.run();
  await workerPool.end();
  await connection.close();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`worker: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
