/**
 * All persistence of the log-ingestor, behind one narrow interface: ingestion
 * jobs, the S3 scanner's cursor, ingested files and compression submissions.
 * Every method that changes state is one transaction and is safe to repeat,
 * which is what makes every activity idempotent under retry.
 */
import { createHash } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { conflicts, parseJobConfig, s3Source, type JobConfig, type JobKind } from '../config/job-config';
import { ACTIVE_STATUSES, workflowIdFor as defaultWorkflowId, type JobStatus } from '../lifecycle';
import { noIngestorMetrics, type IngestorMetrics } from '../metrics';
import { withTransaction, type Db, type Tx } from './db';
import { CompressionJobStatus, TABLES } from './schema';

export { ACTIVE_STATUSES, JOB_STATUSES, type JobStatus } from '../lifecycle';

export const FILE_STATUSES = ['buffered', 'submitted', 'compressed', 'failed'] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

export interface JobRow {
  id: number;
  kind: JobKind;
  config: JobConfig;
  status: JobStatus;
  numFilesIngested: number;
  numFilesCompressed: number;
  numFilesFailed: number;
  numMessagesIgnored: number;
  errorMsg: string | null;
  dataset: string;
  bucketName: string;
  creationTs: number;
  lastUpdateTs: number;
  /** The id of the job's Temporal workflow. */
  workflowId: string;
}

/** A job that its own workflow records (started from any Temporal client): the run that records it. */
export interface WorkflowOrigin {
  workflowId: string;
  /** The first run of the workflow execution: one job per execution, however often the call is retried. */
  firstRunId: string;
}

/** A file to record: `path` is bucket/key (S3) or the full path (fs). */
export interface NewFile {
  path: string;
  size: number;
  /** S3 files: where the object is, kept apart (CLP's ingested_s3_object_metadata reads them). */
  s3?: { bucket: string; key: string };
  /** What makes this file distinct within its job; defaults to the path. */
  dedupKey?: string;
}

/** A file recorded as failed as soon as it is known (an object that does not exist), with why. */
export interface FailedFile extends NewFile {
  reason: string;
}

/** What is buffered (durably ingested, not yet submitted) and awaited. */
export interface BufferSnapshot {
  files: number;
  bytes: number;
  /** When the oldest buffered file was ingested (ms since epoch), or null. */
  oldestTs: number | null;
  /** Compression jobs with files still in `submitted`. */
  outstandingCompressionJobs: number;
}

export interface IgnoredMessage {
  messageId: string;
  reason: string;
  /** The message body (a sample: at most 512 bytes are kept). */
  body: string;
}

export interface Submission {
  compressionJobId: number | null;
  numFiles: number;
}

export interface FinalizedCompressionJob {
  compressionJobId: number;
  status: 'compressed' | 'failed';
  numFiles: number;
}

/** A KILLED compression job whose files went into a new one. */
export interface ResubmittedCompressionJob {
  killedCompressionJobId: number;
  compressionJobId: number;
  attempt: number;
  numFiles: number;
}

/** One file as a compression job names it: one per distinct path, the newest record's size. */
export interface FileToCompress {
  id: number;
  path: string;
  /** The S3 bucket and key (null for fs files; the bucket is read only by jobs with several buckets). */
  bucket?: string | null;
  key: string | null;
  size: number;
}

export interface FileRow {
  id: number;
  path: string;
  size: number;
  status: FileStatus;
  compressionJobId: number | null;
  /** Every compression job the file went through, oldest first (more than one after KILLED jobs). */
  compressionJobIds: number[];
  /** Why a file failed without a compression job (e.g. a listed object that does not exist); else null. */
  error: string | null;
}

/** An S3 scanner's cursor and its order-free re-list's state (times in ms since epoch). */
export interface RescanState {
  cursor: string | null;
  /** When the last completed re-list pass began (null: the clock has not started). */
  lastTs: number | null;
  /** When the pass in progress began (null: none in progress). */
  passTs: number | null;
  /** The last key the pass in progress recorded (null: from the beginning). */
  afterKey: string | null;
}

export class ConflictError extends Error {
  override name = 'ConflictError';
}

export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

const J = TABLES.ingestionJobs;
const F = TABLES.ingestedFiles;
const S = TABLES.s3ScannerState;
const SUB = TABLES.submissions;
const A = TABLES.attempts;
const TERMINAL_COMPRESSION = [
  CompressionJobStatus.SUCCEEDED,
  CompressionJobStatus.FAILED,
  CompressionJobStatus.KILLED,
] as const;
const INSERT_CHUNK = 1000;

/**
 * The job row's lock. Transactions that insert a job's files take it first,
 * so the inserters of one job (pages, concurrent SQS listeners) queue up in
 * one order instead of deadlocking on index gaps. A flush or a completion,
 * which move many existing rows, take it last and only to change the
 * counters, so they never hold up the inserters for long.
 */
async function lockJob(tx: Tx, jobId: number): Promise<void> {
  await tx.query(`SELECT id FROM ${J} WHERE id = ? FOR UPDATE`, [jobId]);
}

