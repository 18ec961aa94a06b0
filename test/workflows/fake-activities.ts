/**
 * An in-memory stand-in for the activities the ingestion-job workflow calls,
 * so its logic (flush policy, lifecycle, continue-as-new) is tested without a
 * database, S3 or SQS. One FakeJob per job: the test feeds it input and
 * decides when compression jobs end; the fake records every call, and tests
 * wait on what it records (`until`), never on the clock.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import {
  parseJobConfig,
  type JobConfig,
  type JobKind,
  type S3ScannerConfig,
} from '../../src/config/job-config';
import { canMove, IllegalTransitionError, statusOnStart, type JobStatus } from '../../src/lifecycle';
import type { BufferSnapshot, FinalizedCompressionJob } from '../../src/store/ingestion-store';
import type { NewJobInput, RegisteredJob } from '../../src/workflows/messages';

export interface Call {
  name: string;
  args: unknown[];
  /** Wall-clock time of the call (ms since epoch). */
  at: number;
  /** The job row's status when the call came. */
  rowStatus: JobStatus;
  /** The call has returned (`result`) or failed (`error`). */
  ended: boolean;
  result?: unknown;
  error?: string;
}

interface Buffered {
  key: string;
  bytes: number;
  ts: number;
}

interface CompressionJob {
  id: number;
  files: number;
  /** pending: CLP has not finished it; done: finished, its fate not yet recorded; recorded. */
  state: 'pending' | 'done' | 'recorded';
  outcome: FinalizedCompressionJob['status'];
}

/** How long an await call waits for a compression job to end before it returns empty-handed. */
const AWAIT_POLL_MS = 300;

let nextCompressionJobId = 1;

export class FakeJob {
  /** The job row's status and error, as setJobStatus leaves them. */
  status: JobStatus = 'requested';
  error: string | undefined;
  readonly calls: Call[] = [];
  /** Compression jobs end as soon as they are submitted (false: the test ends them with `compress`). */
  autoCompress = true;
  /** The next ingest call fails with this (once). */
  failNextIngest: Error | undefined;
  /** The job's input: files not yet listed. A one-time job's listing ends when this is empty. */
  private readonly input: { key: string; bytes: number }[] = [];
  private readonly buffer: Buffered[] = [];
  private readonly compressionJobs: CompressionJob[] = [];
  private readonly flushSeqs = new Set<number>();
  private waiters: (() => void)[] = [];

  constructor(
    readonly jobId: number,
    readonly job: JobConfig,
  ) {}

  /** New objects under the job's prefix, listed by the next scan. */
  add(...files: { key: string; bytes: number }[]): void {
    this.input.push(...files);
    this.changed();
  }

  /** CLP finishes every pending compression job (as `outcome`). */
  compress(outcome: FinalizedCompressionJob['status'] = 'compressed'): void {
    for (const c of this.compressionJobs) {
      if (c.state === 'pending') Object.assign(c, { state: 'done', outcome });
    }
    this.changed();
  }

  snapshot(): BufferSnapshot {
    return {
      files: this.buffer.length,
      bytes: this.buffer.reduce((n, f) => n + f.bytes, 0),
      oldestTs: this.buffer.length ? Math.min(...this.buffer.map((f) => f.ts)) : null,
      outstandingCompressionJobs: this.compressionJobs.filter((c) => c.state !== 'recorded').length,
    };
  }

  /** The calls of one activity that have ended. */
  callsOf(name: string): Call[] {
    return this.calls.filter((c) => c.name === name && c.ended);
  }

