/**
 * One-time jobs on the real stack (worker, Temporal, MariaDB, MinIO): an S3
 * prefix scanned once, an explicit list of object URLs (with objects that do
 * not exist), and a local directory scanned once. Each ends `finished` on its
 * own, with its final counts in the row and every file recorded exactly once;
 * bad lists are refused naming the entries, recording nothing.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { decodeClpConfig } from '../../src/clp/clp-config';
import { InvalidConfigError, type JobKind } from '../../src/config/job-config';
import type { JobProgress } from '../../src/workflows/messages';
import { workflowIdFor } from '../../src/workflows/messages';
import { buildCli, runCli } from '../support/cli';
import { apiServer } from '../support/http';
import {
  compressionJobKeys,
  compressionJobsOf,
  countersAndRows,
  createTestBucket,
  putObjects,
  jsonEvents,
} from '../support/stack';
import { completeCompressionJobs, startHarness, waitForStatus, type Harness } from '../support/worker';
import { eventually } from '../support/wait';
import { controlJob } from '../../src/job-control';

let h: Harness;
let bucket: string;
let app: FastifyInstance;
let dir: string;

beforeAll(async () => {
  // The CLI runs from dist/: build this tree's sources (a stale build would miss the new commands).
  await buildCli(true);
  h = await startHarness();
  bucket = await createTestBucket(h.s3);
  app = await apiServer(h);
  dir = mkdtempSync(path.join(os.tmpdir(), 'clp-once-'));
}, 120_000);

afterAll(async () => {
  await app?.close();
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const put = (keys: string[]) =>
  putObjects(h.s3, bucket, keys, { body: (key) => jsonEvents(key, 10), concurrency: 8 });

const range = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));

/** Stands in for CLP until the job finishes on its own (no stop is ever sent); its workflow's result. */
async function finishes(jobId: number): Promise<JobProgress> {
  await eventually(
    async () => {
      await completeCompressionJobs(h.pool);
      const job = await h.store.requireJob(jobId);
      if (job.status === 'failed') throw new Error(`job failed: ${job.errorMsg}`);
      return job.status === 'finished';
    },
    90_000,
    `job ${jobId} finished`,
  );
  return h.client.workflow.getHandle(workflowIdFor(jobId)).result();
}

/** Every path once in the job's rows, and the compression jobs' S3 keys disjoint with `keys` their union. */
async function expectExactlyOnce(jobId: number, paths: string[], keys?: string[]): Promise<void> {
  const [rows] = await h.pool.query<any[]>(
    'SELECT path FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY path',
    [jobId],
  );
  expect(rows.map((r) => r.path)).toEqual([...paths].sort());
  const { counters, rows: fromRows } = await countersAndRows(h.pool, jobId);
  expect(counters).toEqual(fromRows);
  if (!keys) return;
  const named = [...(await compressionJobKeys(h.pool, jobId)).values()].flat();
  expect(named.sort()).toEqual([...keys].sort());
}

const cli = (args: string[]) => runCli(h, args);

test('S3 prefix once: the job scans to the end, drains its flushes and finishes; later objects are not read', async () => {
  const keys = range(60, (i) => `once/${String(i).padStart(3, '0')}.log`);
  await put(keys);
  await put(['other/outside.log']);
  const jobId = await h.create('s3_scanner', {
    bucket_name: bucket,
    key_prefix: 'once/',
    one_time: true,
    settle_delay_sec: 0,
    scanning_interval_sec: 1,
    buffer_config: { flush_threshold_bytes: 4000, timeout_sec: 1 },
  });
  const result = await finishes(jobId);
  expect(result).toMatchObject({ status: 'finished', inputEnded: true, stopRequested: false });
  const job = await h.store.requireJob(jobId);
  expect(job).toMatchObject({ numFilesIngested: 60, numFilesCompressed: 60, numFilesFailed: 0 });
  expect(result.compressionJobsSubmitted).toBeGreaterThanOrEqual(1);
  await expectExactlyOnce(
    jobId,
    keys.map((k) => `${bucket}/${k}`),
    keys,
  );
  // Scanned once: the workflow is closed, and an object added now is never recorded.
  await put(['once/zzz-late.log']);
  const desc = await h.client.workflow.getHandle(workflowIdFor(jobId)).describe();
  expect(desc.status.name).toBe('COMPLETED');
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(60);
});