function dedupHash(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** One entry per distinct path, the newest record's (rows in id order). */
function distinctPaths(rows: RowDataPacket[]): FileToCompress[] {
  const byPath = new Map<string, FileToCompress>();
  for (const r of rows) {
    byPath.set(r.path, {
      id: Number(r.id),
      path: r.path,
      bucket: r.bucket ?? null,
      key: r.object_key ?? null,
      size: Number(r.size),
    });
  }
  return [...byPath.values()];
}

function toJobRow(r: RowDataPacket): JobRow {
  return {
    id: Number(r.id),
    kind: r.kind,
    config: parseJobConfig(r.kind, JSON.parse(r.config)),
    status: r.status,
    numFilesIngested: Number(r.num_files_ingested),
    numFilesCompressed: Number(r.num_files_compressed),
    numFilesFailed: Number(r.num_files_failed),
    numMessagesIgnored: Number(r.num_messages_ignored),
    errorMsg: r.error_msg === null ? null : Buffer.from(r.error_msg).toString('utf8'),
    dataset: r.dataset,
    bucketName: r.bucket_name,
    creationTs: Number(r.creation_ts),
    lastUpdateTs: Number(r.last_update_ts),
    workflowId: r.workflow_id ?? defaultWorkflowId(Number(r.id)),
  };
}

/** What an insert of files added: rows and their bytes. */
interface Inserted {
  files: number;
  bytes: number;
}
const NOTHING: Inserted = { files: 0, bytes: 0 };

export class IngestionStore {
  /** Job kinds by id, for the metrics' labels (a job's kind never changes). */
  private readonly kinds = new Map<number, JobKind>();

  constructor(
    readonly db: Db,
    private readonly now: () => number = Date.now,
    /** Told of what each writing transaction did, once it committed. */
    private readonly metrics: IngestorMetrics = noIngestorMetrics,
  ) {}

  /** Reports to the metrics after a commit; a failure here never fails the caller. */
  private async report(jobId: number, fn: (kind: JobKind) => void): Promise<void> {
    if (this.metrics === noIngestorMetrics) return;
    try {
      let kind = this.kinds.get(jobId);
      if (!kind) {
        const [[row]] = await this.db.query<RowDataPacket[]>(`SELECT kind FROM ${J} WHERE id = ?`, [jobId]);
        if (!row) return;
        this.kinds.set(jobId, (kind = row.kind as JobKind));
      }
      fn(kind);
    } catch {
      // metrics are best effort
    }
  }

  private async reportRecorded(jobId: number, r: Inserted): Promise<number> {
    if (r.files) await this.report(jobId, (kind) => this.metrics.filesRecorded(kind, r.files, r.bytes));
    return r.files;
  }

  // ------------------------------------------------------------------ jobs --

  /**
   * Records a new job as `requested`, refusing one that conflicts with an
   * active job. With `origin` (a workflow recording its own job), the job that
   * execution already recorded is returned instead, so a retried or zombie
   * call records nothing twice. Without it, the workflow id is the default one.
   */
  async createJob(job: JobConfig, origin?: WorkflowOrigin): Promise<number> {
    const conn = await this.db.getConnection();
    try {
      // A named lock makes check-then-insert atomic across concurrent creators.
      const [[lock]] = await conn.query<RowDataPacket[]>(
        "SELECT GET_LOCK('clp_ingestor_create_job', 10) AS got",
      );
      if (lock.got !== 1) throw new Error('createJob: timed out waiting for the job-creation lock');
      try {
        if (origin) {
          const [mine] = await conn.query<RowDataPacket[]>(
            `SELECT id FROM ${J} WHERE workflow_id = ? AND workflow_first_run_id = ?`,
            [origin.workflowId, origin.firstRunId],
          );
          if (mine.length) return Number(mine[0]!.id);
        }
        const src = s3Source(job);
        if (src) {
          // bucket_name holds a job's first bucket only (an SQS job may list several): the dataset's active
          // S3 jobs are all compared.
          const [active] = await conn.query<RowDataPacket[]>(
            `SELECT id, kind, config FROM ${J} WHERE kind <> 'fs' AND dataset = ? AND status IN (?)`,
            [src.dataset, ACTIVE_STATUSES],
          );
          for (const other of active) {
            if (conflicts(job, parseJobConfig(other.kind, JSON.parse(other.config)))) {
              throw new ConflictError(
                `conflicts with active ingestion job ${other.id}: same bucket, region, endpoint and dataset, and one key prefix contains the other`,
              );
            }
          }
        }
        const ts = this.now();
        await conn.beginTransaction();
        try {
          const [res] = await conn.query<ResultSetHeader>(
            `INSERT INTO ${J} (kind, config, status, dataset, bucket_name, creation_ts, last_update_ts,
               workflow_id, workflow_first_run_id)
             VALUES (?, ?, 'requested', ?, ?, ?, ?, ?, ?)`,
            [
              job.kind,
              JSON.stringify(job.config),
              job.config.dataset,
              src?.bucket ?? '',
              ts,
              ts,
              origin?.workflowId ?? null,
              origin?.firstRunId ?? null,
            ],
          );
          if (!origin) {
            await conn.query(`UPDATE ${J} SET workflow_id = ? WHERE id = ?`, [
              defaultWorkflowId(res.insertId),
              res.insertId,
            ]);
          }
          if (job.kind === 's3_scanner' || job.kind === 's3_object_list') {
            await conn.query(`INSERT INTO ${S} (id, last_ingested_key) VALUES (?, NULL)`, [res.insertId]);
          }
          await conn.commit();
          return res.insertId;
        } catch (err) {
          await conn.rollback();
          throw err;
        }
      } finally {
        await conn.query("SELECT RELEASE_LOCK('clp_ingestor_create_job')");
      }
    } finally {
      conn.release();
    }
  }

  async getJob(id: number): Promise<JobRow | null> {
    const [rows] = await this.db.query<RowDataPacket[]>(`SELECT * FROM ${J} WHERE id = ?`, [id]);
    return rows.length ? toJobRow(rows[0]) : null;
  }

  async requireJob(id: number): Promise<JobRow> {
    const job = await this.getJob(id);
    if (!job) throw new NotFoundError(`no ingestion job ${id}`);
    return job;
  }

  /** The job a workflow (by its id) runs: the newest, when the id was used for several. */
  async requireJobOfWorkflow(workflowId: string): Promise<JobRow> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT * FROM ${J} WHERE workflow_id = ? ORDER BY id DESC LIMIT 1`,
      [workflowId],
    );
    if (!rows.length) throw new NotFoundError(`no ingestion job of workflow ${workflowId}`);
    return toJobRow(rows[0]);
  }

  async listJobs(filter: { status?: JobStatus[]; dataset?: string } = {}): Promise<JobRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status?.length) {
      where.push('status IN (?)');
      args.push(filter.status);
    }
    if (filter.dataset) {
      where.push('dataset = ?');
      args.push(filter.dataset);
    }
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT * FROM ${J} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`,
      args,
    );
    return rows.map(toJobRow);
  }

  /**
   * Moves a job to `to` if its status is one of `from` (or already `to`, so a
   * retry is harmless). Returns the status the job has afterwards.
   */
  async transitionJob(
    id: number,
    from: readonly JobStatus[],
    to: JobStatus,
    errorMsg?: string,
  ): Promise<JobStatus> {
    return withTransaction(this.db, async (tx) => {
      const [[row]] = await tx.query<RowDataPacket[]>(`SELECT status FROM ${J} WHERE id = ? FOR UPDATE`, [
        id,
      ]);
      if (!row) throw new NotFoundError(`no ingestion job ${id}`);
      if (row.status === to || !from.includes(row.status)) return row.status as JobStatus;
      await tx.query(
        `UPDATE ${J} SET status = ?, error_msg = COALESCE(?, error_msg), last_update_ts = ? WHERE id = ?`,
        [to, errorMsg ?? null, this.now(), id],
      );
      return to;
    });
  }

  // ----------------------------------------------------------------- files --

  async getScannerCursor(jobId: number): Promise<string | null> {
    const [[row]] = await this.db.query<RowDataPacket[]>(`SELECT last_ingested_key FROM ${S} WHERE id = ?`, [
      jobId,
    ]);
    if (!row) throw new NotFoundError(`no S3-scanner state for ingestion job ${jobId}`);
    return row.last_ingested_key;
  }

  /** The order-free re-list's clock and position (see recordRescanPage). */
  async getRescanState(jobId: number): Promise<RescanState> {
    const [[row]] = await this.db.query<RowDataPacket[]>(
      `SELECT last_ingested_key, rescan_last_ts, rescan_pass_ts, rescan_after_key FROM ${S} WHERE id = ?`,
      [jobId],
    );
    if (!row) throw new NotFoundError(`no S3-scanner state for ingestion job ${jobId}`);
    const ts = (v: unknown) => (v === null ? null : Number(v));
    return {
      cursor: row.last_ingested_key,
      lastTs: ts(row.rescan_last_ts),
      passTs: ts(row.rescan_pass_ts),
      afterKey: row.rescan_after_key,
    };
  }

  /**
   * Starts the clock (lastTs NULL: set to `now`, no pass is due yet) or a
   * re-list pass beginning at `now`, if the state is still `seen` (a
   * concurrent call did neither). Returns whether this call changed it.
   */
  async startRescan(jobId: number, seen: RescanState, now: number): Promise<boolean> {
    const [res] = await this.db.query<ResultSetHeader>(
      seen.lastTs === null
        ? `UPDATE ${S} SET rescan_last_ts = ? WHERE id = ? AND rescan_last_ts IS NULL AND rescan_pass_ts IS NULL`
        : `UPDATE ${S} SET rescan_pass_ts = ?, rescan_after_key = NULL
           WHERE id = ? AND rescan_last_ts = ? AND rescan_pass_ts IS NULL`,
      seen.lastTs === null ? [now, jobId] : [now, jobId, seen.lastTs],
    );
    return res.affectedRows === 1;
  }

  /**
   * One page of a re-list pass in one transaction: the files not yet
   * recorded as `buffered` rows (INSERT IGNORE on the job's unique key, so a
   * file is recorded once however often it is listed), and the pass moved on
   * to `afterKey`, or ended (`done`: the pass's start becomes the last
   * re-list's time). Compare-and-set on the pass and its position: a
   * retried or zombie call finds them moved and gets null (nothing written).
   * The cursor is never touched. Costs one locking read of two rows, the
   * page's unique-key lookups and one update: nothing grows with what the
   * job holds.
   */
  async recordRescanPage(
    jobId: number,
    files: NewFile[],
    passTs: number,
    expectedAfterKey: string | null,
    next: { afterKey: string | null; done: boolean },
  ): Promise<number | null> {
    const r = await withTransaction(this.db, async (tx) => {
      const [[state]] = await tx.query<RowDataPacket[]>(
        `SELECT s.rescan_pass_ts, s.rescan_after_key FROM ${J} j JOIN ${S} s ON s.id = j.id WHERE j.id = ? FOR UPDATE`,
        [jobId],
      );
      if (!state || Number(state.rescan_pass_ts) !== passTs || state.rescan_after_key !== expectedAfterKey)
        return null;
      const n = files.length ? await this.insertFiles(tx, jobId, files) : NOTHING;
      if (next.done) {
        await tx.query(
          `UPDATE ${S} SET rescan_last_ts = rescan_pass_ts, rescan_pass_ts = NULL, rescan_after_key = NULL WHERE id = ?`,
          [jobId],
        );
      } else if (next.afterKey !== expectedAfterKey) {
        await tx.query(`UPDATE ${S} SET rescan_after_key = ? WHERE id = ?`, [next.afterKey, jobId]);
      }
      return n;
    });
    return r && this.reportRecorded(jobId, r);
  }

  /**
   * One scanned page in one transaction: the files as `buffered` rows (ones
   * already recorded are skipped) and the cursor moved from `expectedCursor`
   * to `newCursor` (null: the cursor stays). If the cursor is no longer
   * `expectedCursor`, another call already recorded this page (a retried or
   * zombie activity): nothing is written and null is returned. Otherwise
   * returns the files recorded. `failed` files (an object list's missing
   * objects) are recorded as `failed` with their reason, in the same
   * transaction, and counted as ingested and failed.
   */
  async recordS3Page(
    jobId: number,
    files: NewFile[],
    expectedCursor: string | null,
    newCursor: string | null,
    failed: FailedFile[] = [],
  ): Promise<number | null> {
    const r = await withTransaction(this.db, async (tx) => {
      // The job row's lock (every writer of the job takes it first) and the cursor, in one round trip.
      const [[state]] = await tx.query<RowDataPacket[]>(
        `SELECT s.last_ingested_key FROM ${J} j JOIN ${S} s ON s.id = j.id WHERE j.id = ? FOR UPDATE`,
        [jobId],
      );
      if (!state || state.last_ingested_key !== expectedCursor) return null;
      if (newCursor !== null && newCursor !== expectedCursor) {
        await tx.query(`UPDATE ${S} SET last_ingested_key = ? WHERE id = ?`, [newCursor, jobId]);
      }
      const bad = failed.length ? await this.insertFailedFiles(tx, jobId, failed) : 0;
      const ok = files.length ? await this.insertFiles(tx, jobId, files) : NOTHING;
      // Files recorded as failed are recorded too (num_files_ingested counts them).
      return { files: ok.files + bad, bytes: ok.bytes };
    });
    return r && this.reportRecorded(jobId, r);
  }

  /** Records files as `failed` with their reason (ones already recorded are skipped); grows the counters. */
  private async insertFailedFiles(tx: Tx, jobId: number, files: FailedFile[]): Promise<number> {
    const ts = this.now();
    let inserted = 0;
    for (let i = 0; i < files.length; i += INSERT_CHUNK) {
      const rows = files
        .slice(i, i + INSERT_CHUNK)
        .map((f) => [
          f.path,
          f.s3?.bucket ?? null,
          f.s3?.key ?? null,
          f.size,
          'failed',
          f.reason.slice(0, 512),
          jobId,
          dedupHash(f.dedupKey ?? f.path),
          ts,
          ts,
        ]);
      const [res] = await tx.query<ResultSetHeader>(
        `INSERT IGNORE INTO ${F} (path, bucket, object_key, size, status, failure_reason, ingestion_job_id, dedup_hash, creation_ts, last_update_ts) VALUES ?`,
        [rows],
      );
      inserted += res.affectedRows;
    }
    if (inserted)
      await tx.query(
        `UPDATE ${J} SET num_files_ingested = num_files_ingested + ?, num_files_failed = num_files_failed + ?,
           last_update_ts = ? WHERE id = ?`,
        [inserted, inserted, ts, jobId],
      );
    return inserted;
  }

  /** Records files (SQS, fs) as `buffered`; ones already recorded are skipped. */
  async recordFiles(jobId: number, files: NewFile[]): Promise<number> {
    if (files.length === 0) return 0;
    const r = await withTransaction(this.db, async (tx) => {
      await lockJob(tx, jobId);
      return this.insertFiles(tx, jobId, files);
    });
    return this.reportRecorded(jobId, r);
  }

  /**
   * One batch of SQS messages in one transaction: the files their S3
   * notifications name, and the messages ignored (keyed by message id, so a
   * redelivered message is neither recorded nor counted twice).
   */
  async recordMessageBatch(
    jobId: number,
    files: NewFile[],
    ignored: IgnoredMessage[],
  ): Promise<{ recorded: number; ignored: number }> {
    if (files.length === 0 && ignored.length === 0) return { recorded: 0, ignored: 0 };
    const r = await withTransaction(this.db, async (tx) => {
      await lockJob(tx, jobId);
      const recorded = files.length ? await this.insertFiles(tx, jobId, files) : NOTHING;
      let newlyIgnored = 0;
      if (ignored.length) {
        const ts = this.now();
        const [res] = await tx.query<ResultSetHeader>(
          `INSERT IGNORE INTO ${TABLES.ignoredMessages} (ingestion_job_id, message_id, reason, body_sample, creation_ts) VALUES ?`,
          [
            ignored.map((m) => [
              jobId,
              m.messageId,
              m.reason.slice(0, 255),
              Buffer.from(m.body).subarray(0, 512),
              ts,
            ]),
          ],
        );
        newlyIgnored = res.affectedRows;
        if (newlyIgnored) {
          await tx.query(
            `UPDATE ${J} SET num_messages_ignored = num_messages_ignored + ?, last_update_ts = ? WHERE id = ?`,
            [newlyIgnored, ts, jobId],
          );
        }
      }
      return { recorded, ignored: newlyIgnored };
    });
    if (r.ignored) await this.report(jobId, () => this.metrics.messagesIgnored(r.ignored));
    return { recorded: await this.reportRecorded(jobId, r.recorded), ignored: r.ignored };
  }

  async listIgnoredMessages(jobId: number, limit = 20): Promise<IgnoredMessage[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT message_id, reason, body_sample FROM ${TABLES.ignoredMessages} WHERE ingestion_job_id = ?
       ORDER BY creation_ts, message_id LIMIT ?`,
      [jobId, limit],
    );
    return rows.map((r) => ({
      messageId: r.message_id,
      reason: r.reason,
      body: Buffer.from(r.body_sample).toString('utf8'),
    }));
  }

  /**
   * Inserts the files not yet recorded and grows the job's counters by what
   * was inserted. The caller holds the job's row lock, so every row of this
   * job with an id from the first insert's on is one of ours: when some were
   * already recorded, their bytes are summed from that id range (O(page)).
   */
  private async insertFiles(tx: Tx, jobId: number, files: NewFile[]): Promise<Inserted> {
    const ts = this.now();
    let inserted = 0;
    let bytes = 0;
    let firstId: number | null = null;
    let partial = false;
    for (let i = 0; i < files.length; i += INSERT_CHUNK) {
      const chunk = files.slice(i, i + INSERT_CHUNK);
      const rows = chunk.map((f) => [
        f.path,
        f.s3?.bucket ?? null,
        f.s3?.key ?? null,
        f.size,
        'buffered',
        jobId,
        dedupHash(f.dedupKey ?? f.path),
        ts,
        ts,
      ]);
      const [res] = await tx.query<ResultSetHeader>(
        `INSERT IGNORE INTO ${F} (path, bucket, object_key, size, status, ingestion_job_id, dedup_hash, creation_ts, last_update_ts) VALUES ?`,
        [rows],
      );
      if (res.affectedRows > 0) firstId ??= res.insertId;
      inserted += res.affectedRows;
      if (res.affectedRows === chunk.length) bytes += chunk.reduce((n, f) => n + f.size, 0);
      else partial = true;
    }
    if (inserted === 0) return NOTHING;
    if (partial) {
      const [[sum]] = await tx.query<RowDataPacket[]>(
        `SELECT COALESCE(SUM(size), 0) AS bytes FROM ${F} WHERE ingestion_job_id = ? AND status = 'buffered' AND id >= ?`,
        [jobId, firstId],
      );
      bytes = Number(sum.bytes);
    }
    await tx.query(
      `UPDATE ${J} SET num_files_ingested = num_files_ingested + ?, buffered_files = buffered_files + ?,
         buffered_bytes = buffered_bytes + ?, buffered_oldest_ts = COALESCE(buffered_oldest_ts, ?), last_update_ts = ?
       WHERE id = ?`,
      [inserted, inserted, bytes, ts, ts, jobId],
    );
    return { files: inserted, bytes };
  }

  /** The job's buffer and outstanding compression jobs: one row, kept by the writing transactions. */
  async bufferSnapshot(jobId: number): Promise<BufferSnapshot> {
    const [[row]] = await this.db.query<RowDataPacket[]>(
      `SELECT buffered_files, buffered_bytes, buffered_oldest_ts, outstanding_compression_jobs FROM ${J} WHERE id = ?`,
      [jobId],
    );
    if (!row) throw new NotFoundError(`no ingestion job ${jobId}`);
    return {
      files: Number(row.buffered_files),
      bytes: Number(row.buffered_bytes),
      oldestTs: row.buffered_oldest_ts === null ? null : Number(row.buffered_oldest_ts),
      outstandingCompressionJobs: Number(row.outstanding_compression_jobs),
    };
  }

  /** The flush sequence number a (re)started job workflow continues from. */
  async nextFlushSeq(jobId: number): Promise<number> {
    const [[row]] = await this.db.query<RowDataPacket[]>(
      `SELECT COALESCE(MAX(flush_seq), 0) + 1 AS next FROM ${SUB} WHERE ingestion_job_id = ?`,
      [jobId],
    );
    return Number(row.next);
  }

  /**
   * Flush number `flushSeq`: in one transaction, up to `maxFiles` buffered
   * files become one PENDING compression job and are marked `submitted` with
   * its id. Repeating the same flushSeq returns the first result and writes
   * nothing, so a retried activity never creates a second compression job.
   *
   * CLP fails a whole job that names a key twice, so the job names each path
   * once: records of the same path (an S3 key uploaded twice, seen by SQS)
   * share one entry, the newest record's, and all get the job's id.
   *
   * The job row's lock is taken last, only for the counters: the scan or the
   * listeners of the job keep committing pages while the flush moves its
   * rows (at 20,000 files that takes most of a second). The flush's own row
   * in the submissions table, inserted first, is what serializes repeats of
   * one flush; READ COMMITTED keeps the buffered-row search free of gap
   * locks, so new buffered rows are never blocked by it.
   */
  async submitBuffered(
    jobId: number,
    flushSeq: number,
    maxFiles: number,
    buildClpConfig: (files: FileToCompress[]) => Promise<Buffer>,
    opts: { oneBucket?: boolean } = {},
  ): Promise<Submission> {
    const ts = this.now();
    const first = await withTransaction(
      this.db,
      async (tx): Promise<Submission | 'repeat'> => {
        try {
          await tx.query(
            `INSERT INTO ${SUB} (ingestion_job_id, flush_seq, compression_job_id, num_files, finalized, creation_ts)
             VALUES (?, ?, NULL, 0, 1, ?)`,
            [jobId, flushSeq, ts],
          );
        } catch (err) {
          // This flush committed already (a concurrent repeat waited on its row until it did).
          if ((err as { code?: string }).code === 'ER_DUP_ENTRY') return 'repeat';
          throw err;
        }
        // Committed rows only (no locking read): rows a page is inserting right now wait for the next flush.
        let rows: RowDataPacket[];
        if (opts.oneBucket) {
          // A CLP S3 job reads one bucket: this flush takes the oldest file's bucket, the next flush (due at
          // once while the rest is due) the next one's.
          const [[oldest]] = await tx.query<RowDataPacket[]>(
            `SELECT bucket FROM ${F} WHERE ingestion_job_id = ? AND status = 'buffered' ORDER BY id LIMIT 1`,
            [jobId],
          );
          [rows] = oldest
            ? await tx.query<RowDataPacket[]>(
                `SELECT id, path, bucket, object_key, size FROM ${F}
                 WHERE ingestion_job_id = ? AND status = 'buffered' AND bucket = ? ORDER BY id LIMIT ?`,
                [jobId, oldest.bucket, maxFiles],
              )
            : [[]];
        } else {
          [rows] = await tx.query<RowDataPacket[]>(
            `SELECT id, path, bucket, object_key, size FROM ${F} WHERE ingestion_job_id = ? AND status = 'buffered' ORDER BY id LIMIT ?`,
            [jobId, maxFiles],
          );
        }
        if (rows.length === 0) return { compressionJobId: null, numFiles: 0 };
        const files = distinctPaths(rows);
        const compressionJobId = await this.insertCompressionJob(tx, files, buildClpConfig);
        let moved = 0;
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
          const ids = rows.slice(i, i + INSERT_CHUNK).map((f) => f.id);
          const [res] = await tx.query<ResultSetHeader>(
            `UPDATE ${F} SET status = 'submitted', compression_job_id = ?, last_update_ts = ?
             WHERE id IN (?) AND status = 'buffered'`,
            [compressionJobId, ts, ids],
          );
          moved += res.affectedRows;
        }
        // Only a flush moves buffered rows, and repeats of this one wait on its submissions row.
        if (moved !== rows.length)
          throw new Error(`flush ${flushSeq} of job ${jobId}: ${rows.length - moved} files moved under it`);
        await tx.query(
          `UPDATE ${SUB} SET compression_job_id = ?, num_files = ?, finalized = 0 WHERE ingestion_job_id = ? AND flush_seq = ?`,
          [compressionJobId, rows.length, jobId, flushSeq],
        );
        await tx.query(
          `INSERT INTO ${A} (ingestion_job_id, flush_seq, attempt, compression_job_id, creation_ts) VALUES (?, ?, 1, ?, ?)`,
          [jobId, flushSeq, compressionJobId, ts],
        );
        // Last, the counters, under the job's lock: a page that committed before it is seen by the oldest-row
        // search; one after it finds buffered_oldest_ts as this leaves it.
        await lockJob(tx, jobId);
        const [[oldest]] = await tx.query<RowDataPacket[]>(
          `SELECT creation_ts FROM ${F} WHERE ingestion_job_id = ? AND status = 'buffered' ORDER BY id LIMIT 1`,
          [jobId],
        );
        await tx.query(
          `UPDATE ${J} SET buffered_files = buffered_files - ?, buffered_bytes = buffered_bytes - ?,
             buffered_oldest_ts = ?, outstanding_compression_jobs = outstanding_compression_jobs + 1 WHERE id = ?`,
          [rows.length, rows.reduce((n, r) => n + Number(r.size), 0), oldest?.creation_ts ?? null, jobId],
        );
        return { compressionJobId, numFiles: rows.length };
      },
      { readCommitted: true },
    );
    if (first !== 'repeat') {
      if (first.numFiles) await this.report(jobId, (kind) => this.metrics.flushed(kind, first.numFiles));
      return first;
    }
    const [[done]] = await this.db.query<RowDataPacket[]>(
      `SELECT compression_job_id, num_files FROM ${SUB} WHERE ingestion_job_id = ? AND flush_seq = ?`,
      [jobId, flushSeq],
    );
    return { compressionJobId: done.compression_job_id, numFiles: Number(done.num_files) };
  }

  private async insertCompressionJob(
    tx: Tx,
    files: FileToCompress[],
    buildClpConfig: (files: FileToCompress[]) => Promise<Buffer>,
  ): Promise<number> {
    const clpConfig = await buildClpConfig(files);
    const originalSize = files.reduce((sum, f) => sum + f.size, 0);
    const [res] = await tx.query<ResultSetHeader>(
      `INSERT INTO compression_jobs (status, original_size, clp_config) VALUES (?, ?, ?)`,
      [CompressionJobStatus.PENDING, originalSize, clpConfig],
    );
    return res.insertId;
  }

  /** Compression jobs of this ingestion job whose outcome is not yet recorded. */
  async outstandingCompressionJobs(jobId: number): Promise<number[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT compression_job_id AS id FROM ${SUB} WHERE ingestion_job_id = ? AND finalized = 0`,
      [jobId],
    );
    return rows.map((r) => Number(r.id));
  }

  /**
   * For each of `compressionJobIds` that reached a terminal state, in one
   * transaction: SUCCEEDED moves its files to `compressed`, FAILED to
   * `failed`, and both grow the job's counters. KILLED (CLP's compression
   * cluster failed, not the data) puts the same files into a new compression
   * job, until a flush has had `maxAttempts` jobs; then they are `failed`.
   * Only `submitted` files move and a resubmission happens once per killed
   * job (its submission row is checked under lock), so a repeat is harmless.
   */
  async finalizeCompressionJobs(
    jobId: number,
    compressionJobIds: number[],
    retry: { maxAttempts: number; buildClpConfig: (files: FileToCompress[]) => Promise<Buffer> },
  ): Promise<{ finalized: FinalizedCompressionJob[]; resubmitted: ResubmittedCompressionJob[] }> {
    const none = { finalized: [], resubmitted: [] };
    if (compressionJobIds.length === 0) return none;
    const [terminal] = await this.db.query<RowDataPacket[]>(
      `SELECT id, status FROM compression_jobs WHERE id IN (?) AND status IN (?)`,
      [compressionJobIds, TERMINAL_COMPRESSION],
    );
    if (terminal.length === 0) return none;
    // As in a flush, the job row's lock only for the counters, last: repeats of one completion queue up on the
    // files' and the submission's row locks, and at READ COMMITTED find them already moved.
    const result = await withTransaction(
      this.db,
      async (tx) => {
        const finalized: FinalizedCompressionJob[] = [];
        const resubmitted: ResubmittedCompressionJob[] = [];
        let compressed = 0;
        let failed = 0;
        let newlyFinalized = 0;
        const ts = this.now();
        for (const cj of terminal) {
          const id = Number(cj.id);
          if (Number(cj.status) === CompressionJobStatus.KILLED) {
            const again = await this.resubmitKilled(tx, jobId, id, retry.maxAttempts, retry.buildClpConfig);
            if (again === 'already') continue;
            if (again) {
              resubmitted.push(again);
              continue;
            }
          }
          const status = Number(cj.status) === CompressionJobStatus.SUCCEEDED ? 'compressed' : 'failed';
          const [res] = await tx.query<ResultSetHeader>(
            `UPDATE ${F} SET status = ?, last_update_ts = ?
           WHERE compression_job_id = ? AND ingestion_job_id = ? AND status = 'submitted'`,
            [status, ts, id, jobId],
          );
          if (status === 'compressed') compressed += res.affectedRows;
          else failed += res.affectedRows;
          finalized.push({ compressionJobId: id, status, numFiles: res.affectedRows });
          const [sub] = await tx.query<ResultSetHeader>(
            `UPDATE ${SUB} SET finalized = 1 WHERE ingestion_job_id = ? AND compression_job_id = ? AND finalized = 0`,
            [jobId, id],
          );
          newlyFinalized += sub.affectedRows;
        }
        if (compressed || failed || newlyFinalized) {
          await lockJob(tx, jobId);
          await tx.query(
            `UPDATE ${J} SET num_files_compressed = num_files_compressed + ?, num_files_failed = num_files_failed + ?,
           outstanding_compression_jobs = outstanding_compression_jobs - ?, last_update_ts = ? WHERE id = ?`,
            [compressed, failed, newlyFinalized, ts, jobId],
          );
        }
        return { finalized, resubmitted };
      },
      { readCommitted: true },
    );
    this.reportFinalized(result.finalized, result.resubmitted.length);
    return result;
  }

  private reportFinalized(finalized: FinalizedCompressionJob[], resubmitted: number): void {
    // A repeat (a retried or zombie call) moved no files: numFiles 0, nothing counted twice.
    for (const outcome of ['compressed', 'failed'] as const) {
      const ended = finalized.filter((f) => f.status === outcome && f.numFiles > 0);
      const files = ended.reduce((n, f) => n + f.numFiles, 0);
      if (ended.length)
        this.metrics.compressionJobsEnded(
          outcome === 'compressed' ? 'succeeded' : 'failed',
          ended.length,
          files,
        );
    }
    if (resubmitted) this.metrics.resubmitted(resubmitted);
  }

  /**
   * The files of KILLED compression job `killedId` into a new compression job
   * (same files, same config rebuilt), recorded as the flush's next attempt.
   * Returns null when the flush has used all its attempts (its files fail),
   * and 'already' when the job is no longer the flush's current one (a
   * repeat of a resubmission that committed).
   */
  private async resubmitKilled(
    tx: Tx,
    jobId: number,
    killedId: number,
    maxAttempts: number,
    buildClpConfig: (files: FileToCompress[]) => Promise<Buffer>,
  ): Promise<ResubmittedCompressionJob | null | 'already'> {
    const [[sub]] = await tx.query<RowDataPacket[]>(
      `SELECT s.flush_seq, (SELECT MAX(a.attempt) FROM ${A} a
          WHERE a.ingestion_job_id = s.ingestion_job_id AND a.flush_seq = s.flush_seq) AS attempts
       FROM ${SUB} s WHERE s.ingestion_job_id = ? AND s.compression_job_id = ? AND s.finalized = 0 FOR UPDATE`,
      [jobId, killedId],
    );
    if (!sub) return 'already';
    const attempts = Number(sub.attempts ?? 1);
    if (attempts >= maxAttempts) return null;
    const [rows] = await tx.query<RowDataPacket[]>(
      `SELECT id, path, bucket, object_key, size FROM ${F}
       WHERE compression_job_id = ? AND ingestion_job_id = ? AND status = 'submitted' ORDER BY id FOR UPDATE`,
      [killedId, jobId],
    );
    if (rows.length === 0) return null;
    const compressionJobId = await this.insertCompressionJob(tx, distinctPaths(rows), buildClpConfig);
    const ts = this.now();
    await tx.query(
      `UPDATE ${F} SET compression_job_id = ?, last_update_ts = ?
       WHERE compression_job_id = ? AND ingestion_job_id = ? AND status = 'submitted'`,
      [compressionJobId, ts, killedId, jobId],
    );
    await tx.query(`UPDATE ${SUB} SET compression_job_id = ? WHERE ingestion_job_id = ? AND flush_seq = ?`, [
      compressionJobId,
      jobId,
      sub.flush_seq,
    ]);
    await tx.query(
      `INSERT INTO ${A} (ingestion_job_id, flush_seq, attempt, compression_job_id, creation_ts) VALUES (?, ?, ?, ?, ?)`,
      [jobId, sub.flush_seq, attempts + 1, compressionJobId, ts],
    );
    return {
      killedCompressionJobId: killedId,
      compressionJobId,
      attempt: attempts + 1,
      numFiles: rows.length,
    };
  }

  async listFiles(
    jobId: number,
    opts: { status?: FileStatus; afterId?: number; limit?: number } = {},
  ): Promise<FileRow[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT f.id, f.path, f.size, f.status, f.compression_job_id, f.failure_reason,
         (SELECT GROUP_CONCAT(a2.compression_job_id ORDER BY a2.attempt) FROM ${A} a1
            JOIN ${A} a2 ON a2.ingestion_job_id = a1.ingestion_job_id AND a2.flush_seq = a1.flush_seq
          WHERE a1.compression_job_id = f.compression_job_id) AS trail
       FROM ${F} f
       WHERE f.ingestion_job_id = ? ${opts.status ? 'AND f.status = ?' : ''} AND f.id > ? ORDER BY f.id LIMIT ?`,
      [jobId, ...(opts.status ? [opts.status] : []), opts.afterId ?? 0, opts.limit ?? 100],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      path: r.path,
      size: Number(r.size),
      status: r.status,
      compressionJobId: r.compression_job_id === null ? null : Number(r.compression_job_id),
      compressionJobIds: r.trail
        ? String(r.trail).split(',').map(Number)
        : r.compression_job_id === null
          ? []
          : [Number(r.compression_job_id)],
      error: r.failure_reason ?? null,
    }));
  }

  async countFilesByStatus(jobId: number): Promise<Record<FileStatus, number>> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT status, COUNT(*) AS n FROM ${F} WHERE ingestion_job_id = ? GROUP BY status`,
      [jobId],
    );
    const counts = { buffered: 0, submitted: 0, compressed: 0, failed: 0 };
    for (const r of rows) counts[r.status as FileStatus] = Number(r.n);
    return counts;
  }
}
