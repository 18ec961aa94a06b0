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
import { createS3Client } from '../../src/aws';
import { encodeClpConfig } from '../../src/clp/clp-config';
import { clpCompat, type ClpRelease } from '../../src/clp/compat';
import { compareCodePoints } from '../../src/executor/clp-job-config';
import { claimNextJob, killOrphanedJobs, startTask } from '../../src/executor/job-store';
import { STAGING_DIR } from '../../src/executor/archive';
import { listArchiveIds } from '../../src/executor/archive-reader';
import type { Db } from '../../src/store/db';
import { loadSettings, type Settings } from '../../src/config/settings';
import { createTestBucket, createTestDb } from '../support/stack';
import { eventually } from '../support/wait';
import {
  archivesOfJob,
  buildExecutor,
  extractAll,
  fsJobConfig,
  generateLogs,
  insertIngestedObjects,
  insertJob,
  jobRow,
  s3JobConfig,
  s3ObjectMetadataJobConfig,
  spawnExecutor,
  startExecutor,
  tempDir,
  untilLogged,
  waitForJobs,
  withMountRoot,
} from '../support/executor';

const SUCCEEDED = 2;
const FAILED = 3;
const RUNNING = 1;
const KILLED = 4;
/** CLP's package mounts host /x at /mnt/logs/x in its workers' containers. */
const MOUNT = '/mnt/logs';

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
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Settings as another CLP release line (CLP_COMPAT) would have them. */
const asRelease = (release: ClpRelease): Settings => ({
  ...settings,
  clp: { ...settings.clp, compat: clpCompat(release) },
});

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

  const executor = startExecutor(settings, { archivesDir });
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
  // In the order CLP's scheduler sorts keys (by code point).
  expect(decode(task.clp_paths_to_compress)).toEqual({
    file_paths: [...keys].sort(compareCodePoints).map((k) => `s3://${bucket}/${k}`),
  });
  expect(lease.num_claims).toBe(1);

  // Structured logs: every record is an object; the job's records carry its id.
  const jobLogs = executor.logs.filter((r) => r.compression_job_id === jobId);
  expect(jobLogs.map((r) => r.msg)).toEqual(
    expect.arrayContaining(['job claimed', 'archiving', 'job succeeded']),
  );
  for (const r of executor.logs) expect(typeof r.executor_id).toBe('string');
});

test("fs round trip: paths as CLP's containers see them (under the mount root) are read from the host; path_prefix_to_remove is stripped", async () => {
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
    // The paths and prefix as CLP's workers see them: host `root` is `/mnt/logs<root>`.
    const jobId = await insertJob(
      pool,
      fsJobConfig([MOUNT + path.join(root, 'svc'), MOUNT + path.join(root, 'single.log')], MOUNT + root),
    );
    const executor = startExecutor(withMountRoot(settings, MOUNT), { archivesDir });
    const job = (await waitForJobs(pool, [jobId])).get(jobId);
    await executor.stop();

    expect(job.status).toBe(SUCCEEDED);
    const total = [...files.values()].reduce((n, b) => n + b.length, 0);
    expect(Number(job.original_size)).toBe(total);
    const [[task]] = await pool.query<any[]>('SELECT * FROM compression_tasks WHERE job_id = ?', [jobId]);
    // Local sizes are known before reading, so the task records them from the start.
    expect(Number(task.partition_original_size)).toBe(total);
    // The task lists the paths as CLP's workers see them.
    expect(decode(task.clp_paths_to_compress)).toEqual({
      file_paths: ['svc/a.log', 'svc/nested/b c+d.log', 'single.log'].map((n) => MOUNT + path.join(root, n)),
    });
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
  // Each with a pool of its own, as two processes would have.
  const executors = [0, 1].map((i) =>
    startExecutor(settings, { archivesDir, executorId: `exec-${i}`, pollIntervalMs: 20 }),
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
  }
});

