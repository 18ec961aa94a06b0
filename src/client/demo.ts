/**
 * The main job, end to end on the local stack: sample logs uploaded to MinIO,
 * an S3-scanner job created, progress shown until every file is compressed,
 * then the job stopped and a summary printed with the Temporal Web UI link.
 * Run by scripts/demo.sh, which brings up the stack, the worker and the executor.
 */
import { randomInt } from 'node:crypto';
import { CreateBucketCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { RowDataPacket } from 'mysql2/promise';
import { createS3Client } from '../aws';
import { dbFor, loadEnvFile, loadSettings } from '../config/settings';
import { createPool } from '../store/db';
import { IngestionStore } from '../store/ingestion-store';
import { applyGrants, configuredGrantees } from '../store/grants';
import { migrate } from '../store/schema';
import { workflowIdFor } from '../workflows/messages';
import { controlJob, createJob } from './jobs';
import { connectClient } from './temporal';

const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
const SERVICES = ['api-gateway', 'auth', 'billing', 'search', 'scheduler'];

/** Realistic, repetitive log text: what CLP compresses well. */
function sampleLog(lines: number, start: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const ts = new Date(start + i * 37).toISOString();
    const level = LEVELS[randomInt(LEVELS.length)];
    const svc = SERVICES[randomInt(SERVICES.length)];
    out.push(
      `${ts} ${level} [${svc}] request_id=${randomInt(1e9).toString(16)} user=${randomInt(5000)} ` +
        `latency_ms=${randomInt(2000)} status=${[200, 200, 200, 404, 500][randomInt(5)]} path=/v1/${svc}/items/${randomInt(100000)}`,
    );
  }
  return out.join('\n') + '\n';
}

function bar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

async function main(): Promise<void> {
  loadEnvFile();
  const settings = loadSettings();
  const numFiles = Number(process.env.DEMO_FILES ?? 200);
  // Migrate as the schema owner (as `clp-ingestor migrate` does), then act as the API.
  const owner = createPool(settings.db);
  await migrate(owner);
  await applyGrants(owner, configuredGrantees(settings), settings.dbGranteeHost);
  const pool = createPool(dbFor(settings, 'api'));
  const store = new IngestionStore(pool);
  const client = await connectClient();
  const s3 = createS3Client(settings.aws);
  const bucket = process.env.DEMO_BUCKET ?? 'clp-demo';
  const prefix = `logs/run-${Date.now()}/`;

  await s3
    .send(new HeadBucketCommand({ Bucket: bucket }))
    .catch(() => s3.send(new CreateBucketCommand({ Bucket: bucket })));
  process.stdout.write(`uploading ${numFiles} sample log files to s3://${bucket}/${prefix}\n`);
  let uploaded = 0;
  let bytes = 0;
  const queue = Array.from({ length: numFiles }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const body = sampleLog(200 + randomInt(2000), Date.now() - i * 3_600_000);
        bytes += body.length;
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `${prefix}service-${String(i).padStart(4, '0')}.log`,
            Body: body,
          }),
        );
        process.stdout.write(`\r  upload   ${bar(++uploaded, numFiles)}`);
      }
    }),
  );
  process.stdout.write(`  (${(bytes / 1e6).toFixed(1)} MB)\n`);

  const started = Date.now();
  const jobId = await createJob(
    store,
    client,
    's3_scanner',
    {
      bucket_name: bucket,
      key_prefix: prefix,
      scanning_interval_sec: 5,
      buffer_config: { flush_threshold_bytes: 16 * 1024 * 1024, timeout_sec: 5 },
    },
    { taskQueue: settings.taskQueue },
  );
  console.log(`created S3-scanner ingestion job ${jobId}`);

  const deadline = Date.now() + Number(process.env.DEMO_TIMEOUT_SEC ?? 600) * 1000;
  for (;;) {
    const job = await store.requireJob(jobId);
    const files = await store.countFilesByStatus(jobId);
    process.stdout.write(
      `\r  ingested ${bar(job.numFilesIngested, numFiles)}  submitted ${files.submitted + files.compressed + files.failed}  compressed ${bar(files.compressed, numFiles)}  failed ${files.failed}  `,
    );
    if (files.compressed + files.failed === numFiles) break;
    if (job.status === 'failed') throw new Error(`job ${jobId} failed: ${job.errorMsg}`);
    if (Date.now() > deadline) {
      throw new Error(`files not all compressed in time; is the executor running? (scripts/stack.sh status)`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  process.stdout.write('\n');
  await controlJob(store, client, jobId, 'stop');
  await client.workflow.getHandle(workflowIdFor(jobId)).result();

  const job = await store.requireJob(jobId);
  // CLP's compression_jobs, which the API's user may not read: the owner reads the sizes.
  const [[cj]] = await owner.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n, SUM(uncompressed_size) AS raw, SUM(compressed_size) AS packed FROM compression_jobs
     WHERE id IN (SELECT DISTINCT compression_job_id FROM log_ingestor_ingested_files WHERE ingestion_job_id = ?)`,
    [jobId],
  );
  const ratio = Number(cj.packed) > 0 ? (Number(cj.raw) / Number(cj.packed)).toFixed(1) : 'n/a';
  console.log(
    [
      `job ${jobId}: ${job.status}`,
      `  files ingested ${job.numFilesIngested}, compressed ${job.numFilesCompressed}, failed ${job.numFilesFailed}`,
      `  compression jobs ${cj.n}; ${(Number(cj.raw) / 1e6).toFixed(1)} MB -> ${(Number(cj.packed) / 1e6).toFixed(2)} MB (ratio ${ratio})`,
      `  wall time ${((Date.now() - started) / 1000).toFixed(1)} s from job creation to all compressed`,
      `  history: http://127.0.0.1:8233/namespaces/${client.options.namespace}/workflows/${workflowIdFor(jobId)}`,
      `  files:   node dist/client/cli.js files ${jobId}`,
    ].join('\n'),
  );
  await client.connection.close();
  await pool.end();
  await owner.end();
  s3.destroy();
}

main().catch((err) => {
  console.error(`\ndemo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