  /** Resolves with what `check` returns once it is truthy (checked after every call and change). */
  until<T>(what: string, check: () => T, timeoutMs = 20_000): Promise<NonNullable<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== attempt);
        reject(new Error(`job ${this.jobId}: timed out waiting for ${what}`));
      }, timeoutMs);
      const attempt = () => {
        const v = check();
        if (!v) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== attempt);
        resolve(v as NonNullable<T>);
      };
      this.waiters.push(attempt);
      attempt();
    });
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Runs an activity's body, recording the call and its outcome. */
  async record<T>(name: string, args: unknown[], run: () => T | Promise<T>): Promise<T> {
    const call: Call = { name, args, at: Date.now(), rowStatus: this.status, ended: false };
    this.calls.push(call);
    this.changed();
    try {
      call.result = await run();
      return call.result as T;
    } catch (err) {
      call.error = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      call.ended = true;
      this.changed();
    }
  }

  // ---- What the activities do ----------------------------------------------

  start() {
    this.status = statusOnStart(this.status);
    return { status: this.status, snapshot: this.snapshot(), nextFlushSeq: this.flushSeqs.size };
  }

  /** As the store moves a row: a repeated move is a no-op, an illegal one fails without retries. */
  setStatus(status: JobStatus, error?: string): JobStatus {
    if (status !== this.status) {
      if (!canMove(this.status, status)) {
        const refused = new IllegalTransitionError(this.jobId, this.status, status);
        throw ApplicationFailure.create({ message: refused.message, type: refused.name, nonRetryable: true });
      }
      this.status = status;
      this.error = error;
    }
    this.changed();
    return this.status;
  }

  /** Lists and records everything added so far; `complete` once a one-time job's input is all listed. */
  scan() {
    if (this.failNextIngest) {
      const err = this.failNextIngest;
      this.failNextIngest = undefined;
      throw err;
    }
    const listed = this.input.splice(0);
    const ts = Date.now();
    this.buffer.push(...listed.map((f) => ({ ...f, ts })));
    this.changed();
    return {
      recorded: listed.length,
      exhausted: true,
      complete: true,
      cursor: listed.at(-1)?.key ?? null,
      snapshot: this.snapshot(),
    };
  }

  flush(flushSeq: number) {
    if (this.flushSeqs.has(flushSeq)) throw new Error(`flush ${flushSeq} submitted twice`);
    this.flushSeqs.add(flushSeq);
    const files = this.buffer.splice(0).length;
    let compressionJobId: number | null = null;
    if (files > 0) {
      compressionJobId = nextCompressionJobId++;
      this.compressionJobs.push({ id: compressionJobId, files, state: 'pending', outcome: 'compressed' });
      if (this.autoCompress) this.compress();
    }
    this.changed();
    return { compressionJobId, numFiles: files, snapshot: this.snapshot() };
  }

  /** Records the fate of finished compression jobs; waits a moment for one when none has finished. */
  async awaitCompression() {
    const finished = () => this.compressionJobs.filter((c) => c.state === 'done');
    if (finished().length === 0) {
      await this.until('a compression job to end', () => finished().length > 0, AWAIT_POLL_MS).catch(
        () => undefined,
      );
    }
    const finalized = finished().map((c): FinalizedCompressionJob => {
      c.state = 'recorded';
      return { compressionJobId: c.id, status: c.outcome, numFiles: c.files };
    });
    this.changed();
    return { finalized, snapshot: this.snapshot(), nextBackoffMs: 1_000 };
  }
}

/** The fake jobs of a test file, by job id; `activities` is what its worker registers. */
export class FakeJobs {
  private readonly jobs = new Map<number, FakeJob>();
  private nextJobId = 1;

  create(kind: JobKind, config: unknown): FakeJob {
    const fake = new FakeJob(this.nextJobId++, parseJobConfig(kind, config));
    this.jobs.set(fake.jobId, fake);
    return fake;
  }

  get(jobId: number): FakeJob {
    const fake = this.jobs.get(jobId);
    if (!fake) throw ApplicationFailure.nonRetryable(`no fake job ${jobId}`, 'NonRecoverableIngestionError');
    return fake;
  }

  /** The jobs a workflow registered itself (started with a kind and config). */
  registered(workflowId: string): FakeJob | undefined {
    return [...this.jobs.values()].find((j) => j.calls[0]?.name === `registerJob ${workflowId}`);
  }

  readonly activities = {
    registerJob: async (origin: { workflowId: string }, request: NewJobInput): Promise<RegisteredJob> => {
      let fake: FakeJob;
      try {
        fake = this.create(request.kind as JobKind, request.config);
      } catch (err) {
        throw ApplicationFailure.nonRetryable(
          `cannot create the ingestion job: ${(err as Error).message}`,
          'NonRecoverableIngestionError',
        );
      }
      return fake.record(`registerJob ${origin.workflowId}`, [origin, request], () => ({
        jobId: fake.jobId,
        job: fake.job,
        bucket: fake.job.kind === 'fs' ? '' : (fake.job.config.bucket_name ?? ''),
      }));
    },
    startJob: async (jobId: number) => this.call(jobId, 'startJob', [jobId], (j) => j.start()),
    getBufferSnapshot: async (jobId: number) =>
      this.call(jobId, 'getBufferSnapshot', [jobId], (j) => j.snapshot()),
    setJobStatus: async (jobId: number, status: JobStatus, errorMsg?: string) =>
      this.call(jobId, 'setJobStatus', [jobId, status, errorMsg], (j) => j.setStatus(status, errorMsg)),
    scanS3: async (jobId: number, config: S3ScannerConfig, maxDurationMs: number) =>
      this.call(jobId, 'scanS3', [jobId, config, maxDurationMs], (j) => j.scan()),
    flushBuffer: async (jobId: number, job: JobConfig, flushSeq: number) =>
      this.call(jobId, 'flushBuffer', [jobId, job, flushSeq], (j) => j.flush(flushSeq)),
    awaitCompressionJobs: async (jobId: number, backoffMs: number, maxWaitMs: number) =>
      this.call(jobId, 'awaitCompressionJobs', [jobId, backoffMs, maxWaitMs], (j) => j.awaitCompression()),
  } satisfies Partial<Activities>;

  private call<T>(jobId: number, name: string, args: unknown[], run: (j: FakeJob) => T | Promise<T>) {
    const fake = this.get(jobId);
    return fake.record(name, args, () => run(fake));
  }
}
