/**
 * The main job, end to end on the local stack: JSON logs uploaded to MinIO and
 * an S3-scanner job over them, text logs written to a local directory and an
 * `unstructured` fs job over it; progress shown until every file is compressed
 * by CLP's clp-s, then the jobs stopped, the compression ratio printed, and the
 * archives searched as a user would. Last, the ingestor ingests its own logs: a
 * one-time fs job over the stack's log directory (the worker's and executor's
 * JSON lines, timestamp key `ts`), searched by the first job's id. Run by
 * scripts/demo.sh, which brings up the stack, the worker and the compression worker.
 */
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { RowDataPacket } from 'mysql2/promise';
import picomatch from 'picomatch';
import { createS3Client } from '../aws';
import { dbFor, loadEnvFile, loadSettings, readSettings } from '../config/settings';
import { collectSearch, countEvents, searchContext, type SearchContext } from '../clp/search';
import { createPool, type Db } from '../store/db';
import { IngestionStore } from '../store/ingestion-store';
import { applyGrants, configuredGrantees } from '../store/grants';
import { migrate } from '../store/schema';
import { hasFailed } from '../lifecycle';
import { workflowIdFor } from '../workflows/messages';
import { controlJob, createJob } from '../job-control';
import { connectClient } from '../temporal';

const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
const SERVICES = ['api-gateway', 'auth', 'billing', 'search', 'scheduler'];

/** Realistic, repetitive JSON log events: what clp-s compresses well. */
function sampleJsonLog(events: number, start: number): string {
  const out: string[] = [];
  for (let i = 0; i < events; i++) {
    const svc = SERVICES[randomInt(SERVICES.length)];
    const status = [200, 200, 200, 404, 500][randomInt(5)];
    out.push(
      JSON.stringify({
        timestamp: new Date(start + i * 37).toISOString(),
        level: status === 500 ? 'ERROR' : LEVELS[randomInt(LEVELS.length - 1)],
        service: svc,
        request_id: randomInt(1e9).toString(16),
        user: randomInt(5000),
        latency_ms: randomInt(2000),
        status,
        path: `/v1/${svc}/items/${randomInt(100000)}`,
        msg: status === 500 ? `upstream ${svc} timed out` : 'request served',
      }),
    );
  }
  return out.join('\n') + '\n';
}

/** Text logs as a Java service writes them: timestamped lines, and stack traces under some of them. */
function sampleTextLog(lines: number, start: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const ts = new Date(start + i * 53).toISOString().replace('T', ' ').replace('Z', '');
    const svc = SERVICES[randomInt(SERVICES.length)];
    if (randomInt(40) === 0) {
      out.push(
        `${ts} ERROR [${svc}] request ${randomInt(1e6)} failed`,
        'java.lang.IllegalStateException: connection pool exhausted',
        `\tat com.example.${svc}.Pool.acquire(Pool.java:${100 + randomInt(200)})`,
        `\tat com.example.${svc}.Handler.handle(Handler.java:${20 + randomInt(80)})`,
      );
    } else {
      out.push(`${ts} INFO [${svc}] served /v1/${svc}/items/${randomInt(100000)} in ${randomInt(900)} ms`);
    }
  }
  return out.join('\n') + '\n';
}

function bar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

