/**
 * Activities typed by the store roles they use run against an in-memory
 * fake of those roles, without a database: the job's start and recovery,
 * lifecycle mirroring, and a flush whose compression job names the S3 keys
 * as recorded (the bucket is never glued onto them nor stripped off).
 */
import { decodeClpConfig } from '../../src/clp/clp-config';
import { compressionActivities } from '../../src/activities/compression';
import { jobRowActivities } from '../../src/activities/job-row';
import { parseJobConfig, type JobConfig } from '../../src/config/job-config';
import { loadSettings } from '../../src/config/settings';
import { canMove, IllegalTransitionError, type JobStatus } from '../../src/lifecycle';
import type {
  BufferSnapshot,
  BuildClpConfig,
  CompressionRecords,
  FileRecords,
  FileToCompress,
  JobRecords,
  JobRow,
  NewFile,
  Submission,
} from '../../src/store/ingestion-store';

interface MemFile {
  id: number;
  file: NewFile;
  status: 'buffered' | 'submitted';
  ts: number;
}

/** Just enough of the roles, in memory: one job, its files, its flushes. */
class FakeStore implements JobRecords, FileRecords, CompressionRecords {
  job: JobRow;
  files: MemFile[] = [];
  flushes = new Map<number, Submission>();
  /** Each compression job the fake created: its files and clp_config. */
  built: { files: FileToCompress[]; clpConfig: Buffer }[] = [];
  private ts = 1_000;

  constructor(config: JobConfig) {
    this.job = {
      id: 1,
      kind: config.kind,
      config,
      status: 'requested',
      numFilesIngested: 0,
      numFilesCompressed: 0,
      numFilesFailed: 0,
      numMessagesIgnored: 0,
      errorMsg: null,
      dataset: config.config.dataset,
      bucketName: '',
      creationTs: 0,
      lastUpdateTs: 0,
      workflowId: 'wf-1',
    };
  }
  async createJob(): Promise<number> {
    return this.job.id;
  }
  async getJob(id: number) {
    return id === this.job.id ? this.job : null;
  }
  async requireJob(id: number) {
    const job = await this.getJob(id);
    if (!job) throw new Error(`no job ${id}`);
    return job;
  }
  async requireJobOfWorkflow() {
    return this.job;
  }
  async listJobs() {
    return [this.job];
  }
  async transitionJob(id: number, to: JobStatus | ((s: JobStatus) => JobStatus), errorMsg?: string) {
    const target = typeof to === 'function' ? to(this.job.status) : to;
    if (target === this.job.status) return target;
    if (!canMove(this.job.status, target)) throw new IllegalTransitionError(id, this.job.status, target);
    this.job = { ...this.job, status: target, errorMsg: errorMsg ?? this.job.errorMsg };
    return target;
  }
  async recordFiles(_jobId: number, files: NewFile[]) {
    for (const file of files)
      this.files.push({ id: this.files.length + 1, file, status: 'buffered', ts: this.ts++ });
    return files.length;
  }
  async bufferSnapshot(): Promise<BufferSnapshot> {
    const buffered = this.files.filter((f) => f.status === 'buffered');
    return {
      files: buffered.length,
      bytes: buffered.reduce((n, f) => n + f.file.size, 0),
      oldestTs: buffered[0]?.ts ?? null,
      outstandingCompressionJobs: new Set([...this.flushes.values()].map((s) => s.compressionJobId)).size,
    };
  }
  async listFiles() {
    return [];
  }
  async countFilesByStatus() {
    const count = (s: string) => this.files.filter((f) => f.status === s).length;
    return { buffered: count('buffered'), submitted: count('submitted'), compressed: 0, failed: 0 };
  }
  async outstandingCompressionJobs() {
    return [];
  }
  async finalizeCompressionJobs() {
    return { finalized: [], resubmitted: [] };
  }
  async nextFlushSeq() {
    return this.flushes.size + 1;
  }
  async submitBuffered(_jobId: number, flushSeq: number, maxFiles: number, build: BuildClpConfig) {
    const done = this.flushes.get(flushSeq);
    if (done) return done;
    const files = this.files.filter((f) => f.status === 'buffered').slice(0, maxFiles);
    const named = files.map(({ id, file }) =>
      's3' in file
        ? {
            id,
            path: `${file.s3.bucket}/${file.s3.key}`,
            bucket: file.s3.bucket,
            key: file.s3.key,
            size: file.size,
          }
        : { id, path: file.path, key: null, size: file.size },
    );
    this.built.push({ files: named, clpConfig: await build(named) });
    for (const f of files) f.status = 'submitted';
    const sub = { compressionJobId: files.length ? 100 + flushSeq : null, numFiles: files.length };
    this.flushes.set(flushSeq, sub);
    return sub;
  }
}

const settings = loadSettings({
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'secret',
  AWS_REGION: 'eu-west-3',
  AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
  CLP_COMPAT: '0.13',
});
const job = parseJobConfig('s3_scanner', { bucket_name: 'logs', key_prefix: 'app/' });

test('startJob moves a requested job to running and returns what the store holds for it', async () => {
  const store = new FakeStore(job);
  await store.recordFiles(1, [{ s3: { bucket: 'logs', key: 'app/a.log' }, size: 5 }]);
  const { startJob, setJobStatus } = jobRowActivities({ store, settings });
  await expect(startJob(1)).resolves.toEqual({
    status: 'running',
    snapshot: { files: 1, bytes: 5, oldestTs: 1_000, outstandingCompressionJobs: 0 },
    nextFlushSeq: 1,
  });
  await expect(setJobStatus(1, 'paused')).resolves.toBe('paused');
  // A retried start changes nothing.
  await expect(startJob(1)).resolves.toMatchObject({ status: 'paused' });
});

test('setJobStatus repeats a move already made as a no-op and refuses an illegal one, non-retryably', async () => {
  const store = new FakeStore(job);
  const { startJob, setJobStatus } = jobRowActivities({ store, settings });
  await startJob(1);
  await expect(setJobStatus(1, 'finished')).resolves.toBe('finished');
  await expect(setJobStatus(1, 'finished')).resolves.toBe('finished');
  await expect(setJobStatus(1, 'running')).rejects.toMatchObject({
    type: 'IllegalTransitionError',
    nonRetryable: true,
    message: 'job 1 is finished; it cannot become running',
  });
  expect(store.job.status).toBe('finished');
});

test('a flush names the recorded keys as they are; repeating the flush returns its first result', async () => {
  const store = new FakeStore(job);
  await store.recordFiles(1, [
    { s3: { bucket: 'logs', key: 'app/b.log' }, size: 2 },
    { s3: { bucket: 'logs', key: 'app/a.log' }, size: 1 },
  ]);
  const { flushBuffer } = compressionActivities({ store, settings });

  const first = await flushBuffer(1, job, 1);
  expect(first).toMatchObject({ compressionJobId: 101, numFiles: 2, snapshot: { files: 0 } });
  const input = (
    (await decodeClpConfig(store.built[0]!.clpConfig)) as { input: { bucket: string; keys: string[] } }
  ).input;
  expect(input.bucket).toBe('logs');
  expect(input.keys).toEqual(['app/a.log', 'app/b.log']);

  await expect(flushBuffer(1, job, 1)).resolves.toMatchObject({ compressionJobId: 101, numFiles: 2 });
  expect(store.built).toHaveLength(1);
});