test('URL list (s3:// from the CLI): objects that do not exist are recorded failed and named; the job finishes', async () => {
  const keys = range(25, (i) => `list/${String(i).padStart(3, '0')}.log`);
  await put(keys);
  const missing = ['list/missing-1.log', 'list/nope/missing-2.log'];
  const urlsFile = path.join(dir, 'urls.txt');
  const listed = [...keys.slice(0, 10), missing[0], ...keys.slice(10), missing[1]];
  writeFileSync(urlsFile, `# objects to ingest\n${listed.map((k) => `s3://${bucket}/${k}`).join('\n')}\n`);
  const created = await cli([
    'create-s3-object-list',
    '--urls-file',
    urlsFile,
    '--flush-threshold-bytes',
    '3000',
    '--timeout-sec',
    '1',
    '--json',
  ]);
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  const jobId = JSON.parse(created.stdout).id as number;

  const result = await finishes(jobId);
  expect(result).toMatchObject({ status: 'finished', inputEnded: true, filesFailed: 2 });
  const job = await h.store.requireJob(jobId);
  expect(job).toMatchObject({
    kind: 's3_object_list',
    bucketName: bucket,
    numFilesIngested: 27,
    numFilesCompressed: 25,
    numFilesFailed: 2,
  });
  expect(job.config.config).toMatchObject({ bucket_name: bucket, key_prefix: 'list/' });
  await expectExactlyOnce(
    jobId,
    listed.map((k) => `${bucket}/${k}`),
    keys,
  );
  const failed = await h.store.listFiles(jobId, { status: 'failed' });
  expect(failed.map((f) => [f.path, f.error])).toEqual(
    missing.map((k) => [`${bucket}/${k}`, `s3://${bucket}/${k}: no such object`]),
  );

  // The CLI's listing names them and says why.
  const files = await cli(['files', String(jobId), '--status', 'failed']);
  expect(files.code).toBe(0);
  for (const k of missing) expect(files.stdout).toContain(`s3://${bucket}/${k}: no such object`);
  const status = await cli(['status', String(jobId)]);
  expect(status.stdout).toMatch(/finished/);
  expect(status.stdout).toMatch(/failed 2/);
});

test('URL list (endpoint URLs over REST): percent-encoded keys, the failed objects in the file listing', async () => {
  // a b.log decodes to a key CLP's worker cannot read (a space): recorded failed, never submitted.
  const keys = ['rest/a b.log', 'rest/c+d.log', 'rest/é.log'];
  const readable = keys.slice(1);
  await put(keys);
  const endpoint = h.settings.aws.s3Endpoint!; // the worker's own endpoint: allowed
  const url = (k: string) => `${endpoint}/${bucket}/${encodeURIComponent(k).replace(/%2F/g, '/')}`;
  const res = await app.inject({
    method: 'POST',
    url: '/s3_object_list',
    payload: { urls: [...keys, 'rest/gone.log'].map(url), buffer_config: { timeout_sec: 1 } },
  });
  expect(res.statusCode).toBe(200);
  const jobId = res.json().id as number;
  await finishes(jobId);
  const job = (await app.inject({ method: 'GET', url: `/job/${jobId}` })).json();
  expect(job.job).toMatchObject({
    kind: 's3_object_list',
    status: 'finished',
    num_files_ingested: 4,
    num_files_compressed: 2,
    num_files_failed: 2,
    source: `s3://${bucket}/rest/ (4 objects at ${new URL(endpoint).origin})`,
  });
  expect(job.job.config).toMatchObject({ endpoint_url: new URL(endpoint).origin });
  // The URLs live in the job's row; the workflow's input (and history) never carries them.
  expect(job.job.config.urls).toHaveLength(4);
  const history = await h.client.workflow.getHandle(workflowIdFor(jobId)).fetchHistory();
  const started = history.events![0].workflowExecutionStartedEventAttributes!;
  const input = JSON.parse(Buffer.from(started.input!.payloads![0].data!).toString());
  expect(input.job).toMatchObject({ kind: 's3_object_list', config: { urls: [], bucket_name: bucket } });
  const page = (await app.inject({ method: 'GET', url: `/job/${jobId}/files?status=failed` })).json();
  expect(page.files).toEqual([
    expect.objectContaining({
      path: `${bucket}/rest/gone.log`,
      status: 'failed',
      compression_job_id: null,
      error: `s3://${bucket}/rest/gone.log: no such object`,
    }),
    expect.objectContaining({
      path: `${bucket}/rest/a b.log`,
      status: 'failed',
      compression_job_id: null,
      error: expect.stringMatching(/^CLP cannot read this object: its key contains a space/),
    }),
  ]);
  const ok = (await app.inject({ method: 'GET', url: `/job/${jobId}/files?status=compressed` })).json();
  expect(ok.files.map((f: any) => f.error)).toEqual([null, null]);
  await expectExactlyOnce(
    jobId,
    [...keys, 'rest/gone.log'].map((k) => `${bucket}/${k}`),
    readable,
  );
  // The compression jobs name the list's endpoint.
  for (const cj of await compressionJobsOf(h.pool, jobId))
    expect(((await decodeClpConfig(cj.clp_config)) as any).input).toMatchObject({
      bucket,
      key_prefix: 'rest/',
      endpoint_url: new URL(endpoint).origin,
    });
});

test('a URL list paused while it is being looked up resumes where it stopped; every object once', async () => {
  const keys = range(1200, (i) => `paused/${String(i).padStart(5, '0')}.log`);
  await put(keys);
  const jobId = await h.create('s3_object_list', {
    urls: keys.map((k) => `s3://${bucket}/${k}`),
    buffer_config: { flush_threshold_bytes: 1 << 30, timeout_sec: 1 },
  });
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesIngested > 0, 30_000, 'first batch');
  await controlJob(h.store, h.client, jobId, 'pause');
  await waitForStatus(h, jobId, 'paused');
  const whilePaused = (await h.store.requireJob(jobId)).numFilesIngested;
  await controlJob(h.store, h.client, jobId, 'resume');
  const result = await finishes(jobId);
  expect(result).toMatchObject({ status: 'finished', inputEnded: true, filesFailed: 0 });
  expect(whilePaused).toBeGreaterThan(0);
  expect((await h.store.requireJob(jobId)).numFilesCompressed).toBe(1200);
  await expectExactlyOnce(
    jobId,
    keys.map((k) => `${bucket}/${k}`),
    keys,
  );
});