test('a missing object fails its job with a status_msg naming the key, and publishes nothing', async () => {
  const present = `miss-${Date.now()}/present.log`;
  const missing = `miss-${Date.now()}/gone ü+.log`;
  await put(present, Buffer.from('here\n'));
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [present, missing]));
  const executor = startExecutor(settings, { archivesDir });
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
    await encodeClpConfig(
      { input: { type: 's3', keys: [key] }, output: { compression_level: 3 } } as never,
      'zstd',
    ),
  );
  const good = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const executor = startExecutor(settings, { archivesDir });
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

/** What another executor does once this one's lease has lapsed: it KILLs the job (retried until a renewal does not win). */
async function expireAndKill(jobId: number): Promise<void> {
  await eventually(
    async () => {
      await pool.query('UPDATE compression_executor_leases SET lease_expires_ts = 0 WHERE job_id = ?', [
        jobId,
      ]);
      return (await killOrphanedJobs(pool)).some((k) => k.jobId === jobId);
    },
    30_000,
    'another executor to KILL the job',
    50,
  );
}

/**
 * A job of one object that another executor KILLs while this one (with
 * `leaseMs`) archives it; returns once this one has logged `noticed` and
 * stopped, having abandoned the job.
 */
async function killedWhileArchiving(key: string, body: Buffer, leaseMs: number, noticed: string) {
  await put(key, body);
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const executor = startExecutor(settings, { archivesDir, leaseMs, throttleBytesPerSec: 1024 * 1024 });
  await untilLogged(executor, 'archiving');
  await expireAndKill(jobId);
  await untilLogged(executor, noticed);
  expect(await executor.stop()).toEqual({ succeeded: 0, failed: 0, abandoned: 1 });
  return jobId;
}

test('an executor whose job was KILLED under it (its lease lapsed) stops and publishes nothing', async () => {
  const jobId = await killedWhileArchiving(
    `lease-${Date.now()}/slow.log`,
    generateLogs(2 * 1024 * 1024, 7),
    600,
    'job abandoned: lease lost',
  );
  const job = await jobRow(pool, jobId);
  expect(job.status).toBe(KILLED); // untouched since: never re-run, never turned into a success
  expect(job.status_msg).toMatch(/^KILLED: the executor holding this job \(.+\) died/);
  expect(await listArchiveIds(archivesDir)).toEqual([]);
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);
});

test('the finishing transaction refuses to publish for a job KILLED under it unnoticed', async () => {
  // A long lease: no renewal happens before the end, so only the final check can catch it.
  const jobId = await killedWhileArchiving(
    `finish-${Date.now()}/a.log`,
    generateLogs(1024 * 1024, 8),
    60_000,
    'lease lost before publishing; archive discarded',
  );
  const job = await jobRow(pool, jobId);
  expect(job.status).toBe(KILLED);
  expect(job.num_tasks_completed).toBe(0);
  const [[task]] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [jobId]);
  expect(task.status).toBe(FAILED);
  expect(await listArchiveIds(archivesDir)).toEqual([]);
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);
});

