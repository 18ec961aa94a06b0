/**
 * The compression executor against the real stack: jobs in MariaDB, inputs in
 * MinIO or on disk, CLP's clp-s writing the archives, CLP's metadata tables
 * registering them. Each test gets its own database (so no executor sees
 * another test's jobs, and datasets start empty) and its own archive
 * directory. Events are counted as a CLP user finds them: by searching the
 * registered archives with the real clp-s.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/aws';
import { encodeClpConfig, type ClpConfig } from '../../src/clp/clp-config';
import { clpCompat, type ClpRelease } from '../../src/clp/compat';
import { datasetTables, findDataset } from '../../src/clp/metadata';
import { clpS3Url } from '../../src/clp/s3-url';
import { decodeTaskPaths, encodeTaskPaths } from '../../src/clp/task-paths';
import { STAGING_DIR } from '../../src/executor/archive-store';
import { compareCodePoints } from '../../src/executor/clp-job-config';
import { claimNextJob, killOrphanedJobs, startTask } from '../../src/executor/job-store';
import type { Db } from '../../src/store/db';
import { loadSettings, type Settings } from '../../src/config/settings';
import { createTestBucket, createTestDb } from '../support/stack';
import { eventually } from '../support/wait';
import {
  buildExecutor,
  datasetArchives,
  fsJobConfig,
  generateLogs,
  insertIngestedObjects,
  insertJob,
  jobRow,
  jsonLogLines,
  s3JobConfig,
  s3ObjectMetadataJobConfig,
  spawnExecutor,
  startExecutor,
  tempDir,
  untilLogged,
  waitForJobs,
  withMountRoot,
} from '../support/executor';

const RUNNING = 1;
const SUCCEEDED = 2;
const FAILED = 3;
const KILLED = 4;
/** The production executor wrapped by the fault harness (crash points from the environment). */
const EXECUTOR_HARNESS = path.resolve(__dirname, '../support/fault-harness/executor.js');
/** CLP's package mounts host /x at /mnt/logs/x in its workers' containers. */
const MOUNT = '/mnt/logs';
/** jsonLogLines' first event (its `ts` is in epoch ms; event i is i seconds later). */
const T0 = Date.UTC(2024, 4, 17);

let s3: S3Client;
let bucket: string;
let settings: Settings;
let pool: Db;
let drop: () => Promise<void>;
let archivesDir: string;
/** Directories a test made besides its archive directory, removed after it. */
let scratch: string[] = [];

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
  for (const dir of [archivesDir, ...scratch]) await rm(dir, { recursive: true, force: true });
  scratch = [];
});

afterAll(() => s3.destroy());