test('a URL list in a bucket that does not exist fails the job with the reason, recording no file', async () => {
  const jobId = await h.create('s3_object_list', { urls: ['s3://no-such-bucket-once/a.log'] });
  await eventually(async () => (await h.store.requireJob(jobId)).status === 'failed', 30_000, 'failed');
  expect((await h.store.requireJob(jobId)).errorMsg).toMatch(/no-such-bucket-once: NoSuchBucket/);
  expect(await h.store.listFiles(jobId)).toEqual([]);
});

test('local directory once: waits for a growing file to settle, then finishes; later files are not read', async () => {
  const past = new Date(Date.now() - 60_000);
  const files = range(12, (i) =>
    path.join(dir, 'tree', i % 3 ? 'sub' : '', `f${String(i).padStart(2, '0')}.log`),
  );
  for (const f of files) {
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, 'x'.repeat(300));
    utimesSync(f, past, past);
  }
  const fresh = path.join(dir, 'tree', 'fresh.log');
  writeFileSync(fresh, 'just written\n'); // unsettled for settle_delay_sec
  const jobId = await h.create('fs', {
    directory: path.join(dir, 'tree'),
    one_time: true,
    settle_delay_sec: 2,
    scanning_interval_sec: 0.5,
    buffer_config: { flush_threshold_bytes: 1000, timeout_sec: 1 },
  });
  const result = await finishes(jobId);
  expect(result).toMatchObject({ status: 'finished', inputEnded: true });
  const job = await h.store.requireJob(jobId);
  expect(job).toMatchObject({ numFilesIngested: 13, numFilesCompressed: 13, numFilesFailed: 0 });
  await expectExactlyOnce(jobId, [...files, fresh]);
  writeFileSync(path.join(dir, 'tree', 'late.log'), 'late\n');
  expect((await h.client.workflow.getHandle(workflowIdFor(jobId)).describe()).status.name).toBe('COMPLETED');
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(13);
});

describe('bad URL lists are refused naming the entries, and record nothing', () => {
  const cases: [string, string[], RegExp][] = [
    [
      'mixed buckets',
      ['s3://logs-a/x.log', 's3://logs-b/y.log', 's3://logs-a/z.log'],
      /^urls: not in the first URL's bucket "logs-a" .*#2 "s3:\/\/logs-b\/y.log"/,
    ],
    [
      'mixed endpoints',
      ['s3://logs-a/x.log', 'http://127.0.0.1:9000/logs-a/y.log'],
      /^urls: .*mixed buckets or endpoints.*#2 "http:\/\/127.0.0.1:9000\/logs-a\/y.log"/,
    ],
    [
      'duplicates',
      ['s3://logs-a/x.log', 's3://logs-a/y.log', 's3://logs-a/x.log'],
      /^urls: duplicates: #3 "s3:\/\/logs-a\/x.log" \(same object as #1\)/,
    ],
    [
      'malformed',
      ['s3://logs-a/x.log', 'logs-a/y.log', 's3://logs-a/', 's3://UPPER/z'],
      /^urls: malformed: #2 "logs-a\/y.log" is not .*#3 "s3:\/\/logs-a\/" names no key.*#4 "s3:\/\/UPPER\/z" bucket "UPPER"/,
    ],
    [
      'an endpoint outside the allow-list',
      ['http://10.1.2.3:9000/logs-a/x.log'],
      /^urls: .*not an allowed endpoint/,
    ],
  ];

  async function jobCount(): Promise<number> {
    const [[r]] = await h.pool.query<any[]>('SELECT COUNT(*) AS n FROM log_ingestor_ingestion_jobs');
    return Number(r.n);
  }

  test.each(cases)(
    '%s: the client, REST (400) and the CLI (exit 2) say which',
    async (_what, urls, message) => {
      const before = await jobCount();
      await expect(h.create('s3_object_list' as JobKind, { urls })).rejects.toThrow(InvalidConfigError);
      await expect(h.create('s3_object_list', { urls })).rejects.toThrow(message);
      const res = await app.inject({ method: 'POST', url: '/s3_object_list', payload: { urls } });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatch(message);
      const args = urls.flatMap((u) => ['--url', u]);
      const c = await cli(['create-s3-object-list', ...args]);
      expect(c.code).toBe(2);
      expect(c.stderr.trim().split('\n')).toHaveLength(1);
      expect(c.stderr.replace(/^clp-ingestor: /, '')).toMatch(message);
      expect(await jobCount()).toBe(before);
    },
  );
});