test('shutting down mid-job marks it KILLED (as CLP finds it), and no executor runs it again', async () => {
  const key = `stop-${Date.now()}/a.log`;
  const body = generateLogs(2 * 1024 * 1024, 9);
  await put(key, body);
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const leaseMs = 60_000;
  const first = startExecutor(settings, {
    archivesDir,
    leaseMs,
    throttleBytesPerSec: 512 * 1024,
    executorId: 'exec-stopping',
  });
  await untilLogged(first, 'archiving');
  expect(await first.stop()).toEqual({ succeeded: 0, failed: 0, abandoned: 1 });
  const job = await jobRow(pool, jobId);
  expect(job.status).toBe(KILLED);
  expect(job.status_msg).toBe('KILLED: executor exec-stopping shut down while running the job');
  expect(job.duration).toBeGreaterThan(0);
  const [[task]] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [jobId]);
  expect(task.status).toBe(FAILED);
  expect(await listArchiveIds(archivesDir)).toEqual([]);
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);

  // A second executor leaves it alone: the job after it (the submitter's resubmission) runs, it does not.
  const second = startExecutor(settings, { archivesDir, leaseMs });
  const again = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  expect((await waitForJobs(pool, [again])).get(again).status).toBe(SUCCEEDED);
  expect(await second.stop()).toEqual({ succeeded: 1, failed: 0, abandoned: 0 });
  expect(await jobRow(pool, jobId)).toMatchObject({ status: KILLED, status_msg: job.status_msg });
  expect(second.logs.filter((r) => r.msg === 'job claimed').map((r) => r.compression_job_id)).toEqual([
    again,
  ]);
  expect(await archivesOfJob(archivesDir, jobId)).toEqual([]);
  const [index] = await archivesOfJob(archivesDir, again);
  expect((await extractAll(archivesDir, index)).get(key)!.equals(body)).toBe(true);
});

test('a RUNNING job whose executor died (lease expired) becomes KILLED, never re-run; a live lease is left alone', async () => {
  const key = `dead-${Date.now()}/a.log`;
  await put(key, Buffer.from('data\n'));
  // Claimed by executors that are not running: one whose lease lapses at once, one with a long lease.
  const dead = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const deadClaim = (await claimNextJob(pool, 'exec-dead', 300))!;
  expect(deadClaim.jobId).toBe(dead);
  const deadTask = await startTask(pool, deadClaim, [`s3://${bucket}/${key}`], 5);
  // Its half-written archive in the shared archive directory.
  const deadStaging = path.join(archivesDir, STAGING_DIR, deadClaim.claimToken);
  await mkdir(deadStaging, { recursive: true });
  await writeFile(path.join(deadStaging, 'archive.data'), 'partial');
  const alive = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  expect((await claimNextJob(pool, 'exec-alive', 600_000))!.jobId).toBe(alive);
  // RUNNING with no lease at all: nothing of ours holds it (CLP kills these at start-up).
  const [orphan] = await pool.query<any>(
    'INSERT INTO compression_jobs (status, start_time, clp_config) VALUES (?, NOW(3), ?)',
    [RUNNING, await encodeClpConfig(s3JobConfig(settings, bucket, [key]), 'zstd')],
  );
  await eventually(
    async () => {
      const [[r]] = await pool.query<any[]>(
        'SELECT lease_expires_ts < CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED) AS expired FROM compression_executor_leases WHERE job_id = ?',
        [dead],
      );
      return Number(r.expired) === 1;
    },
    30_000,
    'the dead lease to lapse',
    50,
  );
  const later = await insertJob(pool, s3JobConfig(settings, bucket, [key]));

  const executor = startExecutor(settings, { archivesDir });
  // The job after them succeeds, so the executor has been past them all.
  expect((await waitForJobs(pool, [dead, orphan.insertId, later])).get(later).status).toBe(SUCCEEDED);
  const stats = await executor.stop();

  expect(stats).toEqual({ succeeded: 1, failed: 0, abandoned: 0 });
  const deadJob = await jobRow(pool, dead);
  expect(deadJob.status).toBe(KILLED);
  expect(deadJob.status_msg).toBe(
    'KILLED: the executor holding this job (exec-dead) died: its lease expired while the job was RUNNING',
  );
  expect(deadJob.num_tasks_completed).toBe(0);
  const [[task]] = await pool.query<any[]>('SELECT id, status FROM compression_tasks WHERE job_id = ?', [
    dead,
  ]);
  expect(task).toEqual({ id: deadTask, status: FAILED });
  expect(existsSync(deadStaging)).toBe(false);
  expect(await jobRow(pool, orphan.insertId)).toMatchObject({
    status: KILLED,
    status_msg: expect.stringMatching(/^KILLED: RUNNING with no executor holding it/),
  });
  // Never re-run: claimed once, by the dead executor; nothing archived for it.
  const [[lease]] = await pool.query<any[]>(
    'SELECT executor_id, num_claims FROM compression_executor_leases WHERE job_id = ?',
    [dead],
  );
  expect(lease).toEqual({ executor_id: 'exec-dead', num_claims: 1 });
  expect(await archivesOfJob(archivesDir, dead)).toEqual([]);
  expect(executor.logs.filter((r) => r.msg === 'job claimed').map((r) => r.compression_job_id)).toEqual([
    later,
  ]);
  expect(executor.logs.filter((r) => r.msg === 'job KILLED: the executor holding it died')).toEqual([
    expect.objectContaining({ compression_job_id: dead, dead_executor_id: 'exec-dead' }),
    expect.objectContaining({ compression_job_id: orphan.insertId, dead_executor_id: null }),
  ]);
  // The live lease's job is still RUNNING, its executor's to finish.
  expect((await jobRow(pool, alive)).status).toBe(RUNNING);
});

