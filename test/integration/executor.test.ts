/**
 * The compression executor against the real stack: jobs in MariaDB, inputs in
 * MinIO or on disk, archives on disk. Each test gets its own database (so no
 * executor sees another test's jobs) and its own archive directory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decode } from '@msgpack/msgpack';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { brotliCompressSync } from 'node:zlib';
import { encode } from '@msgpack/msgpack';
import { createS3Client } from '../../src/aws';
import { STAGING_DIR } from '../../src/executor/archive';
import { listArchiveIds } from '../../src/executor/archive-reader';
import { createPool, type Db } from '../../src/store/db';
import { loadSettings, type Settings } from '../../src/config/settings';
import { createTestBucket, createTestDb } from '../support/stack';
import {
  archivesOfJob,
  buildExecutor,
  extractAll,
  fsJobConfig,
  generateLogs,
  insertJob,
  jobRow,
  s3JobConfig,
  spawnExecutor,
  startExecutor,
  tempDir,
  waitFor,
  waitForJobs,
} from '../support/executor';

const SUCCEEDED = 2;
const FAILED = 3;
const RUNNING = 1;

let s3: S3Client;
let bucket: string;
let settings: Settings;
let pool: Db;
let drop: () => Promise<void>;
let archivesDir: string;

beforeAll(async () => {
  s3 = createS3Client(loadSettings().aws);
  bucket = await createTestBucket(s3);
});

beforeEach(async () => {
  ({ settings, pool, drop } = await createTestDb());
  archivesDir = await tempDir('clp-archives');
});

afterEach(async () => {
  await drop();
  await rm(archivesDir, { recursive: true, force: true });
});

afterAll(() => s3.destroy());

async function put(key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('S3 round trip: odd key names and a multi-MB object come back byte-identical', async () => {
  const prefix = `rt-${Date.now()}/`;
  const objects = new Map<string, Buffer>([
    [`${prefix}app one.log`, generateLogs(50_000, 2)],
    [`${prefix}a+b=c&d.log`, Buffer.from('plus and equals\n')],
    [`${prefix}ünïcødé/日本語 ログ.log`, Buffer.from('unicode ✓\n'.repeat(100))],
    [`${prefix}big.log`, Buffer.concat([generateLogs(5 * 1024 * 1024, 3), randomBytes(1024 * 1024)])],
    [`${prefix}empty.log`, Buffer.alloc(0)],
  ]);
  for (const [key, body] of objects) await put(key, body);
  const keys = [...objects.keys()];
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, keys));

  const executor = startExecutor(settings, pool, { archivesDir });
  const job = (await waitForJobs(pool, [jobId])).get(jobId);
  const stats = await executor.stop();

  expect(job.status).toBe(SUCCEEDED);
  expect(job.status_msg).toBe('');
  const totalSize = [...objects.values()].reduce((n, b) => n + b.length, 0);
  expect(Number(job.original_size)).toBe(totalSize);
  expect(Number(job.uncompressed_size)).toBe(totalSize);
  expect(job.num_tasks).toBe(1);
  expect(job.num_tasks_completed).toBe(1);
  expect(job.start_time).toBeInstanceOf(Date);
  expect(job.duration).toBeGreaterThan(0);
  expect(stats).toEqual({ succeeded: 1, failed: 0, abandoned: 0 });

  // Exactly one archive, complete on disk, and its size is what the job says.
  const [index, ...others] = await archivesOfJob(archivesDir, jobId);
  expect(others).toHaveLength(0);
  const archiveDir = path.join(archivesDir, index.archive_id);
  const onDisk =
    (await stat(path.join(archiveDir, 'archive.data'))).size +
    (await stat(path.join(archiveDir, 'index.json'))).size;
  expect(Number(job.compressed_size)).toBe(onDisk);
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);

  const extracted = await extractAll(archivesDir, index);
  expect([...extracted.keys()].sort()).toEqual([...keys].sort());
  for (const [key, body] of objects) {
    expect(extracted.get(key)!.length).toBe(body.length);
    expect(sha(extracted.get(key)!)).toBe(sha(body));
    expect(index.files.find((f) => f.name === key)!.sha256).toBe(sha(body));
  }

  const [[task], [lease]] = await Promise.all([
    pool.query<any[]>('SELECT * FROM compression_tasks WHERE job_id = ?', [jobId]).then(([r]) => r),
    pool.query<any[]>('SELECT * FROM compression_executor_leases WHERE job_id = ?', [jobId]).then(([r]) => r),
  ]);
  expect(task.status).toBe(SUCCEEDED);
  expect(Number(task.partition_original_size)).toBe(totalSize);
  expect(Number(task.partition_uncompressed_size)).toBe(totalSize);
  expect(Number(task.partition_compressed_size)).toBe(onDisk);
  expect(task.duration).toBeGreaterThan(0);
  expect(decode(task.clp_paths_to_compress)).toEqual({ file_paths: keys.map((k) => `s3://${bucket}/${k}`) });
  expect(lease.num_claims).toBe(1);

  // Structured logs: every record is an object; the job's records carry its id.
  const jobLogs = executor.logs.filter((r) => r.compression_job_id === jobId);
  expect(jobLogs.map((r) => r.msg)).toEqual(
    expect.arrayContaining(['job claimed', 'archiving', 'job succeeded']),
  );
  for (const r of executor.logs) expect(typeof r.executor_id).toBe('string');
});

test('fs round trip: directories are walked and path_prefix_to_remove is stripped', async () => {
  const root = await tempDir('clp-fs-input');
  try {
    const files = new Map<string, Buffer>([
      ['svc/a.log', generateLogs(200_000, 4)],
      ['svc/nested/b c+d.log', Buffer.from('nested ü\n')],
      ['single.log', randomBytes(70_000)],
    ]);
    for (const [name, body] of files) {
      await mkdir(path.dirname(path.join(root, name)), { recursive: true });
      await writeFile(path.join(root, name), body);
    }
    const jobId = await insertJob(
      pool,
      fsJobConfig([path.join(root, 'svc'), path.join(root, 'single.log')], root),
    );
    const executor = startExecutor(settings, pool, { archivesDir });
    const job = (await waitForJobs(pool, [jobId])).get(jobId);
    await executor.stop();

    expect(job.status).toBe(SUCCEEDED);
    const total = [...files.values()].reduce((n, b) => n + b.length, 0);
    expect(Number(job.original_size)).toBe(total);
    const [[task]] = await pool.query<any[]>('SELECT * FROM compression_tasks WHERE job_id = ?', [jobId]);
    // Local sizes are known before reading, so the task records them from the start.
    expect(Number(task.partition_original_size)).toBe(total);
    const [index] = await archivesOfJob(archivesDir, jobId);
    const extracted = await extractAll(archivesDir, index);
    expect([...extracted.keys()]).toEqual(['svc/a.log', 'svc/nested/b c+d.log', 'single.log']);
    for (const [name, body] of files) expect(extracted.get(name)!.equals(body)).toBe(true);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('two executors on one queue of 50 jobs run each job exactly once', async () => {
  const keys: string[] = [];
  for (let i = 0; i < 5; i++) {
    keys.push(`q-${Date.now()}/obj ${i}.log`);
    await put(keys[i], generateLogs(20_000, 10 + i));
  }
  const ids: number[] = [];
  for (let i = 0; i < 50; i++) {
    ids.push(await insertJob(pool, s3JobConfig(settings, bucket, [keys[i % 5], keys[(i + 1) % 5]])));
  }
  // Separate pools, as two processes would have.
  const pools = [createPool(settings.db), createPool(settings.db)];
  const executors = pools.map((p, i) =>
    startExecutor(settings, p, { archivesDir, executorId: `exec-${i}`, pollIntervalMs: 20 }),
  );
  try {
    const jobs = await waitForJobs(pool, ids, 90_000);
    const stats = await Promise.all(executors.map((e) => e.stop()));
    expect([...jobs.values()].every((j) => j.status === SUCCEEDED)).toBe(true);
    expect(stats.reduce((n, s) => n + s.succeeded, 0)).toBe(50);
    expect(stats.reduce((n, s) => n + s.failed + s.abandoned, 0)).toBe(0);

    // One task and one claim per job; both executors took part.
    const [tasks] = await pool.query<any[]>(
      'SELECT job_id, COUNT(*) AS n FROM compression_tasks GROUP BY job_id ORDER BY job_id',
    );
    expect(tasks).toEqual(ids.map((id) => ({ job_id: id, n: 1 })));
    const [leases] = await pool.query<any[]>(
      'SELECT job_id, num_claims, executor_id FROM compression_executor_leases ORDER BY job_id',
    );
    expect(leases.map((l) => [l.job_id, l.num_claims])).toEqual(ids.map((id) => [id, 1]));
    const byExecutor = new Set(leases.map((l) => l.executor_id));
    expect(byExecutor).toEqual(new Set(['exec-0', 'exec-1']));

    // One archive per job, no job twice.
    const archiveIds = await listArchiveIds(archivesDir);
    expect(archiveIds).toHaveLength(50);
    const owners: number[] = [];
    for (const id of ids) {
      const archives = await archivesOfJob(archivesDir, id);
      expect(archives).toHaveLength(1);
      owners.push(archives[0].compression_job_id);
    }
    expect(new Set(owners).size).toBe(50);
  } finally {
    await Promise.all(executors.map((e) => e.stop()));
    await Promise.all(pools.map((p) => p.end()));
  }
});

test('a missing object fails its job with a status_msg naming the key, and publishes nothing', async () => {
  const present = `miss-${Date.now()}/present.log`;
  const missing = `miss-${Date.now()}/gone ü+.log`;
  await put(present, Buffer.from('here\n'));
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [present, missing]));
  const executor = startExecutor(settings, pool, { archivesDir });
  const job = (await waitForJobs(pool, [jobId])).get(jobId);
  const stats = await executor.stop();

  expect(job.status).toBe(FAILED);
  expect(job.status_msg).toMatch(
    new RegExp(`^s3://${bucket}/${missing.replace(/[+.]/g, '\\$&')}: NoSuchKey`),
  );
  expect(job.num_tasks).toBe(1);
  expect(job.num_tasks_completed).toBe(0);
  expect(stats).toEqual({ succeeded: 0, failed: 1, abandoned: 0 });
  const [[task]] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [jobId]);
  expect(task.status).toBe(FAILED);
  expect(await listArchiveIds(archivesDir)).toEqual([]);
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);
  expect(executor.logs.find((r) => r.msg === 'job failed')).toMatchObject({
    compression_job_id: jobId,
    status_msg: job.status_msg,
  });
});

test('a corrupt or invalid clp_config fails only that job; the next job still succeeds', async () => {
  const key = `cfg-${Date.now()}/ok.log`;
  await put(key, Buffer.from('fine\n'));
  const garbage = await insertJob(pool, randomBytes(64));
  const wrongShape = await insertJob(
    pool,
    brotliCompressSync(encode({ input: { type: 's3', keys: [key] }, output: { compression_level: 3 } })),
  );
  const good = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const executor = startExecutor(settings, pool, { archivesDir });
  const jobs = await waitForJobs(pool, [garbage, wrongShape, good]);
  const stats = await executor.stop();

  expect(jobs.get(garbage).status).toBe(FAILED);
  expect(jobs.get(garbage).status_msg).toMatch(/^clp_config cannot be decoded: /);
  expect(jobs.get(garbage).num_tasks).toBe(0);
  expect(jobs.get(wrongShape).status).toBe(FAILED);
  expect(jobs.get(wrongShape).status_msg).toMatch(/^clp_config is invalid at input\.bucket: /);
  expect(jobs.get(good).status).toBe(SUCCEEDED);
  expect(stats).toEqual({ succeeded: 1, failed: 2, abandoned: 0 });
  expect(await archivesOfJob(archivesDir, good)).toHaveLength(1);
  expect(await listArchiveIds(archivesDir)).toHaveLength(1);
});

test('an executor that loses its lease stops and publishes nothing', async () => {
  const key = `lease-${Date.now()}/slow.log`;
  await put(key, generateLogs(2 * 1024 * 1024, 7));
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const executor = startExecutor(settings, pool, {
    archivesDir,
    leaseMs: 600,
    throttleBytesPerSec: 1024 * 1024,
  });
  await waitFor('the job to start archiving', async () => executor.logs.some((r) => r.msg === 'archiving'));
  // Another claim takes the job over (as after an expired lease).
  await pool.query("UPDATE compression_executor_leases SET claim_token = 'someone-else' WHERE job_id = ?", [
    jobId,
  ]);
  await waitFor('the executor to notice', async () =>
    executor.logs.some((r) => r.msg === 'job abandoned: lease lost'),
  );
  const stats = await executor.stop();

  expect(stats).toEqual({ succeeded: 0, failed: 0, abandoned: 1 });
  const job = await jobRow(pool, jobId);
  expect(job.status).toBe(RUNNING); // untouched: it is the new owner's to finish
  expect(await listArchiveIds(archivesDir)).toEqual([]);
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);
});

test('the finishing transaction refuses to publish for a claim that lost its lease unnoticed', async () => {
  const key = `finish-${Date.now()}/a.log`;
  await put(key, generateLogs(1024 * 1024, 8));
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  // A long lease: no renewal happens before the end, so only the final check can catch it.
  const executor = startExecutor(settings, pool, {
    archivesDir,
    leaseMs: 60_000,
    throttleBytesPerSec: 1024 * 1024,
  });
  await waitFor('the job to start archiving', async () => executor.logs.some((r) => r.msg === 'archiving'));
  await pool.query("UPDATE compression_executor_leases SET claim_token = 'someone-else' WHERE job_id = ?", [
    jobId,
  ]);
  await waitFor('the executor to finish trying', async () =>
    executor.logs.some((r) => r.msg === 'lease lost before publishing; archive discarded'),
  );
  const stats = await executor.stop();

  expect(stats).toEqual({ succeeded: 0, failed: 0, abandoned: 1 });
  const job = await jobRow(pool, jobId);
  expect(job.status).toBe(RUNNING);
  expect(job.num_tasks_completed).toBe(0);
  const [[task]] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [jobId]);
  expect(task.status).toBe(RUNNING);
  expect(await listArchiveIds(archivesDir)).toEqual([]);
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);
});

test('shutting down mid-job releases the lease, so another executor takes over at once', async () => {
  const key = `stop-${Date.now()}/a.log`;
  const body = generateLogs(2 * 1024 * 1024, 9);
  await put(key, body);
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const leaseMs = 60_000;
  const first = startExecutor(settings, pool, { archivesDir, leaseMs, throttleBytesPerSec: 512 * 1024 });
  await waitFor('the job to start archiving', async () => first.logs.some((r) => r.msg === 'archiving'));
  expect(await first.stop()).toEqual({ succeeded: 0, failed: 0, abandoned: 1 });
  const [[lease]] = await pool.query<any[]>('SELECT * FROM compression_executor_leases WHERE job_id = ?', [
    jobId,
  ]);
  expect(Number(lease.lease_expires_ts)).toBe(0);
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);

  // Well within the 60 s lease the first executor held, a second one finishes the job.
  const t0 = Date.now();
  const second = startExecutor(settings, pool, { archivesDir, leaseMs });
  const job = (await waitForJobs(pool, [jobId], 20_000)).get(jobId);
  await second.stop();
  expect(Date.now() - t0).toBeLessThan(leaseMs / 2);
  expect(job.status).toBe(SUCCEEDED);
  expect(second.logs.find((r) => r.msg === 'job claimed')).toMatchObject({ took_over: true, num_claims: 2 });
  const [index] = await archivesOfJob(archivesDir, jobId);
  expect((await extractAll(archivesDir, index)).get(key)!.equals(body)).toBe(true);
});

test('compression ratio on realistic logs', async () => {
  const key = `ratio-${Date.now()}/app.log`;
  const logs = generateLogs(8 * 1024 * 1024, 42);
  await put(key, logs);
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const executor = startExecutor(settings, pool, { archivesDir });
  const job = (await waitForJobs(pool, [jobId])).get(jobId);
  await executor.stop();

  expect(job.status).toBe(SUCCEEDED);
  const ratio = Number(job.uncompressed_size) / Number(job.compressed_size);
  console.log(
    `compression ratio on ${(logs.length / 1024 / 1024).toFixed(1)} MiB of generated logs: ` +
      `${ratio.toFixed(2)}x (${job.uncompressed_size} -> ${job.compressed_size} bytes, gzip level 6)`,
  );
  expect(ratio).toBeGreaterThan(1);
});

describe('a compiled executor process', () => {
  let mainJs: string;
  let buildDir: string;

  beforeAll(() => {
    ({ mainJs, outDir: buildDir } = buildExecutor());
  });
  afterAll(async () => {
    await rm(buildDir, { recursive: true, force: true });
  });

  const childEnv = (extra: Record<string, string> = {}) => ({
    CLP_DB_NAME: settings.db.database,
    CLP_ARCHIVE_DIR: archivesDir,
    CLP_EXECUTOR_LEASE_MS: '1500',
    CLP_EXECUTOR_POLL_INTERVAL_MS: '100',
    ...extra,
  });

  test('killed mid-archive publishes nothing; a second executor takes over and publishes exactly one archive', async () => {
    const key = `kill-${Date.now()}/large input.log`;
    const body = generateLogs(12 * 1024 * 1024, 99);
    await put(key, body);
    const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [key]));

    // Throttled to 2 MiB/s, the 12 MiB input takes ~6 s: plenty of time to kill it mid-write.
    const first = spawnExecutor(
      mainJs,
      ['run'],
      childEnv({ CLP_EXECUTOR_THROTTLE_BYTES_PER_SEC: String(2 << 20) }),
    );
    const claim = await waitFor('the first executor to start archiving', async () =>
      first.logs.find((r) => r.msg === 'archiving' && r.compression_job_id === jobId),
    );
    const stagingData = path.join(archivesDir, STAGING_DIR, String(claim.claim_token), 'archive.data');
    await waitFor(
      'compressed bytes in staging',
      async () => existsSync(stagingData) && (await stat(stagingData)).size > 0,
    );
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    // Killed mid-write: a partial staging archive, nothing published, job still RUNNING.
    const partial = (await stat(stagingData)).size;
    expect(partial).toBeGreaterThan(0);
    expect(await listArchiveIds(archivesDir)).toEqual([]);
    expect((await jobRow(pool, jobId)).status).toBe(RUNNING);
    expect(first.logs.some((r) => r.msg === 'job succeeded')).toBe(false);

    const second = spawnExecutor(mainJs, ['run'], childEnv());
    try {
      const job = (await waitForJobs(pool, [jobId], 60_000)).get(jobId);
      expect(job.status).toBe(SUCCEEDED);
      expect(Number(job.uncompressed_size)).toBe(body.length);
      expect(second.logs.find((r) => r.msg === 'job claimed')).toMatchObject({
        compression_job_id: jobId,
        took_over: true,
        num_claims: 2,
      });

      const archives = await archivesOfJob(archivesDir, jobId);
      expect(archives).toHaveLength(1);
      expect(await listArchiveIds(archivesDir)).toEqual([archives[0].archive_id]);
      // The dead claim's staging directory is gone.
      expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);
      const [tasks] = await pool.query<any[]>(
        'SELECT status FROM compression_tasks WHERE job_id = ? ORDER BY id',
        [jobId],
      );
      expect(tasks.map((t) => t.status)).toEqual([FAILED, SUCCEEDED]);

      // The CLI lists the archive and extracts the file byte for byte.
      const ls = spawnExecutor(mainJs, ['ls', archives[0].archive_id], childEnv());
      expect((await ls.exited).code).toBe(0);
      expect(ls.badLines).toEqual([`${body.length}\t${archives[0].files[0].length}\t${sha(body)}\t${key}`]);
      const out = path.join(archivesDir, 'extracted.log');
      const ex = spawnExecutor(mainJs, ['extract', archives[0].archive_id, key, '--out', out], childEnv());
      expect((await ex.exited).code).toBe(0);
      expect(sha(await readFile(out))).toBe(sha(body));
    } finally {
      second.child.kill('SIGTERM');
    }
    // SIGTERM is a clean shutdown, and everything it printed was a JSON log line.
    expect((await second.exited).code).toBe(0);
    expect(second.logs.at(-1)).toMatchObject({ msg: 'executor stopped', succeeded: 1 });
    for (const c of [first, second]) {
      expect(c.badLines).toEqual([]);
      expect(
        c.stderr.filter(
          (l) => !/ExperimentalWarning|NodeDeprecationWarning|--trace-warnings|upgrade to node/.test(l),
        ),
      ).toEqual([]);
      for (const r of c.logs.filter((l) =>
        ['job claimed', 'archiving', 'job succeeded'].includes(l.msg as string),
      )) {
        expect(r.compression_job_id).toBe(jobId);
      }
    }
  });
});