/** Waits until every one of the job's `numFiles` files has its fate, showing progress. */
async function untilCompressed(
  store: IngestionStore,
  jobId: number,
  numFiles: number,
  label: string,
  timeoutSec: number,
): Promise<void> {
  const deadline = Date.now() + timeoutSec * 1000;
  for (;;) {
    const job = await store.requireJob(jobId);
    const files = await store.countFilesByStatus(jobId);
    process.stdout.write(
      `\r  ${label}: ingested ${bar(job.numFilesIngested, numFiles)}  compressed ${bar(files.compressed, numFiles)}  failed ${files.failed}  `,
    );
    if (files.compressed + files.failed === numFiles) break;
    if (hasFailed(job.status)) throw new Error(`job ${jobId} failed: ${job.errorMsg}`);
    if (Date.now() > deadline) {
      throw new Error(`files not all compressed in time; is the executor running? (scripts/stack.sh status)`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  process.stdout.write('\n');
}

/** The job's compression jobs' sizes (CLP's compression_jobs, which only the owner reads here). */
async function sizesOf(owner: Db, jobId: number): Promise<{ jobs: number; raw: number; packed: number }> {
  const [[cj]] = await owner.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n, COALESCE(SUM(uncompressed_size), 0) AS raw, COALESCE(SUM(compressed_size), 0) AS packed
     FROM compression_jobs
     WHERE id IN (SELECT DISTINCT compression_job_id FROM log_ingestor_ingested_files WHERE ingestion_job_id = ?)`,
    [jobId],
  );
  return { jobs: Number(cj.n), raw: Number(cj.raw), packed: Number(cj.packed) };
}

/** A search as a user types it, with its first hits (only `fields` of each, when given). */
async function showSearch(
  ctx: SearchContext,
  dataset: string,
  query: string,
  show = 3,
  fields?: string[],
): Promise<void> {
  const total = await countEvents(ctx, dataset, query);
  const { results } = await collectSearch(ctx, { dataset, query, limit: show });
  console.log(`  clp-ingestor search --dataset ${dataset} '${query}'   -> ${total} events, e.g.:`);
  const events = results.map((hit) => hit.event as Record<string, unknown>);
  // Log events in their order (hits come archive by archive).
  if (fields?.includes('ts')) events.sort((a, b) => String(a.ts).localeCompare(String(b.ts)));
  const width = fields ? 200 : 150;
  for (const event of events) {
    const line = JSON.stringify(
      fields ? Object.fromEntries(fields.filter((f) => f in event).map((f) => [f, event[f]])) : event,
    );
    console.log(`    ${line.length > width ? `${line.slice(0, width - 3)}...` : line}`);
  }
}

/**
 * The stack's own logs (every line a JSON event: ts, level, msg, job_id, workflowId, ...) ingested
 * by a one-time fs job, then searched for what the worker said about the S3 job: a log file is
 * recorded once, as it is when it settles, so this is a snapshot of logs that keep growing (in
 * production, point an fs job at rotated files).
 */
async function ingestOwnLogs(
  store: IngestionStore,
  client: Awaited<ReturnType<typeof connectClient>>,
  owner: Db,
  search: SearchContext,
  taskQueue: { taskQueue: string },
  dataset: string,
  s3JobId: number,
): Promise<void> {
  const root = path.join(__dirname, '..', '..');
  const logsDir = path.resolve(
    root,
    readSettings(process.env, ['CLP_INGESTOR_STACK_DIR']).CLP_INGESTOR_STACK_DIR ?? '.stack',
    'logs',
  );
  const glob = '{worker,executor,api}.log';
  if (!existsSync(logsDir)) return;
  const isLog = picomatch(glob);
  const files = (await readdir(logsDir)).filter((f) => isLog(f));
  if (files.length === 0) return;
  const logsDataset = `${dataset}_stack_logs`;
  const logsJobId = await createJob(
    store,
    client,
    'fs',
    {
      directory: logsDir,
      glob,
      dataset: logsDataset,
      timestamp_key: 'ts',
      one_time: true,
      scanning_interval_sec: 1,
      settle_delay_sec: 1,
      buffer_config: { timeout_sec: 2 },
    },
    taskQueue,
  );
  console.log(
    `created fs job ${logsJobId} over the stack's own logs ${logsDir}/${glob} (${files.join(', ')}; dataset ${logsDataset}, timestamp key ts)`,
  );
  await untilCompressed(store, logsJobId, files.length, 'logs', 300);
  await client.workflow.getHandle(workflowIdFor(logsJobId)).result();
  // One batch of the S3 job followed across processes: the worker's flush, the executor's run.
  const [[first]] = await owner.query<RowDataPacket[]>(
    'SELECT MIN(compression_job_id) AS id FROM log_ingestor_ingested_files WHERE ingestion_job_id = ?',
    [s3JobId],
  );
  const shown = ['ts', 'level', 'msg', 'job_id', 'workflowId', 'compression_job_id', 'files', 'app'];
  await showSearch(search, logsDataset, `job_id: ${s3JobId} OR compression_job_id: ${first.id}`, 6, shown);
  await showSearch(search, logsDataset, 'level: "warn" OR level: "error"', 3, [...shown, 'error']);
}

async function main(): Promise<void> {
  loadEnvFile();
  const settings = loadSettings();
  const demo = readSettings(process.env, [
    'DEMO_FILES',
    'DEMO_TEXT_FILES',
    'DEMO_BUCKET',
    'DEMO_TEXT_DIR',
    'DEMO_DATASET',
    'DEMO_TIMEOUT_SEC',
  ]);
  const numFiles = demo.DEMO_FILES;
  const numTextFiles = demo.DEMO_TEXT_FILES;
  // Migrate as the schema owner (as `clp-ingestor migrate` does), then act as the API.
  const owner = createPool(settings.db);
  await migrate(owner);
  await applyGrants(owner, configuredGrantees(settings), settings.dbGranteeHost);
  const pool = createPool(dbFor(settings, 'api'));
  const store = new IngestionStore(pool);
  const client = await connectClient();
  const s3 = createS3Client(settings.aws);
  const bucket = demo.DEMO_BUCKET;
  const run = `run-${Date.now()}`;
  const prefix = `logs/${run}/`;

  await s3
    .send(new HeadBucketCommand({ Bucket: bucket }))
    .catch(() => s3.send(new CreateBucketCommand({ Bucket: bucket })));
  process.stdout.write(`uploading ${numFiles} JSON log files to s3://${bucket}/${prefix}\n`);
  let uploaded = 0;
  let bytes = 0;
  const queue = Array.from({ length: numFiles }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const body = sampleJsonLog(200 + randomInt(2000), Date.now() - i * 3_600_000);
        bytes += body.length;
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `${prefix}service-${String(i).padStart(4, '0')}.jsonl`,
            Body: body,
          }),
        );
        process.stdout.write(`\r  upload   ${bar(++uploaded, numFiles)}`);
      }
    }),
  );
  process.stdout.write(`  (${(bytes / 1e6).toFixed(1)} MB)\n`);
  // Text logs in a local directory (under .stack/, which CLP's workers would see under CLP_FS_MOUNT_ROOT).
  const textDir = path.resolve(demo.DEMO_TEXT_DIR ?? path.join('.stack', 'demo-text-logs', run));
  await mkdir(textDir, { recursive: true });
  for (let i = 0; i < numTextFiles; i++) {
    await writeFile(
      path.join(textDir, `app-${i}.log`),
      sampleTextLog(500 + randomInt(1500), Date.now() - i * 3_600_000),
    );
  }
  console.log(`wrote ${numTextFiles} text log files to ${textDir}`);

  const started = Date.now();
  const jsonDataset = demo.DEMO_DATASET;
  const textDataset = `${jsonDataset}_text`;
  const taskQueue = { taskQueue: settings.taskQueue };
  const jobId = await createJob(
    store,
    client,
    's3_scanner',
    {
      bucket_name: bucket,
      key_prefix: prefix,
      dataset: jsonDataset,
      timestamp_key: 'timestamp',
      scanning_interval_sec: 5,
      buffer_config: { flush_threshold_bytes: 16 * 1024 * 1024, timeout_sec: 5 },
    },
    taskQueue,
  );
  const textJobId = await createJob(
    store,
    client,
    'fs',
    {
      directory: textDir,
      dataset: textDataset,
      unstructured: true,
      settle_delay_sec: 0,
      buffer_config: { timeout_sec: 2 },
    },
    taskQueue,
  );
  console.log(
    `created S3-scanner job ${jobId} (dataset ${jsonDataset}) and text-log fs job ${textJobId} (dataset ${textDataset})`,
  );
  await untilCompressed(store, jobId, numFiles, 'json', demo.DEMO_TIMEOUT_SEC);
  await untilCompressed(store, textJobId, numTextFiles, 'text', demo.DEMO_TIMEOUT_SEC);
  const wall = (Date.now() - started) / 1000;
  for (const id of [jobId, textJobId]) await controlJob(store, client, id, 'stop');
  for (const id of [jobId, textJobId]) await client.workflow.getHandle(workflowIdFor(id)).result();

  for (const [id, label] of [
    [jobId, 'JSON logs'],
    [textJobId, 'text logs'],
  ] as const) {
    const job = await store.requireJob(id);
    const sz = await sizesOf(owner, id);
    const ratio = sz.packed > 0 ? (sz.raw / sz.packed).toFixed(1) : 'n/a';
    console.log(
      [
        `job ${id} (${label}): ${job.status}; files ingested ${job.numFilesIngested}, compressed ${job.numFilesCompressed}, failed ${job.numFilesFailed}`,
        `  ${sz.jobs} compression jobs by clp-s: ${(sz.raw / 1e6).toFixed(1)} MB -> ${(sz.packed / 1e6).toFixed(2)} MB (ratio ${ratio})`,
        `  history: http://127.0.0.1:8233/namespaces/${client.options.namespace}/workflows/${workflowIdFor(id)}`,
      ].join('\n'),
    );
  }
  console.log(`wall time ${wall.toFixed(1)} s from job creation to all compressed`);
  const search = searchContext(settings, pool);
  await showSearch(search, jsonDataset, 'level: "ERROR" AND status: 500');
  await showSearch(search, textDataset, 'message: "*IllegalStateException*"', 1);
  await ingestOwnLogs(store, client, owner, search, taskQueue, jsonDataset, jobId);
  await client.connection.close();
  await pool.end();
  await owner.end();
  s3.destroy();
}

main().catch((err) => {
  console.error(`\ndemo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