test('compression ratio on realistic logs', async () => {
  const key = `ratio-${Date.now()}/app.log`;
  const logs = generateLogs(8 * 1024 * 1024, 42);
  await put(key, logs);
  const jobId = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
  const executor = startExecutor(settings, { archivesDir });
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

/** Runs the jobs to their end with one executor; returns their rows and the executor's stats. */
async function runJobs(ids: number[], using: Settings = settings) {
  const executor = startExecutor(using, { archivesDir });
  const jobs = await waitForJobs(pool, ids);
  const stats = await executor.stop();
  return { jobs, stats, logs: executor.logs };
}

describe('CLP strictness', () => {
  test("rule 1: a job's endpoint_url is the only endpoint; null (AWS) fails at once when CLP_EXECUTOR_ALLOW_AWS=false", async () => {
    expect(settings.executor.allowAws).toBe(false); // config/local.env: tests never reach AWS
    expect(settings.aws.s3Endpoint).toBeDefined(); // the executor's own endpoint (MinIO), never used for jobs
    const key = `endpoint-${Date.now()}/a.log`;
    await put(key, Buffer.from('present in MinIO\n'));
    const aws = await insertJob(pool, s3JobConfig(settings, bucket, [key], { endpoint_url: null }));
    // A loopback endpoint nothing listens on: the object is in MinIO, but the job does not say MinIO.
    const elsewhere = await insertJob(
      pool,
      s3JobConfig(settings, bucket, [key], { endpoint_url: 'http://127.0.0.1:1' }),
    );
    const good = await insertJob(pool, s3JobConfig(settings, bucket, [key]));
    const { jobs, stats } = await runJobs([aws, elsewhere, good]);

    expect(jobs.get(aws)).toMatchObject({
      status: FAILED,
      status_msg: `endpoint_url is null, so this job would read from AWS S3 (s3://${bucket} in ${settings.aws.region}); this executor may not (CLP_EXECUTOR_ALLOW_AWS=false)`,
      num_tasks: 0,
    });
    expect(jobs.get(elsewhere).status).toBe(FAILED);
    expect(jobs.get(elsewhere).status_msg).toMatch(
      new RegExp(`^s3://${bucket}/${escape(key)}: .*ECONNREFUSED`),
    );
    expect(jobs.get(good).status).toBe(SUCCEEDED);
    expect(stats).toEqual({ succeeded: 1, failed: 2, abandoned: 0 });
    expect(await listArchiveIds(archivesDir)).toHaveLength(1);
  });

  test("rule 2: s3 keys: a duplicate, a key outside key_prefix or ending in / fails the whole job by name; keys run in CLP's order", async () => {
    const prefix = `keys-${Date.now()}/`;
    // Python's (code point) order; JS's default sort would put the emoji first.
    const ordered = [`${prefix}B.log`, `${prefix}a.log`, `${prefix}～.log`, `${prefix}😀.log`];
    for (const k of ordered) await put(k, Buffer.from(`${k}\n`));
    await put(`${prefix}dir/`, Buffer.alloc(0));
    await put(`other-${prefix}x.log`, Buffer.from('x\n'));
    const cfg = (keys: string[]) => s3JobConfig(settings, bucket, keys, { key_prefix: prefix });
    const duplicate = await insertJob(pool, cfg([ordered[1], ordered[0], ordered[1]]));
    const outside = await insertJob(pool, cfg([ordered[0], `other-${prefix}x.log`]));
    const directory = await insertJob(pool, cfg([ordered[0], `${prefix}dir/`]));
    const missing = await insertJob(pool, cfg([ordered[0], `${prefix}gone.log`]));
    const good = await insertJob(pool, cfg([ordered[3], ordered[1], ordered[2], ordered[0]]));
    const { jobs, stats } = await runJobs([duplicate, outside, directory, missing, good]);

    expect(jobs.get(duplicate)).toMatchObject({
      status: FAILED,
      status_msg: `clp_config is invalid at input.keys: duplicate key ${ordered[1]}`,
      num_tasks: 0,
    });
    expect(jobs.get(outside)).toMatchObject({
      status: FAILED,
      status_msg: `clp_config is invalid at input.keys: key other-${prefix}x.log does not start with key_prefix "${prefix}"`,
    });
    expect(jobs.get(directory)).toMatchObject({
      status: FAILED,
      status_msg: `clp_config is invalid at input.keys: key ${prefix}dir/ ends with "/"`,
    });
    expect(jobs.get(missing).status).toBe(FAILED);
    expect(jobs.get(missing).status_msg).toMatch(
      new RegExp(`^s3://${bucket}/${escape(prefix)}gone\\.log: NoSuchKey`),
    );
    expect(jobs.get(good).status).toBe(SUCCEEDED);
    expect(stats).toEqual({ succeeded: 1, failed: 4, abandoned: 0 });
    // Only the good job left an archive, its files in CLP's order.
    expect(await listArchiveIds(archivesDir)).toHaveLength(1);
    const [index] = await archivesOfJob(archivesDir, good);
    expect(index.files.map((f) => f.name)).toEqual(ordered);
    const [[task]] = await pool.query<any[]>('SELECT * FROM compression_tasks WHERE job_id = ?', [good]);
    expect(decode(task.clp_paths_to_compress)).toEqual({
      file_paths: ordered.map((k) => `s3://${bucket}/${k}`),
    });
  });

  test("rule 3: s3_object_metadata reads CLP's query on ingested_s3_object_metadata; missing ids or keys outside key_prefix fail the job", async () => {
    const prefix = `meta-${Date.now()}/`;
    const keys = [`${prefix}b.log`, `${prefix}a.log`, `other-${prefix}c.log`];
    for (const k of keys) await put(k, Buffer.from(`${k}\n`));
    const { ingestionJobId, ids } = await insertIngestedObjects(pool, bucket, keys);
    const other = await insertIngestedObjects(pool, bucket, [`${prefix}a.log`]);
    const cfg = (jobOf: number, idList: number[]) =>
      s3ObjectMetadataJobConfig(settings, bucket, jobOf, idList, { key_prefix: prefix });
    const good = await insertJob(pool, cfg(ingestionJobId, [ids[0], ids[1]]));
    // An id of another ingestion job, and one that does not exist: the query does not return them.
    const missing = await insertJob(pool, cfg(ingestionJobId, [ids[0], other.ids[0], 999_999]));
    const outside = await insertJob(pool, cfg(ingestionJobId, [ids[0], ids[2]]));
    const duplicate = await insertJob(pool, cfg(ingestionJobId, [ids[0], ids[0]]));
    const empty = await insertJob(pool, cfg(ingestionJobId, []));
    const { jobs, stats } = await runJobs([good, missing, outside, duplicate, empty]);

    expect(jobs.get(good).status).toBe(SUCCEEDED);
    const [index] = await archivesOfJob(archivesDir, good);
    expect(index.files.map((f) => f.name)).toEqual([`${prefix}a.log`, `${prefix}b.log`]);
    const extracted = await extractAll(archivesDir, index);
    expect(extracted.get(`${prefix}b.log`)!.toString()).toBe(`${prefix}b.log\n`);
    expect(jobs.get(missing)).toMatchObject({
      status: FAILED,
      status_msg: `ingested_s3_object_metadata has no row for s3_object_metadata_ids ${other.ids[0]}, 999999 with ingestion_job_id ${ingestionJobId}`,
      num_tasks: 0,
    });
    expect(jobs.get(outside)).toMatchObject({
      status: FAILED,
      status_msg: `s3_object_metadata id ${ids[2]}: key other-${prefix}c.log does not start with key_prefix "${prefix}"`,
    });
    expect(jobs.get(duplicate).status_msg).toBe(
      `clp_config is invalid at input.s3_object_metadata_ids: duplicate id ${ids[0]}`,
    );
    expect(jobs.get(empty).status_msg).toMatch(/^clp_config is invalid at input\.s3_object_metadata_ids: /);
    expect(stats).toEqual({ succeeded: 1, failed: 4, abandoned: 0 });
    expect(await listArchiveIds(archivesDir)).toHaveLength(1);
  });

  test('rule 4: the release line (CLP_COMPAT) decides the codec, the input types and the authentication types', async () => {
    const key = `compat-${Date.now()}/a.log`;
    await put(key, Buffer.from('compat\n'));
    const plain = s3JobConfig(settings, bucket, [key]);
    const { ingestionJobId, ids } = await insertIngestedObjects(pool, bucket, [key]);
    const metadata = s3ObjectMetadataJobConfig(settings, bucket, ingestionJobId, ids);
    const withCredentials = s3JobConfig(settings, bucket, [key], {
      aws_authentication: {
        type: 'credentials',
        credentials: {
          access_key_id: settings.aws.credentials!.accessKeyId,
          secret_access_key: settings.aws.credentials!.secretAccessKey,
        },
      },
    });

    // CLP head: zstd only; both S3 input types.
    const head = {
      brotli: await insertJob(pool, plain, 'brotli'),
      zstd: await insertJob(pool, plain, 'zstd'),
      metadata: await insertJob(pool, metadata, 'zstd'),
    };
    const h = await runJobs(Object.values(head), asRelease('head'));
    expect(h.jobs.get(head.brotli)).toMatchObject({
      status: FAILED,
      status_msg: expect.stringMatching(
        /^clp_config cannot be decoded: it is not a zstd frame, and CLP head \(CLP_COMPAT=head\) decodes only zstd/,
      ),
    });
    expect(h.jobs.get(head.zstd).status).toBe(SUCCEEDED);
    expect(h.jobs.get(head.metadata).status).toBe(SUCCEEDED);

    // CLP v0.13: brotli only; both S3 input types (its scheduler takes s3_object_metadata too).
    const v013 = {
      zstd: await insertJob(pool, plain, 'zstd'),
      brotli: await insertJob(pool, plain, 'brotli'),
      metadata: await insertJob(pool, metadata, 'brotli'),
    };
    const m = await runJobs(Object.values(v013), asRelease('0.13'));
    expect(m.jobs.get(v013.zstd).status_msg).toMatch(
      /^clp_config cannot be decoded: it is zstd-compressed, and CLP v0\.13 \(CLP_COMPAT=0\.13\) decodes only brotli/,
    );
    expect(m.jobs.get(v013.brotli).status).toBe(SUCCEEDED);
    expect(m.jobs.get(v013.metadata).status).toBe(SUCCEEDED);

    // CLP v0.10: no s3_object_metadata, no `default` authentication; `credentials` works.
    const v010 = {
      metadata: await insertJob(pool, metadata, 'brotli'),
      default: await insertJob(pool, plain, 'brotli'),
      credentials: await insertJob(pool, withCredentials, 'brotli'),
    };
    const o = await runJobs(Object.values(v010), asRelease('0.10'));
    expect(o.jobs.get(v010.metadata)).toMatchObject({
      status: FAILED,
      status_msg: expect.stringMatching(
        /^clp_config is invalid at input\.type: CLP v0\.10 \(CLP_COMPAT=0\.10\) has no "s3_object_metadata" input/,
      ),
    });
    expect(o.jobs.get(v010.default)).toMatchObject({
      status: FAILED,
      status_msg: expect.stringMatching(
        /^clp_config is invalid at input\.aws_authentication\.type: CLP v0\.10 \(CLP_COMPAT=0\.10\) does not know "default"/,
      ),
    });
    expect(o.jobs.get(v010.credentials).status).toBe(SUCCEEDED);
    expect(await listArchiveIds(archivesDir)).toHaveLength(5);
  });

  test("rule 4: profile authentication reads that AWS profile, not the executor's own credentials", async () => {
    const key = `profile-${Date.now()}/a.log`;
    await put(key, Buffer.from('profile\n'));
    const dir = await tempDir('clp-aws-profile');
    const saved = { file: process.env.AWS_SHARED_CREDENTIALS_FILE, config: process.env.AWS_CONFIG_FILE };
    try {
      const creds = settings.aws.credentials!;
      await writeFile(
        path.join(dir, 'credentials'),
        `[clp-reader]\naws_access_key_id = ${creds.accessKeyId}\naws_secret_access_key = ${creds.secretAccessKey}\n` +
          `[clp-wrong]\naws_access_key_id = not-a-key\naws_secret_access_key = not-a-secret\n`,
      );
      await writeFile(path.join(dir, 'config'), '');
      process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
      process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
      const profile = (name: string) =>
        s3JobConfig(settings, bucket, [key], { aws_authentication: { type: 'profile', profile: name } });
      const reader = await insertJob(pool, profile('clp-reader'));
      // The executor's environment holds valid credentials: only the profile's make this fail.
      const wrong = await insertJob(pool, profile('clp-wrong'));
      const absent = await insertJob(pool, profile('clp-absent'));
      const { jobs } = await runJobs([reader, wrong, absent]);

      expect(jobs.get(reader).status).toBe(SUCCEEDED);
      expect(jobs.get(wrong)).toMatchObject({
        status: FAILED,
        status_msg: expect.stringMatching(new RegExp(`^s3://${bucket}/${escape(key)}: InvalidAccessKeyId`)),
      });
      // A profile that does not exist is no credentials at all (never the executor's own).
      expect(jobs.get(absent)).toMatchObject({
        status: FAILED,
        status_msg: expect.stringMatching(
          new RegExp(`^s3://${bucket}/${escape(key)}: CredentialsProviderError`),
        ),
      });
    } finally {
      for (const [name, value] of [
        ['AWS_SHARED_CREDENTIALS_FILE', saved.file],
        ['AWS_CONFIG_FILE', saved.config],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('rule 5: fs paths outside the mount root, or missing, fail the job as "<path> does not exist"; an empty mount root reads host paths', async () => {
    const root = await tempDir('clp-fs-mount');
    try {
      await writeFile(path.join(root, 'a.log'), 'host file\n');
      const outside = await insertJob(
        pool,
        fsJobConfig([MOUNT + path.join(root, 'a.log'), path.join(root, 'a.log')], null),
      );
      const gone = await insertJob(pool, fsJobConfig([MOUNT + path.join(root, 'gone.log')], MOUNT + root));
      const climbing = await insertJob(pool, fsJobConfig([`${MOUNT}/..${path.join(root, 'a.log')}`], null));
      const good = await insertJob(pool, fsJobConfig([MOUNT + path.join(root, 'a.log')], null));
      const { jobs } = await runJobs([outside, gone, climbing, good], withMountRoot(settings, MOUNT));
      expect(jobs.get(outside)).toMatchObject({
        status: FAILED,
        status_msg: `${path.join(root, 'a.log')} does not exist`,
        num_tasks: 0,
      });
      expect(jobs.get(gone)).toMatchObject({
        status: FAILED,
        status_msg: `${MOUNT}${root}/gone.log does not exist`,
      });
      expect(jobs.get(climbing)).toMatchObject({
        status: FAILED,
        status_msg: `${MOUNT}/..${path.join(root, 'a.log')} does not exist`,
      });
      expect(jobs.get(good).status).toBe(SUCCEEDED);
      // No path_prefix_to_remove: the name is the host path, as it always was.
      const [index] = await archivesOfJob(archivesDir, good);
      expect(index.files.map((f) => f.name)).toEqual([path.join(root, 'a.log').slice(1)]);

      // CLP_FS_MOUNT_ROOT='': CLP sees host paths as they are.
      const unmapped = await insertJob(pool, fsJobConfig([path.join(root, 'a.log')], root));
      const mounted = await insertJob(pool, fsJobConfig([MOUNT + path.join(root, 'a.log')], null));
      const bare = await runJobs([unmapped, mounted], withMountRoot(settings, ''));
      expect(bare.jobs.get(unmapped).status).toBe(SUCCEEDED);
      expect((await archivesOfJob(archivesDir, unmapped))[0].files.map((f) => f.name)).toEqual(['a.log']);
      expect(bare.jobs.get(mounted)).toMatchObject({
        status: FAILED,
        status_msg: `${MOUNT}${root}/a.log does not exist`,
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
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

  test('killed mid-archive publishes nothing; a second executor marks the job KILLED, and runs its resubmission into exactly one archive', async () => {
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
    const claim = await eventually(
      async () => first.logs.find((r) => r.msg === 'archiving' && r.compression_job_id === jobId),
      30_000,
      'the first executor to start archiving',
      50,
    );
    const stagingData = path.join(archivesDir, STAGING_DIR, String(claim.claim_token), 'archive.data');
    await eventually(
      async () => existsSync(stagingData) && (await stat(stagingData)).size > 0,
      30_000,
      'compressed bytes in staging',
      50,
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
    let resubmittedId = -1;
    try {
      // Once the dead executor's lease lapses, the job is KILLED: CLP's verdict on a cluster failure.
      const killed = (await waitForJobs(pool, [jobId], 60_000)).get(jobId);
      expect(killed.status).toBe(KILLED);
      expect(killed.status_msg).toMatch(/^KILLED: the executor holding this job \(.+\) died/);
      expect(await listArchiveIds(archivesDir)).toEqual([]);
      const [tasks] = await pool.query<any[]>(
        'SELECT status FROM compression_tasks WHERE job_id = ? ORDER BY id',
        [jobId],
      );
      expect(tasks.map((t) => t.status)).toEqual([FAILED]);

      // The submitter resubmits the files as a new job, which the second executor runs.
      const resubmitted = (resubmittedId = await insertJob(pool, s3JobConfig(settings, bucket, [key])));
      const job = (await waitForJobs(pool, [resubmitted], 60_000)).get(resubmitted);
      expect(job.status).toBe(SUCCEEDED);
      expect(Number(job.uncompressed_size)).toBe(body.length);
      expect(second.logs.filter((r) => r.msg === 'job claimed')).toEqual([
        expect.objectContaining({ compression_job_id: resubmitted, num_claims: 1 }),
      ]);
      expect(await archivesOfJob(archivesDir, jobId)).toEqual([]);
      const archives = await archivesOfJob(archivesDir, resubmitted);
      expect(archives).toHaveLength(1);
      expect(await listArchiveIds(archivesDir)).toEqual([archives[0].archive_id]);
      // The dead claim's staging directory is gone.
      expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);

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
        expect(r.compression_job_id).toBe(c === first ? jobId : resubmittedId);
      }
    }
  });
});
