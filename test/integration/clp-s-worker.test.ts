/**
 * The compression worker runs CLP's real clp-s, as CLP's compression worker
 * does: archives where CLP keeps them, registered in CLP's metadata tables,
 * and every uploaded event found by clp-s's search exactly once.
 */
import { existsSync } from 'node:fs';
import { readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/aws';
import { decodeTaskPaths } from '../../src/clp/task-paths';
import { datasetTables, findDataset } from '../../src/clp/metadata';
import type { Db } from '../../src/store/db';
import { loadSettings, type Settings } from '../../src/config/settings';
import { createTestBucket, createTestDb } from '../support/stack';
import {
  datasetArchives,
  fsJobConfig,
  insertIngestedObjects,
  insertJob,
  jsonLogLines,
  s3JobConfig,
  s3ObjectMetadataJobConfig,
  startExecutor,
  tempDir,
  waitForJobs,
  withMountRoot,
} from '../support/executor';

const SUCCEEDED = 2;
const FAILED = 3;

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

async function put(key: string, body: Buffer | string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

test('an s3_object_metadata job for MinIO: archives registered for the dataset, every event found once, sizes recorded', async () => {
  const keys = ['ds1/a.jsonl', 'ds1/b.jsonl', 'ds1/c_d-e.jsonl'];
  for (const [i, key] of keys.entries()) await put(key, jsonLogLines(100, i * 100, key));
  const { ingestionJobId, ids } = await insertIngestedObjects(pool, bucket, keys);
  const id = await insertJob(
    pool,
    s3ObjectMetadataJobConfig(settings, bucket, ingestionJobId, ids, {
      dataset: 'ds_one',
      region_code: null,
      key_prefix: 'ds1/',
      timestamp_key: 'ts',
    }),
  );
  const executor = startExecutor(settings, { archivesDir });
  try {
    const row = (await waitForJobs(pool, [id])).get(id);
    expect([row.status, row.status_msg]).toEqual([SUCCEEDED, '']);
    const archives = await datasetArchives(pool, settings, 'ds_one');
    expect(archives.length).toBeGreaterThanOrEqual(1);
    const seqs = archives.flatMap((a) => a.events.map((e) => e.seq)).sort((a, b) => Number(a) - Number(b));
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // The timestamp key was honoured: the archive's range is the events'.
    expect(Math.min(...archives.map((a) => a.begin_timestamp))).toBe(Date.UTC(2024, 4, 17));
    expect(Math.max(...archives.map((a) => a.end_timestamp))).toBe(Date.UTC(2024, 4, 17) + 299_000);
    // Where CLP keeps them: <archive dir>/<dataset>/<archive id>.
    const ds = await findDataset(pool, 'ds_one');
    expect(ds?.archiveStorageDirectory).toBe(path.join(archivesDir, 'ds_one'));
    expect((await readdir(path.join(archivesDir, 'ds_one'))).sort()).toEqual(
      archives.map((a) => a.id).sort(),
    );
    // The job's sizes are the archives' sums; its one task names the keys as CLP's task rows do.
    expect(Number(row.uncompressed_size)).toBe(archives.reduce((n, a) => n + a.uncompressed_size, 0));
    expect(Number(row.compressed_size)).toBe(archives.reduce((n, a) => n + a.size, 0));
    expect(Number(row.compressed_size)).toBeLessThan(Number(row.uncompressed_size));
    expect([row.num_tasks, row.num_tasks_completed]).toEqual([1, 1]);
    const [tasks] = await pool.query<any[]>(
      'SELECT status, clp_paths_to_compress FROM compression_tasks WHERE job_id = ?',
      [id],
    );
    expect(tasks.map((t) => t.status)).toEqual([SUCCEEDED]);
    expect((await decodeTaskPaths(tasks[0].clp_paths_to_compress)).file_paths.sort()).toEqual(
      [...keys].sort(),
    );
  } finally {
    await executor.stop();
  }
});

test("a job whose region_code names a custom endpoint's host fails as it does on CLP (the host does not resolve)", async () => {
  await put('region/a.jsonl', jsonLogLines(5));
  const id = await insertJob(
    pool,
    s3JobConfig(settings, bucket, ['region/a.jsonl'], { region_code: 'us-east-1', dataset: 'ds_region' }),
  );
  const executor = startExecutor(settings, { archivesDir });
  try {
    const row = (await waitForJobs(pool, [id])).get(id);
    expect(row.status).toBe(FAILED);
    expect(row.status_msg).toMatch(/clp-s failed/);
    expect(await datasetArchives(pool, settings, 'ds_region')).toEqual([]);
  } finally {
    await executor.stop();
  }
});

test('a key CLP puts into its URL unencoded (a space) fails the job as it does on CLP, naming the URL', async () => {
  await put('odd/a b.jsonl', jsonLogLines(5));
  const id = await insertJob(
    pool,
    s3JobConfig(settings, bucket, ['odd/a b.jsonl'], { region_code: null, dataset: 'ds_odd' }),
  );
  const executor = startExecutor(settings, { archivesDir });
  try {
    const row = (await waitForJobs(pool, [id])).get(id);
    expect(row.status).toBe(FAILED);
    expect(row.status_msg).toContain(`http://127.0.0.1:9000/${bucket}/odd/a b.jsonl`);
  } finally {
    await executor.stop();
  }
});

test('a job larger than target_archive_size becomes several tasks, one archive set each; fs inputs under the mount root', async () => {
  const root = await tempDir('clp-fs');
  await mkdir(path.join(root, 'logs'));
  for (let i = 0; i < 4; i++)
    await writeFile(path.join(root, 'logs', `f${i}.jsonl`), jsonLogLines(50, i * 50, `f${i}`));
  const config = fsJobConfig([`/mnt/logs${root}/logs`], `/mnt/logs${root}`);
  config.input.dataset = 'ds_fs';
  // Two files fill a task.
  config.output = { ...config.output, target_archive_size: jsonLogLines(50, 0, 'f0').length * 2 - 10 };
  const id = await insertJob(pool, config);
  const executor = startExecutor(withMountRoot(settings, '/mnt/logs'), { archivesDir });
  try {
    const row = (await waitForJobs(pool, [id])).get(id);
    expect([row.status, row.num_tasks, row.num_tasks_completed]).toEqual([SUCCEEDED, 2, 2]);
    const archives = await datasetArchives(pool, settings, 'ds_fs');
    expect(archives.length).toBe(2);
    const seqs = archives.flatMap((a) => a.events.map((e) => Number(e.seq))).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i));
  } finally {
    await executor.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('input clp-s cannot parse (text in a JSON job) fails the job with clp-s’s reason and registers nothing', async () => {
  await put('bad/a.log', 'this is not JSON\n');
  const id = await insertJob(
    pool,
    s3JobConfig(settings, bucket, ['bad/a.log'], { region_code: null, dataset: 'ds_bad' }),
  );
  const executor = startExecutor(settings, { archivesDir });
  try {
    const row = (await waitForJobs(pool, [id])).get(id);
    expect(row.status).toBe(FAILED);
    expect(row.status_msg).toMatch(/clp-s failed/);
    const [[n]] = await pool.query<any[]>(`SELECT COUNT(*) AS n FROM ${datasetTables('ds_bad').archives}`);
    expect(Number(n.n)).toBe(0);
    expect(existsSync(path.join(archivesDir, '.staging'))).toBe(true);
    expect(await readdir(path.join(archivesDir, '.staging'))).toEqual([]);
  } finally {
    await executor.stop();
  }
});