async function put(key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A job for MinIO as CLP needs it: the job's endpoint and no region_code
 * (CLP would put a region into the endpoint's host name). The cast: the
 * ClpConfig type does not allow null region_code, which CLP's model does.
 */
const NO_REGION = null as unknown as string;
type S3Overrides = Parameters<typeof s3JobConfig>[3];
const s3Job = (keys: string[], overrides: S3Overrides = {}): ClpConfig =>
  s3JobConfig(settings, bucket, keys, { region_code: NO_REGION, timestamp_key: 'ts', ...overrides });
const metadataJob = (ingestionJobId: number, ids: number[], overrides: S3Overrides = {}): ClpConfig =>
  s3ObjectMetadataJobConfig(settings, bucket, ingestionJobId, ids, {
    region_code: NO_REGION,
    timestamp_key: 'ts',
    ...overrides,
  });
const fsJob = (paths: string[], prefix: string | null, dataset: string): ClpConfig => {
  const config = fsJobConfig(paths, prefix);
  return { ...config, input: { ...config.input, dataset, timestamp_key: 'ts' } };
};
/** The URL clp-s reads a key of the test bucket from (CLP's rule), which it records as the file's name. */
const urlOf = (key: string) => clpS3Url(settings.aws.s3Endpoint, null, bucket, key);

/** Settings as another CLP release line (CLP_COMPAT) would have them. */
const asRelease = (release: ClpRelease): Settings => ({
  ...settings,
  clp: { ...settings.clp, compat: clpCompat(release) },
});

const execFileP = promisify(execFile);

/** A KQL string literal (`*` and `?` are wildcards in it). */
const kql = (s: string) => `"${s.replace(/[\\"*?]/g, '\\$&')}"`;

/**
 * Every event clp-s's search finds for `query` in the dataset's registered
 * archives (only those count, as in CLP: its search reads the archives table).
 */
async function search(dataset: string, query: string): Promise<Record<string, unknown>[]> {
  const ds = await findDataset(pool, dataset);
  if (!ds) return [];
  const [rows] = await pool.query<any[]>(`SELECT id FROM \`${datasetTables(dataset).archives}\``);
  const events: Record<string, unknown>[] = [];
  for (const r of rows) {
    const { stdout } = await execFileP(
      settings.executor.clpS,
      ['s', ds.archiveStorageDirectory, query, '--archive-id', String(r.id)],
      { maxBuffer: 1 << 30 },
    );
    for (const line of stdout.split('\n')) if (line.trim()) events.push(JSON.parse(line));
  }
  return events;
}

/** The events' `seq`s in order (a seq found twice shows up twice). */
const seqsOf = (events: Record<string, unknown>[]) => events.map((e) => Number(e.seq)).sort((a, b) => a - b);
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** Entries of the dataset's archive directory (placed archives, registered or not). */
async function placed(dataset: string): Promise<string[]> {
  return readdir(path.join(archivesDir, dataset)).catch(() => []);
}

/** Nothing left in staging: every claim cleans up after itself. */
async function expectStagingEmpty(): Promise<void> {
  expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);
}

test('S3 round trip: JSON objects with odd but URL-safe keys, a multi-MB one and an empty one; every event found once, in its file', async () => {
  const prefix = `rt-${Date.now()}/`;
  const objects = new Map<string, Buffer>([
    [`${prefix}app-one.jsonl`, jsonLogLines(500, 0, 'app')],
    [`${prefix}a+b=c&d.jsonl`, jsonLogLines(3, 500, 'plus')],
    [`${prefix}x(1)_y-z~!'.jsonl`, jsonLogLines(3, 503, 'punct')],
    [`${prefix}ünïcødé/日本語ログ.jsonl`, jsonLogLines(100, 506, 'unicode')],
    [`${prefix}big.jsonl`, jsonLogLines(70_000, 1_000, 'big')],
    [`${prefix}empty.jsonl`, Buffer.alloc(0)],
  ]);
  const firstSeq = new Map([...objects.keys()].map((k, i) => [k, [0, 500, 503, 506, 1_000, 0][i]]));
  for (const [key, body] of objects) await put(key, body);
  expect(objects.get(`${prefix}big.jsonl`)!.length).toBeGreaterThan(5 * 1024 * 1024);
  const keys = [...objects.keys()];
  const jobId = await insertJob(pool, s3Job(keys, { dataset: 'ds_rt' }));

  const executor = startExecutor(settings, { archivesDir });
  const job = (await waitForJobs(pool, [jobId])).get(jobId);
  const stats = await executor.stop();

  expect([job.status, job.status_msg]).toEqual([SUCCEEDED, '']);
  expect([job.num_tasks, job.num_tasks_completed]).toEqual([1, 1]);
  expect(job.start_time).toBeInstanceOf(Date);
  expect(job.duration).toBeGreaterThan(0);
  expect(stats).toEqual({ succeeded: 1, failed: 0, abandoned: 0 });

  // Every event found exactly once, each in the file it was uploaded in (clp-s records the URL it read).
  const archives = await datasetArchives(pool, settings, 'ds_rt');
  expect(archives.length).toBeGreaterThanOrEqual(1);
  const all = archives.flatMap((a) => a.events);
  expect(seqsOf(all)).toEqual([...range(0, 606), ...range(1_000, 70_000)]);
  for (const [key, body] of objects) {
    const lines = body.length ? body.toString().trimEnd().split('\n').length : 0;
    expect(seqsOf(await search('ds_rt', `$_filename: ${kql(urlOf(key))}`))).toEqual(
      range(firstSeq.get(key)!, lines),
    );
  }
  // clp-s parsed the events, not lines: a field search finds the ERROR events only.
  expect(seqsOf(await search('ds_rt', 'level: "ERROR" AND tag: "big"'))).toEqual(
    range(1_000, 70_000).filter((i) => i % 10 === 0),
  );
  expect(Math.min(...archives.map((a) => a.begin_timestamp))).toBe(T0);
  expect(Math.max(...archives.map((a) => a.end_timestamp))).toBe(T0 + 70_999_000);

  // The job's and the task's sizes are the archives' sums; clp-s's uncompressed size is the input's.
  const total = [...objects.values()].reduce((n, b) => n + b.length, 0);
  const compressed = archives.reduce((n, a) => n + a.size, 0);
  expect(Number(job.uncompressed_size)).toBe(total);
  expect(Number(job.compressed_size)).toBe(compressed);
  expect(compressed).toBeLessThan(total / 5);
  // Placed where CLP keeps them: <archive dir>/<dataset>/<archive id>, directories (not single files).
  expect((await placed('ds_rt')).sort()).toEqual(archives.map((a) => a.id).sort());
  // Their sizes are what is on disk.
  for (const a of archives) {
    const dir = path.join(archivesDir, 'ds_rt', a.id);
    let onDisk = 0;
    for (const f of await readdir(dir)) onDisk += (await stat(path.join(dir, f))).size;
    expect(onDisk).toBe(a.size);
  }
  await expectStagingEmpty();

  const [[task], [lease]] = await Promise.all([
    pool.query<any[]>('SELECT * FROM compression_tasks WHERE job_id = ?', [jobId]).then(([r]) => r),
    pool.query<any[]>('SELECT * FROM compression_executor_leases WHERE job_id = ?', [jobId]).then(([r]) => r),
  ]);
  expect(task.status).toBe(SUCCEEDED);
  expect(Number(task.partition_original_size)).toBe(total);
  expect(Number(task.partition_uncompressed_size)).toBe(total);
  expect(Number(task.partition_compressed_size)).toBe(compressed);
  expect(task.duration).toBeGreaterThan(0);
  // The keys, in the order CLP's scheduler sorts them (by code point), with their sizes, as CLP's task rows hold them.
  const sorted = [...keys].sort(compareCodePoints);
  expect(await decodeTaskPaths(task.clp_paths_to_compress)).toEqual({
    file_paths: sorted,
    group_ids: sorted.map((_, i) => i),
    st_sizes: sorted.map((k) => objects.get(k)!.length),
  });
  expect(lease.num_claims).toBe(1);

  // Structured logs: every record is an object; the job's records carry its id.
  const jobLogs = executor.logs.filter((r) => r.compression_job_id === jobId);
  expect(jobLogs.map((r) => r.msg)).toEqual(
    expect.arrayContaining(['job claimed', 'compressing', 'task succeeded', 'job succeeded']),
  );
  expect(jobLogs.find((r) => r.msg === 'task succeeded')).toMatchObject({
    num_files: keys.length,
    archives: archives.map((a) => a.id),
    uncompressed_size: total,
    compressed_size: compressed,
  });
  for (const r of executor.logs) expect(typeof r.executor_id).toBe('string');
});

test("fs round trip: paths as CLP's containers see them (under the mount root) are read from the host; clp-s records the host path", async () => {
  const root = await tempDir('clp-fs-input');
  try {
    const files = new Map<string, Buffer>([
      ['svc/a.jsonl', jsonLogLines(2_000, 0, 'a')],
      ['svc/nested/b c+d.jsonl', jsonLogLines(10, 2_000, 'b')],
      ['single.jsonl', jsonLogLines(500, 2_010, 's')],
    ]);
    const firstSeq = new Map([
      ['svc/a.jsonl', 0],
      ['svc/nested/b c+d.jsonl', 2_000],
      ['single.jsonl', 2_010],
    ]);
    for (const [name, body] of files) {
      await mkdir(path.dirname(path.join(root, name)), { recursive: true });
      await writeFile(path.join(root, name), body);
    }
    // The paths and prefix as CLP's workers see them: host `root` is `/mnt/logs<root>`.
    const jobId = await insertJob(
      pool,
      fsJob([MOUNT + path.join(root, 'svc'), MOUNT + path.join(root, 'single.jsonl')], MOUNT + root, 'ds_fs'),
    );
    const executor = startExecutor(withMountRoot(settings, MOUNT), { archivesDir });
    const job = (await waitForJobs(pool, [jobId])).get(jobId);
    await executor.stop();

    expect([job.status, job.status_msg]).toEqual([SUCCEEDED, '']);
    const total = [...files.values()].reduce((n, b) => n + b.length, 0);
    expect(Number(job.uncompressed_size)).toBe(total);
    const [[task]] = await pool.query<any[]>('SELECT * FROM compression_tasks WHERE job_id = ?', [jobId]);
    expect(Number(task.partition_original_size)).toBe(total);
    // The task lists the paths as CLP's workers see them, in walk order.
    const names = ['svc/a.jsonl', 'svc/nested/b c+d.jsonl', 'single.jsonl'];
    expect(await decodeTaskPaths(task.clp_paths_to_compress)).toEqual({
      file_paths: names.map((n) => MOUNT + path.join(root, n)),
      group_ids: [0, 1, 2],
      st_sizes: names.map((n) => files.get(n)!.length),
    });

    // Every event once; each file's events under the host path clp-s read it from (CLP's would
    // record /mnt/logs<host path>, the path inside its container). path_prefix_to_remove is not
    // applied: CLP's clp-s command does not use it.
    expect(seqsOf(await search('ds_fs', '*'))).toEqual(range(0, 2_510));
    for (const [name, body] of files) {
      const hostPath = path.join(root, name);
      expect(seqsOf(await search('ds_fs', `$_filename: ${kql(hostPath)}`))).toEqual(
        range(firstSeq.get(name)!, body.toString().trimEnd().split('\n').length),
      );
    }
    expect(await search('ds_fs', `$_filename: ${kql(MOUNT + path.join(root, 'single.jsonl'))}`)).toEqual([]);
    expect(await search('ds_fs', `$_filename: "single.jsonl"`)).toEqual([]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('two executors on one queue of 50 jobs run each job exactly once', async () => {
  const keys: string[] = [];
  const prefix = `q-${Date.now()}/`;
  for (let i = 0; i < 5; i++) {
    keys.push(`${prefix}obj-${i}.jsonl`);
    await put(keys[i], jsonLogLines(200, i * 200, `obj${i}`));
  }
  // Job i reads objects i%5 and (i+1)%5 into dataset ds_<i%5>: ten jobs per dataset.
  const ids: number[] = [];
  for (let i = 0; i < 50; i++) {
    ids.push(await insertJob(pool, s3Job([keys[i % 5], keys[(i + 1) % 5]], { dataset: `ds_${i % 5}` })));
  }
  // Each with a pool of its own, as two processes would have.
  const executors = [0, 1].map((i) =>
    startExecutor(settings, { archivesDir, executorId: `exec-${i}`, pollIntervalMs: 20 }),
  );
  try {
    const jobs = await waitForJobs(pool, ids, 180_000);
    const stats = await Promise.all(executors.map((e) => e.stop()));
    expect([...jobs.values()].filter((j) => j.status !== SUCCEEDED)).toEqual([]);
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
    expect(new Set(leases.map((l) => l.executor_id))).toEqual(new Set(['exec-0', 'exec-1']));

    // Per dataset: ten archives (one per job, no job twice, none lost), each with exactly its
    // job's two objects' events; both executors adding the same new datasets agreed.
    for (let d = 0; d < 5; d++) {
      const archives = await datasetArchives(pool, settings, `ds_${d}`);
      expect(archives).toHaveLength(10);
      const expected = [...range(d * 200, 200), ...range(((d + 1) % 5) * 200, 200)].sort((a, b) => a - b);
      for (const a of archives) expect(seqsOf(a.events)).toEqual(expected);
      expect((await placed(`ds_${d}`)).sort()).toEqual(archives.map((a) => a.id).sort());
    }
    const [datasets] = await pool.query<any[]>('SELECT name FROM clp_datasets ORDER BY name');
    expect(datasets.map((r) => r.name)).toEqual(['ds_0', 'ds_1', 'ds_2', 'ds_3', 'ds_4']);
    await expectStagingEmpty();
  } finally {
    await Promise.all(executors.map((e) => e.stop()));
  }
});

test('a missing object fails its s3 job before any task, naming the key; nothing is registered', async () => {
  const present = `miss-${Date.now()}/present.jsonl`;
  const missing = `miss-${Date.now()}/gone ü+.jsonl`;
  await put(present, jsonLogLines(5));
  const jobId = await insertJob(pool, s3Job([present, missing], { dataset: 'ds_miss' }));
  const executor = startExecutor(settings, { archivesDir });
  const job = (await waitForJobs(pool, [jobId])).get(jobId);
  const stats = await executor.stop();

  // The keys are HEADed first: CLP's scheduler fails the whole job when one no longer exists.
  expect(job).toMatchObject({
    status: FAILED,
    status_msg: `s3://${bucket}/${missing} does not exist`,
    num_tasks: 0,
    num_tasks_completed: 0,
  });
  expect(stats).toEqual({ succeeded: 0, failed: 1, abandoned: 0 });
  const [tasks] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [jobId]);
  expect(tasks).toEqual([]);
  expect(await datasetArchives(pool, settings, 'ds_miss')).toEqual([]);
  expect(await placed('ds_miss')).toEqual([]);
  await expectStagingEmpty();
  expect(executor.logs.find((r) => r.msg === 'job failed')).toMatchObject({
    compression_job_id: jobId,
    status_msg: job.status_msg,
  });
});

test('a corrupt or invalid clp_config fails only that job; the next job still succeeds', async () => {
  const key = `cfg-${Date.now()}/ok.jsonl`;
  await put(key, jsonLogLines(7));
  const garbage = await insertJob(pool, randomBytes(64));
  const wrongShape = await insertJob(
    pool,
    await encodeClpConfig(
      { input: { type: 's3', keys: [key] }, output: { compression_level: 3 } } as never,
      'zstd',
    ),
  );
  const good = await insertJob(pool, s3Job([key], { dataset: 'ds_cfg' }));
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
  expect(seqsOf(await search('ds_cfg', '*'))).toEqual(range(0, 7));
  // The failed jobs named no dataset that exists: only the good one's.
  const [datasets] = await pool.query<any[]>('SELECT name FROM clp_datasets');
  expect(datasets.map((r) => r.name)).toEqual(['ds_cfg']);
});

/**
 * The real clp-s behind a gate: `clp-s c` waits to start while the gate file
 * exists (having touched `started`), so a test can act while a task is
 * RUNNING and its clp-s run is under way. Everything else runs clp-s as is.
 */
async function gatedClpS(): Promise<{ settings: Settings; started: string; open: () => Promise<void> }> {
  const dir = await tempDir('clp-s-gate');
  scratch.push(dir);
  const gate = path.join(dir, 'gate');
  const started = path.join(dir, 'started');
  const script = path.join(dir, 'clp-s');
  await writeFile(gate, '');
  await writeFile(
    script,
    [
      '#!/bin/sh',
      'if [ "$1" = c ]; then',
      `  : > '${started}'`,
      `  while [ -e '${gate}' ]; do sleep 0.05; done`,
      'fi',
      `exec '${settings.executor.clpS}' "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(script, 0o755);
  return {
    settings: { ...settings, executor: { ...settings.executor, clpS: script } },
    started,
    open: () => rm(gate, { force: true }),
  };
}

/** Waits until the job is RUNNING with a RUNNING task whose clp-s run has started (held at the gate). */
async function untilClpSRunning(jobId: number, started: string): Promise<void> {
  await eventually(
    async () => {
      const [rows] = await pool.query<any[]>(
        `SELECT t.status FROM compression_tasks t JOIN compression_jobs j ON j.id = t.job_id
         WHERE j.id = ? AND j.status = ?`,
        [jobId, RUNNING],
      );
      return rows.length === 1 && rows[0].status === RUNNING && existsSync(started);
    },
    30_000,
    "the job's task to be RUNNING with clp-s started",
    50,
  );
}

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
 * A job that another executor KILLs while this one (with `leaseMs`) has its
 * task's clp-s running; the gate opens once it is KILLED. Returns once this
 * one has logged `job abandoned: lease lost` and stopped, having abandoned the job.
 */
async function killedWhileCompressing(dataset: string, leaseMs: number, renewalNoticesFirst = false) {
  const key = `lease-${dataset}-${Date.now()}/a.jsonl`;
  await put(key, jsonLogLines(1_000));
  const jobId = await insertJob(pool, s3Job([key], { dataset }));
  const clpS = await gatedClpS();
  const executor = startExecutor(clpS.settings, { archivesDir, leaseMs });
  await untilClpSRunning(jobId, clpS.started);
  await expireAndKill(jobId);
  // With a short lease, the gate opens only once a renewal has seen the KILL (else the race with
  // clp-s's end decides which check catches it).
  if (renewalNoticesFirst) await untilLogged(executor, 'lease lost');
  await clpS.open();
  await untilLogged(executor, 'job abandoned: lease lost');
  expect(await executor.stop()).toEqual({ succeeded: 0, failed: 0, abandoned: 1 });
  const abandoned = executor.logs.find((r) => r.msg === 'job abandoned: lease lost')!;
  return { jobId, abandoned };
}

test('an executor whose job was KILLED under it (its lease lapsed) stops clp-s and registers nothing', async () => {
  // A short lease: a renewal notices the KILL while clp-s is held at the gate.
  const { jobId, abandoned } = await killedWhileCompressing('ds_lapsed', 600, true);
  expect(abandoned.error).toMatch(/is no longer RUNNING/);
  const job = await jobRow(pool, jobId);
  expect(job.status).toBe(KILLED); // untouched since: never re-run, never turned into a success
  expect(job.status_msg).toMatch(/^KILLED: the executor holding this job \(.+\) died/);
  expect(job.num_tasks_completed).toBe(0);
  const [[task]] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [jobId]);
  expect(task.status).toBe(FAILED);
  expect(await datasetArchives(pool, settings, 'ds_lapsed')).toEqual([]);
  expect(await placed('ds_lapsed')).toEqual([]);
  await expectStagingEmpty();
});

test("the registering transaction refuses a task whose job was KILLED under it unnoticed; the placed archives don't stay", async () => {
  // A long lease: no renewal happens before the end, so only commitTask's lease check can catch it.
  const { jobId, abandoned } = await killedWhileCompressing('ds_unnoticed', 60_000);
  expect(abandoned.error).toMatch(/lease lost before registering the archives/);
  const job = await jobRow(pool, jobId);
  expect(job.status).toBe(KILLED);
  expect([job.num_tasks_completed, Number(job.uncompressed_size), Number(job.compressed_size)]).toEqual([
    0, 0, 0,
  ]);
  const [[task]] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [jobId]);
  expect(task.status).toBe(FAILED);
  expect(await datasetArchives(pool, settings, 'ds_unnoticed')).toEqual([]);
  // clp-s wrote the archive and it was placed, but its registration did not commit: it is removed.
  expect(await placed('ds_unnoticed')).toEqual([]);
  await expectStagingEmpty();
});

test('shutting down mid-job marks it KILLED (as CLP finds it), and no executor runs it again', async () => {
  const key = `stop-${Date.now()}/a.jsonl`;
  await put(key, jsonLogLines(1_000));
  const jobId = await insertJob(pool, s3Job([key], { dataset: 'ds_stop' }));
  const leaseMs = 60_000;
  const clpS = await gatedClpS();
  const first = startExecutor(clpS.settings, { archivesDir, leaseMs, executorId: 'exec-stopping' });
  await untilClpSRunning(jobId, clpS.started);
  // The gate stays shut: shutdown itself must end the clp-s run.
  expect(await first.stop()).toEqual({ succeeded: 0, failed: 0, abandoned: 1 });
  await clpS.open();
  const job = await jobRow(pool, jobId);
  expect(job.status).toBe(KILLED);
  expect(job.status_msg).toBe('KILLED: executor exec-stopping shut down while running the job');
  expect(job.duration).toBeGreaterThan(0);
  const [[task]] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [jobId]);
  expect(task.status).toBe(FAILED);
  expect(await datasetArchives(pool, settings, 'ds_stop')).toEqual([]);
  expect(await placed('ds_stop')).toEqual([]);
  await expectStagingEmpty();

  // A second executor leaves it alone: the job after it (the submitter's resubmission) runs, it does not.
  const second = startExecutor(settings, { archivesDir, leaseMs });
  const again = await insertJob(pool, s3Job([key], { dataset: 'ds_stop' }));
  expect((await waitForJobs(pool, [again])).get(again).status).toBe(SUCCEEDED);
  expect(await second.stop()).toEqual({ succeeded: 1, failed: 0, abandoned: 0 });
  expect(await jobRow(pool, jobId)).toMatchObject({ status: KILLED, status_msg: job.status_msg });
  expect(second.logs.filter((r) => r.msg === 'job claimed').map((r) => r.compression_job_id)).toEqual([
    again,
  ]);
  // Every event once: the resubmission's archive is the only one.
  const archives = await datasetArchives(pool, settings, 'ds_stop');
  expect(archives).toHaveLength(1);
  expect(seqsOf(archives[0].events)).toEqual(range(0, 1_000));
});

test('a RUNNING job whose executor died (lease expired) becomes KILLED, never re-run; a live lease is left alone', async () => {
  const key = `dead-${Date.now()}/a.jsonl`;
  await put(key, jsonLogLines(3));
  // Claimed by executors that are not running: one whose lease lapses at once, one with a long lease.
  const dead = await insertJob(pool, s3Job([key], { dataset: 'ds_dead' }));
  const deadClaim = (await claimNextJob(pool, 'exec-dead', 300))!;
  expect(deadClaim.jobId).toBe(dead);
  const deadTask = await startTask(
    pool,
    deadClaim,
    await encodeTaskPaths({ file_paths: [key], group_ids: [0], st_sizes: [5] }, 'zstd'),
    5,
  );
  // Its half-written archive in the shared archive directory's staging.
  const deadStaging = path.join(archivesDir, STAGING_DIR, deadClaim.claimToken);
  await mkdir(path.join(deadStaging, `task-${deadTask}`, 'archives', 'half-written'), { recursive: true });
  await writeFile(path.join(deadStaging, `task-${deadTask}`, 'archives', 'half-written', '0'), 'partial');
  const alive = await insertJob(pool, s3Job([key], { dataset: 'ds_alive' }));
  expect((await claimNextJob(pool, 'exec-alive', 600_000))!.jobId).toBe(alive);
  // RUNNING with no lease at all: nothing of ours holds it (CLP kills these at start-up).
  const [orphan] = await pool.query<any>(
    'INSERT INTO compression_jobs (status, start_time, clp_config) VALUES (?, NOW(3), ?)',
    [RUNNING, await encodeClpConfig(s3Job([key], { dataset: 'ds_orphan' }), 'zstd')],
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
  const later = await insertJob(pool, s3Job([key], { dataset: 'ds_later' }));

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
  // Never re-run: claimed once, by the dead executor; nothing compressed for it or the orphan.
  const [[lease]] = await pool.query<any[]>(
    'SELECT executor_id, num_claims FROM compression_executor_leases WHERE job_id = ?',
    [dead],
  );
  expect(lease).toEqual({ executor_id: 'exec-dead', num_claims: 1 });
  expect(await findDataset(pool, 'ds_dead')).toBeNull();
  expect(await findDataset(pool, 'ds_orphan')).toBeNull();
  expect(seqsOf(await search('ds_later', '*'))).toEqual([0, 1, 2]);
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

/**
 * generateLogs' text lines as the JSON records an application would log:
 * timestamp, level, thread, logger and message (a stack trace's lines stay
 * in its record's message).
 */
function asJsonRecords(text: Buffer): { body: Buffer; records: Record<string, string>[] } {
  const head = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (\w+)\s+\[([^\]]+)\] (\S+) - (.*)$/;
  const records: Record<string, string>[] = [];
  for (const line of text.toString('utf8').split('\n')) {
    const m = head.exec(line);
    if (m) records.push({ timestamp: m[1], level: m[2], thread: m[3], logger: m[4], message: m[5] });
    else if (line) records[records.length - 1].message += `\n${line}`;
  }
  return { body: Buffer.from(records.map((r) => JSON.stringify(r) + '\n').join('')), records };
}

test('compression ratio on realistic logs', async () => {
  const text = generateLogs(8 * 1024 * 1024, 42);
  const { body, records } = asJsonRecords(text);
  const key = `ratio-${Date.now()}/app.jsonl`;
  await put(key, body);
  const jobId = await insertJob(pool, s3Job([key], { dataset: 'ds_ratio', timestamp_key: 'timestamp' }));
  const executor = startExecutor(settings, { archivesDir });
  const job = (await waitForJobs(pool, [jobId], 120_000)).get(jobId);
  await executor.stop();

  expect([job.status, job.status_msg]).toEqual([SUCCEEDED, '']);
  expect(Number(job.uncompressed_size)).toBe(body.length);
  const ratio = Number(job.uncompressed_size) / Number(job.compressed_size);
  const gzipRatio = body.length / gzipSync(body, { level: 6 }).length;
  console.log(
    `clp-s compression ratio on ${(body.length / 1024 / 1024).toFixed(1)} MiB of generated JSON logs ` +
      `(${records.length} records from ${(text.length / 1024 / 1024).toFixed(1)} MiB of text): ` +
      `${ratio.toFixed(2)}x (${job.uncompressed_size} -> ${job.compressed_size} bytes, level 3); ` +
      `${(text.length / Number(job.compressed_size)).toFixed(2)}x against the text; gzip -6 on the same JSON: ${gzipRatio.toFixed(2)}x`,
  );
  expect(ratio).toBeGreaterThan(5);
  // The input and clp-s are fixed, so this is stable: clp-s beats gzip -6 on the same records.
  expect(ratio).toBeGreaterThan(gzipRatio);
  // Nothing was lost for it: every record is found, and a field search finds exactly the ERROR records.
  const archives = await datasetArchives(pool, settings, 'ds_ratio');
  expect(archives.reduce((n, a) => n + a.events.length, 0)).toBe(records.length);
  const errors = records.filter((r) => r.level === 'ERROR');
  expect((await search('ds_ratio', 'level: "ERROR"')).length).toBe(errors.length);
  // The timestamp key was honoured: the archives span the records' timestamps.
  expect(Math.min(...archives.map((a) => a.begin_timestamp))).toBe(Date.parse(records[0].timestamp));
  expect(Math.max(...archives.map((a) => a.end_timestamp))).toBe(Date.parse(records.at(-1)!.timestamp));
});

/** Runs the jobs to their end with one executor; returns their rows and the executor's stats. */
async function runJobs(ids: number[], using: Settings = settings) {
  const executor = startExecutor(using, { archivesDir });
  const jobs = await waitForJobs(pool, ids);
  const stats = await executor.stop();
  return { jobs, stats, logs: executor.logs };
}

/** The registered archives of every dataset: [dataset, archive count] pairs. */
async function archiveCounts(): Promise<[string, number][]> {
  const [datasets] = await pool.query<any[]>('SELECT name FROM clp_datasets ORDER BY name').catch(() => [[]]);
  const out: [string, number][] = [];
  for (const d of datasets as any[]) {
    const [[r]] = await pool.query<any[]>(`SELECT COUNT(*) AS n FROM \`${datasetTables(d.name).archives}\``);
    out.push([d.name, Number(r.n)]);
  }
  return out;
}

describe('CLP strictness', () => {
  test("rule 1: a job's endpoint_url is the only endpoint; null (AWS) fails at once when CLP_EXECUTOR_ALLOW_AWS=false", async () => {
    expect(settings.executor.allowAws).toBe(false); // config/local.env: tests never reach AWS
    expect(settings.aws.s3Endpoint).toBeDefined(); // the executor's own endpoint (MinIO), never used for jobs
    const key = `endpoint-${Date.now()}/a.jsonl`;
    await put(key, jsonLogLines(4));
    const aws = await insertJob(pool, s3Job([key], { endpoint_url: null, region_code: 'us-east-1' }));
    // A loopback endpoint nothing listens on: the object is in MinIO, but the job does not say MinIO.
    const elsewhere = await insertJob(pool, s3Job([key], { endpoint_url: 'http://127.0.0.1:1' }));
    const good = await insertJob(pool, s3Job([key], { dataset: 'ds_good' }));
    const { jobs, stats } = await runJobs([aws, elsewhere, good]);

    expect(jobs.get(aws)).toMatchObject({
      status: FAILED,
      status_msg: `endpoint_url is null, so this job would read from AWS S3 (s3://${bucket} in us-east-1); this executor may not (CLP_EXECUTOR_ALLOW_AWS=false)`,
      num_tasks: 0,
    });
    expect(jobs.get(elsewhere).status).toBe(FAILED);
    expect(jobs.get(elsewhere).status_msg).toMatch(
      new RegExp(`^s3://${bucket}/${escape(key)}: .*ECONNREFUSED`),
    );
    expect(jobs.get(good).status).toBe(SUCCEEDED);
    expect(stats).toEqual({ succeeded: 1, failed: 2, abandoned: 0 });
    expect(await archiveCounts()).toEqual([['ds_good', 1]]);
    expect(seqsOf(await search('ds_good', '*'))).toEqual(range(0, 4));
  });

  test("rule 2: s3 keys: a duplicate, a key outside key_prefix or ending in /, or a missing one fails the whole job by name; keys run in CLP's order", async () => {
    const prefix = `keys-${Date.now()}/`;
    // Python's (code point) order; JS's default sort would put the emoji first.
    const ordered = [`${prefix}B.jsonl`, `${prefix}a.jsonl`, `${prefix}～.jsonl`, `${prefix}😀.jsonl`];
    for (const [i, k] of ordered.entries()) await put(k, jsonLogLines(10, i * 10, k));
    await put(`${prefix}dir/`, Buffer.alloc(0));
    await put(`other-${prefix}x.jsonl`, jsonLogLines(1));
    const cfg = (keys: string[], dataset = 'default') => s3Job(keys, { key_prefix: prefix, dataset });
    const duplicate = await insertJob(pool, cfg([ordered[1], ordered[0], ordered[1]]));
    const outside = await insertJob(pool, cfg([ordered[0], `other-${prefix}x.jsonl`]));
    const directory = await insertJob(pool, cfg([ordered[0], `${prefix}dir/`]));
    const missing = await insertJob(pool, cfg([ordered[0], `${prefix}gone.jsonl`]));
    const good = await insertJob(pool, cfg([ordered[3], ordered[1], ordered[2], ordered[0]], 'ds_good'));
    const { jobs, stats } = await runJobs([duplicate, outside, directory, missing, good]);

    expect(jobs.get(duplicate)).toMatchObject({
      status: FAILED,
      status_msg: `clp_config is invalid at input.keys: duplicate key ${ordered[1]}`,
      num_tasks: 0,
    });
    expect(jobs.get(outside)).toMatchObject({
      status: FAILED,
      status_msg: `clp_config is invalid at input.keys: key other-${prefix}x.jsonl does not start with key_prefix "${prefix}"`,
    });
    expect(jobs.get(directory)).toMatchObject({
      status: FAILED,
      status_msg: `clp_config is invalid at input.keys: key ${prefix}dir/ ends with "/"`,
    });
    expect(jobs.get(missing)).toMatchObject({
      status: FAILED,
      status_msg: `s3://${bucket}/${prefix}gone.jsonl does not exist`,
      num_tasks: 0,
    });
    expect(jobs.get(good).status).toBe(SUCCEEDED);
    expect(stats).toEqual({ succeeded: 1, failed: 4, abandoned: 0 });
    // Only the good job registered an archive; every event of its four objects found once, each in its object.
    expect(await archiveCounts()).toEqual([['ds_good', 1]]);
    expect(seqsOf(await search('ds_good', '*'))).toEqual(range(0, 40));
    for (const [i, k] of ordered.entries()) {
      expect(seqsOf(await search('ds_good', `$_filename: ${kql(urlOf(k))}`))).toEqual(range(i * 10, 10));
    }
    // The task holds them in CLP's order.
    const [[task]] = await pool.query<any[]>('SELECT * FROM compression_tasks WHERE job_id = ?', [good]);
    expect((await decodeTaskPaths(task.clp_paths_to_compress)).file_paths).toEqual(ordered);
  });

  test("rule 3: s3_object_metadata reads CLP's query on ingested_s3_object_metadata; missing ids or keys outside key_prefix fail the job", async () => {
    const prefix = `meta-${Date.now()}/`;
    const keys = [`${prefix}b.jsonl`, `${prefix}a.jsonl`, `other-${prefix}c.jsonl`];
    for (const [i, k] of keys.entries()) await put(k, jsonLogLines(5, i * 5, k));
    const { ingestionJobId, ids } = await insertIngestedObjects(pool, bucket, keys);
    const other = await insertIngestedObjects(pool, bucket, [`${prefix}a.jsonl`]);
    const cfg = (jobOf: number, idList: number[], dataset = 'default') =>
      metadataJob(jobOf, idList, { key_prefix: prefix, dataset });
    const good = await insertJob(pool, cfg(ingestionJobId, [ids[0], ids[1]], 'ds_good'));
    // An id of another ingestion job, and one that does not exist: the query does not return them.
    const missing = await insertJob(pool, cfg(ingestionJobId, [ids[0], other.ids[0], 999_999]));
    const outside = await insertJob(pool, cfg(ingestionJobId, [ids[0], ids[2]]));
    const duplicate = await insertJob(pool, cfg(ingestionJobId, [ids[0], ids[0]]));
    const empty = await insertJob(pool, cfg(ingestionJobId, []));
    const { jobs, stats } = await runJobs([good, missing, outside, duplicate, empty]);

    expect(jobs.get(good).status).toBe(SUCCEEDED);
    const [[task]] = await pool.query<any[]>('SELECT * FROM compression_tasks WHERE job_id = ?', [good]);
    expect((await decodeTaskPaths(task.clp_paths_to_compress)).file_paths).toEqual([
      `${prefix}a.jsonl`,
      `${prefix}b.jsonl`,
    ]);
    expect(seqsOf(await search('ds_good', '*'))).toEqual(range(0, 10));
    expect(seqsOf(await search('ds_good', `$_filename: ${kql(urlOf(`${prefix}b.jsonl`))}`))).toEqual(
      range(0, 5),
    );
    expect(jobs.get(missing)).toMatchObject({
      status: FAILED,
      status_msg: `ingested_s3_object_metadata has no row for s3_object_metadata_ids ${other.ids[0]}, 999999 with ingestion_job_id ${ingestionJobId}`,
      num_tasks: 0,
    });
    expect(jobs.get(outside)).toMatchObject({
      status: FAILED,
      status_msg: `s3_object_metadata id ${ids[2]}: key other-${prefix}c.jsonl does not start with key_prefix "${prefix}"`,
    });
    expect(jobs.get(duplicate).status_msg).toBe(
      `clp_config is invalid at input.s3_object_metadata_ids: duplicate id ${ids[0]}`,
    );
    expect(jobs.get(empty).status_msg).toMatch(/^clp_config is invalid at input\.s3_object_metadata_ids: /);
    expect(stats).toEqual({ succeeded: 1, failed: 4, abandoned: 0 });
    expect(await archiveCounts()).toEqual([['ds_good', 1]]);
  });

  test('rule 4: the release line (CLP_COMPAT) decides the codec, the input types and the authentication types', async () => {
    const key = `compat-${Date.now()}/a.jsonl`;
    await put(key, jsonLogLines(2));
    const plain = s3Job([key], { dataset: 'ds_compat' });
    const { ingestionJobId, ids } = await insertIngestedObjects(pool, bucket, [key]);
    const metadata = metadataJob(ingestionJobId, ids, { dataset: 'ds_compat' });
    const withCredentials = s3Job([key], {
      dataset: 'ds_compat',
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
    // The task rows are in the release line's codec too (brotli, not a zstd frame).
    const [[v013Task]] = await pool.query<any[]>(
      'SELECT clp_paths_to_compress FROM compression_tasks WHERE job_id = ?',
      [v013.brotli],
    );
    expect((v013Task.clp_paths_to_compress as Buffer).readUInt32LE(0)).not.toBe(0xfd2fb528);
    expect((await decodeTaskPaths(v013Task.clp_paths_to_compress)).file_paths).toEqual([key]);

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
    // Five jobs succeeded, each its own archive of the object's two events.
    const archives = await datasetArchives(pool, settings, 'ds_compat');
    expect(archives).toHaveLength(5);
    for (const a of archives) expect(seqsOf(a.events)).toEqual([0, 1]);
  });

  test("rule 4: profile authentication reads that AWS profile, not the executor's own credentials, for the key check and for clp-s", async () => {
    const key = `profile-${Date.now()}/a.jsonl`;
    await put(key, jsonLogLines(3));
    const { ingestionJobId, ids } = await insertIngestedObjects(pool, bucket, [key]);
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
      const auth = (name: string) => ({ type: 'profile' as const, profile: name });
      const reader = await insertJob(
        pool,
        s3Job([key], { aws_authentication: auth('clp-reader'), dataset: 'ds_p' }),
      );
      // The executor's environment holds valid credentials: only the profile's make these fail.
      const wrong = await insertJob(pool, s3Job([key], { aws_authentication: auth('clp-wrong') }));
      const absent = await insertJob(pool, s3Job([key], { aws_authentication: auth('clp-absent') }));
      // No key check for s3_object_metadata (sizes come from the table): clp-s is the first to read.
      const wrongForClpS = await insertJob(
        pool,
        metadataJob(ingestionJobId, ids, { aws_authentication: auth('clp-wrong') }),
      );
      const { jobs } = await runJobs([reader, wrong, absent, wrongForClpS]);

      expect(jobs.get(reader).status).toBe(SUCCEEDED);
      expect(seqsOf(await search('ds_p', '*'))).toEqual([0, 1, 2]);
      // MinIO refuses the key check (a HEAD: no error body, only its status).
      expect(jobs.get(wrong)).toMatchObject({
        status: FAILED,
        status_msg: `s3://${bucket}/${key}: HTTP 403 Forbidden`,
        num_tasks: 0,
      });
      // A profile that does not exist is no credentials at all (never the executor's own).
      expect(jobs.get(absent)).toMatchObject({
        status: FAILED,
        status_msg: expect.stringMatching(
          new RegExp(`^s3://${bucket}/${escape(key)}: CredentialsProviderError`),
        ),
      });
      // clp-s got the profile's credentials too (MinIO refused them), not the executor's.
      expect(jobs.get(wrongForClpS)).toMatchObject({
        status: FAILED,
        status_msg: expect.stringMatching(/^clp-s failed .*403/),
      });
      expect(await archiveCounts()).toEqual([
        ['default', 0],
        ['ds_p', 1],
      ]);
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
      const host = path.join(root, 'a.jsonl');
      await writeFile(host, jsonLogLines(6));
      const outside = await insertJob(pool, fsJob([MOUNT + host, host], null, 'ds_x'));
      const gone = await insertJob(
        pool,
        fsJob([MOUNT + path.join(root, 'gone.jsonl')], MOUNT + root, 'ds_x'),
      );
      const climbing = await insertJob(pool, fsJob([`${MOUNT}/..${host}`], null, 'ds_x'));
      const good = await insertJob(pool, fsJob([MOUNT + host], null, 'ds_good'));
      const { jobs } = await runJobs([outside, gone, climbing, good], withMountRoot(settings, MOUNT));
      expect(jobs.get(outside)).toMatchObject({
        status: FAILED,
        status_msg: `${host} does not exist`,
        num_tasks: 0,
      });
      expect(jobs.get(gone)).toMatchObject({
        status: FAILED,
        status_msg: `${MOUNT}${root}/gone.jsonl does not exist`,
      });
      expect(jobs.get(climbing)).toMatchObject({
        status: FAILED,
        status_msg: `${MOUNT}/..${host} does not exist`,
      });
      expect(jobs.get(good).status).toBe(SUCCEEDED);
      // Read from the host path, which clp-s records.
      expect(seqsOf(await search('ds_good', `$_filename: ${kql(host)}`))).toEqual(range(0, 6));

      // CLP_FS_MOUNT_ROOT='': CLP sees host paths as they are.
      const unmapped = await insertJob(pool, fsJob([host], root, 'ds_unmapped'));
      const mounted = await insertJob(pool, fsJob([MOUNT + host], null, 'ds_x'));
      const bare = await runJobs([unmapped, mounted], withMountRoot(settings, ''));
      expect(bare.jobs.get(unmapped).status).toBe(SUCCEEDED);
      expect(seqsOf(await search('ds_unmapped', `$_filename: ${kql(host)}`))).toEqual(range(0, 6));
      expect(bare.jobs.get(mounted)).toMatchObject({
        status: FAILED,
        status_msg: `${MOUNT}${host} does not exist`,
      });
      expect(await archiveCounts()).toEqual([
        ['ds_good', 1],
        ['ds_unmapped', 1],
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

/** Pids of running processes whose command line contains `needle` (read from /proc). */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

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
  const crashLine = 'clp-executor: CLP_EXECUTOR_CRASH_AT=clp-s-running: killing this process';

  test('SIGKILLed while clp-s runs registers nothing; a second executor marks the job KILLED, and runs its resubmission into archives whose events are found exactly once', async () => {
    const key = `kill-${Date.now()}/large-input.jsonl`;
    const body = jsonLogLines(100_000, 0, 'kill');
    await put(key, body);
    const config = s3Job([key], { dataset: 'ds_kill' });
    const jobId = await insertJob(pool, config);

    // The fault harness's crash point: the process SIGKILLs itself once its task's clp-s is running.
    const first = spawnExecutor(
      EXECUTOR_HARNESS,
      ['run'],
      childEnv({ CLP_FAULT_HARNESS_EXECUTOR: mainJs, CLP_EXECUTOR_CRASH_AT: 'clp-s-running' }),
    );
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(first.logs.map((r) => r.msg)).toContain(crashLine);
    const claim = first.logs.find((r) => r.msg === 'job claimed' && r.compression_job_id === jobId)!;
    expect(claim).toBeDefined();
    expect(first.logs.some((r) => ['task succeeded', 'job succeeded'].includes(r.msg as string))).toBe(false);
    // clp-s is not killed with the process that started it: let the orphan finish (its archive stays in staging).
    await eventually(
      async () => processesWith(String(claim.claim_token)).length === 0,
      60_000,
      "the dead executor's clp-s to exit",
      100,
    );

    // Killed mid-task: the job and its task still RUNNING, nothing placed or registered.
    expect((await jobRow(pool, jobId)).status).toBe(RUNNING);
    const [running] = await pool.query<any[]>('SELECT status FROM compression_tasks WHERE job_id = ?', [
      jobId,
    ]);
    expect(running.map((t) => t.status)).toEqual([RUNNING]);
    expect(await datasetArchives(pool, settings, 'ds_kill')).toEqual([]);
    expect(await placed('ds_kill')).toEqual([]);
    expect(existsSync(path.join(archivesDir, STAGING_DIR, String(claim.claim_token)))).toBe(true);

    const second = spawnExecutor(mainJs, ['run'], childEnv());
    let resubmittedId = -1;
    try {
      // Once the dead executor's lease lapses, the job is KILLED: CLP's verdict on a cluster failure.
      const killed = (await waitForJobs(pool, [jobId], 60_000)).get(jobId);
      expect(killed.status).toBe(KILLED);
      expect(killed.status_msg).toMatch(/^KILLED: the executor holding this job \(.+\) died/);
      const [tasks] = await pool.query<any[]>(
        'SELECT status FROM compression_tasks WHERE job_id = ? ORDER BY id',
        [jobId],
      );
      expect(tasks.map((t) => t.status)).toEqual([FAILED]);
      expect(await datasetArchives(pool, settings, 'ds_kill')).toEqual([]);

      // The submitter resubmits the files (none of them in a SUCCEEDED task) as a new job, which the second executor runs.
      const resubmitted = (resubmittedId = await insertJob(pool, config));
      const job = (await waitForJobs(pool, [resubmitted], 60_000)).get(resubmitted);
      expect([job.status, job.status_msg]).toEqual([SUCCEEDED, '']);
      expect(Number(job.uncompressed_size)).toBe(body.length);
      expect(second.logs.filter((r) => r.msg === 'job claimed')).toEqual([
        expect.objectContaining({ compression_job_id: resubmitted, num_claims: 1 }),
      ]);
      // Every event found exactly once: only the resubmission's archives are registered.
      const archives = await datasetArchives(pool, settings, 'ds_kill');
      expect(archives.length).toBeGreaterThanOrEqual(1);
      expect(seqsOf(archives.flatMap((a) => a.events))).toEqual(range(0, 100_000));
      expect((await placed('ds_kill')).sort()).toEqual(archives.map((a) => a.id).sort());
      // The dead claim's staging directory (with what its clp-s wrote) is gone.
      expect(await readdir(path.join(archivesDir, STAGING_DIR))).toEqual([]);
    } finally {
      second.child.kill('SIGTERM');
    }
    // SIGTERM is a clean shutdown, and everything it printed was a JSON log line (Node's warnings too).
    expect((await second.exited).code).toBe(0);
    expect(second.logs.at(-1)).toMatchObject({ msg: 'executor stopped', succeeded: 1 });
    for (const c of [first, second]) {
      expect(c.badLines).toEqual([]);
      expect(c.stderr).toEqual([]);
      for (const r of c.logs.filter((l) =>
        ['job claimed', 'compressing', 'task succeeded', 'job succeeded'].includes(l.msg as string),
      )) {
        expect(r.compression_job_id).toBe(c === first ? jobId : resubmittedId);
      }
    }
  });
});
