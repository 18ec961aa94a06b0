/**
 * CompressionRecords on the CLP DB: flushes of a job's buffer into PENDING
 * CLP compression jobs (one submission row per flush makes a repeat return
 * the first result), and the outcomes of those jobs, KILLED ones resubmitted.
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { withTransaction } from './db';
import type {
  BuildClpConfig,
  CompressionRetry,
  FinalizedCompressionJob,
  ResubmittedCompressionJob,
  Submission,
} from './records';
import {
  compressSucceededTaskFiles,
  distinctPaths,
  insertCompressionJob,
  resubmitKilled,
} from './compression-jobs';
import type { CompressionRecords } from './roles';
import { CompressionJobStatus } from './tables';
import {
  ATTEMPTS_TABLE,
  FILES_TABLE,
  INSERT_CHUNK,
  JOBS_TABLE,
  lockJob,
  SUBMISSIONS_TABLE,
  type StoreCore,
} from './store-core';

const TERMINAL_COMPRESSION = [
  CompressionJobStatus.SUCCEEDED,
  CompressionJobStatus.FAILED,
  CompressionJobStatus.KILLED,
] as const;

/**
 * A FAILED compression job whose clp-s could not reach the storage it reads
 * (a curl transport error: the object store was down or restarting) failed
 * for the storage, not the data, as a KILLED one fails for the cluster: its
 * files are resubmitted the same way, up to the flush's attempts. CLP's
 * worker marks both FAILED; CLP's own ingestor would leave them failed.
 */
export function storageWasAway(statusMsg: unknown): boolean {
  const msg = Buffer.isBuffer(statusMsg) ? statusMsg.toString('utf8') : String(statusMsg ?? '');
  return /\bcurl error\b/i.test(msg);
}

export class SqlCompressionRecords implements CompressionRecords {
  constructor(private readonly core: StoreCore) {}

  /** The flush sequence number a (re)started job workflow continues from. */
  async nextFlushSeq(jobId: number): Promise<number> {
    const [[row]] = await this.core.db.query<RowDataPacket[]>(
      `SELECT COALESCE(MAX(flush_seq), 0) + 1 AS next FROM ${SUBMISSIONS_TABLE} WHERE ingestion_job_id = ?`,
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
   * rows (a flush of many files takes a while). The flush's own row
   * in the submissions table, inserted first, is what serializes repeats of
   * one flush; READ COMMITTED keeps the buffered-row search free of gap
   * locks, so new buffered rows are never blocked by it.
   */
  async submitBuffered(
    jobId: number,
    flushSeq: number,
    maxFiles: number,
    buildClpConfig: BuildClpConfig,
    opts: { oneBucket?: boolean } = {},
  ): Promise<Submission> {
    const ts = this.core.now();
    const first = await withTransaction(
      this.core.db,
      async (tx): Promise<Submission | 'repeat'> => {
        try {
          await tx.query(
            `INSERT INTO ${SUBMISSIONS_TABLE} (ingestion_job_id, flush_seq, compression_job_id, num_files, finalized, creation_ts)
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
            `SELECT bucket FROM ${FILES_TABLE} WHERE ingestion_job_id = ? AND status = 'buffered' ORDER BY id LIMIT 1`,
            [jobId],
          );
          [rows] = oldest
            ? await tx.query<RowDataPacket[]>(
                `SELECT id, path, bucket, object_key, size FROM ${FILES_TABLE}
                 WHERE ingestion_job_id = ? AND status = 'buffered' AND bucket = ? ORDER BY id LIMIT ?`,
                [jobId, oldest.bucket, maxFiles],
              )
            : [[]];
        } else {
          [rows] = await tx.query<RowDataPacket[]>(
            `SELECT id, path, bucket, object_key, size FROM ${FILES_TABLE} WHERE ingestion_job_id = ? AND status = 'buffered' ORDER BY id LIMIT ?`,
            [jobId, maxFiles],
          );
        }
        if (rows.length === 0) return { compressionJobId: null, numFiles: 0 };
        const files = distinctPaths(rows);
        const compressionJobId = await insertCompressionJob(tx, files, buildClpConfig);
        let moved = 0;
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
          const ids = rows.slice(i, i + INSERT_CHUNK).map((f) => f.id);
          const [res] = await tx.query<ResultSetHeader>(
            `UPDATE ${FILES_TABLE} SET status = 'submitted', compression_job_id = ?, last_update_ts = ?
             WHERE id IN (?) AND status = 'buffered'`,
            [compressionJobId, ts, ids],
          );
          moved += res.affectedRows;
        }
        // Only a flush moves buffered rows, and repeats of this one wait on its submissions row.
        if (moved !== rows.length)
          throw new Error(`flush ${flushSeq} of job ${jobId}: ${rows.length - moved} files moved under it`);
        await tx.query(
          `UPDATE ${SUBMISSIONS_TABLE} SET compression_job_id = ?, num_files = ?, finalized = 0 WHERE ingestion_job_id = ? AND flush_seq = ?`,
          [compressionJobId, rows.length, jobId, flushSeq],
        );
        await tx.query(
          `INSERT INTO ${ATTEMPTS_TABLE} (ingestion_job_id, flush_seq, attempt, compression_job_id, creation_ts) VALUES (?, ?, 1, ?, ?)`,
          [jobId, flushSeq, compressionJobId, ts],
        );
        // Last, the counters, under the job's lock: a page that committed before it is seen by the oldest-row
        // search; one after it finds buffered_oldest_ts as this leaves it.
        await lockJob(tx, jobId);
        const [[oldest]] = await tx.query<RowDataPacket[]>(
          `SELECT creation_ts FROM ${FILES_TABLE} WHERE ingestion_job_id = ? AND status = 'buffered' ORDER BY id LIMIT 1`,
          [jobId],
        );
        await tx.query(
          `UPDATE ${JOBS_TABLE} SET buffered_files = buffered_files - ?, buffered_bytes = buffered_bytes - ?,
             buffered_oldest_ts = ?, outstanding_compression_jobs = outstanding_compression_jobs + 1 WHERE id = ?`,
          [rows.length, rows.reduce((n, r) => n + Number(r.size), 0), oldest?.creation_ts ?? null, jobId],
        );
        return { compressionJobId, numFiles: rows.length };
      },
      { readCommitted: true },
    );
    if (first !== 'repeat') {
      if (first.numFiles)
        await this.core.report(jobId, (kind) => this.core.metrics.flushed(kind, first.numFiles));
      return first;
    }
    const [[done]] = await this.core.db.query<RowDataPacket[]>(
      `SELECT compression_job_id, num_files FROM ${SUBMISSIONS_TABLE} WHERE ingestion_job_id = ? AND flush_seq = ?`,
      [jobId, flushSeq],
    );
    return { compressionJobId: done.compression_job_id, numFiles: Number(done.num_files) };
  }

  /** Compression jobs of this ingestion job whose outcome is not yet recorded. */
  async outstandingCompressionJobs(jobId: number): Promise<number[]> {
    const [rows] = await this.core.db.query<RowDataPacket[]>(
      `SELECT compression_job_id AS id FROM ${SUBMISSIONS_TABLE} WHERE ingestion_job_id = ? AND finalized = 0`,
      [jobId],
    );
    return rows.map((r) => Number(r.id));
  }

  /**
   * For each of `compressionJobIds` that reached a terminal state, in one
   * transaction: SUCCEEDED moves its files to `compressed`, FAILED to
   * `failed`, and both grow the job's counters. KILLED (CLP's compression
   * cluster failed, not the data) moves the files of its SUCCEEDED tasks to
   * `compressed` (their archives exist) and puts the others into a new
   * compression job, until a flush has had `maxAttempts` jobs; then they are
   * `failed`. Only `submitted` files move and a KILLED job's outcome is
   * recorded once (its submission row is checked under lock), so a repeat is
   * harmless.
   */
  async finalizeCompressionJobs(
    jobId: number,
    compressionJobIds: number[],
    retry: CompressionRetry,
  ): Promise<{ finalized: FinalizedCompressionJob[]; resubmitted: ResubmittedCompressionJob[] }> {
    const none = { finalized: [], resubmitted: [] };
    if (compressionJobIds.length === 0) return none;
    const [terminal] = await this.core.db.query<RowDataPacket[]>(
      `SELECT id, status, status_msg FROM compression_jobs WHERE id IN (?) AND status IN (?)`,
      [compressionJobIds, TERMINAL_COMPRESSION],
    );
    if (terminal.length === 0) return none;
    // As in a flush, the job row's lock only for the counters, last: repeats of one completion queue up on the
    // files' and the submission's row locks, and at READ COMMITTED find them already moved.
    const result = await withTransaction(
      this.core.db,
      async (tx) => {
        const finalized: FinalizedCompressionJob[] = [];
        const resubmitted: ResubmittedCompressionJob[] = [];
        let compressed = 0;
        let failed = 0;
        let newlyFinalized = 0;
        const ts = this.core.now();
        for (const cj of terminal) {
          const id = Number(cj.id);
          let status: 'compressed' | 'failed' =
            Number(cj.status) === CompressionJobStatus.SUCCEEDED ? 'compressed' : 'failed';
          // Files a KILLED job's SUCCEEDED tasks compressed, when they are all of its files.
          let tasksCompressed = 0;
          if (
            Number(cj.status) === CompressionJobStatus.KILLED ||
            (Number(cj.status) === CompressionJobStatus.FAILED && storageWasAway(cj.status_msg))
          ) {
            const killed = await resubmitKilled(tx, this.core.now, jobId, id, retry);
            if (killed === 'already') continue;
            compressed += killed.compressed;
            if (killed.resubmitted || killed.remaining > 0) {
              // The rest went into a new compression job, or (the flush's last attempt) fail below.
              if (killed.compressed)
                finalized.push({
                  compressionJobId: id,
                  status: 'compressed',
                  numFiles: killed.compressed,
                  partial: true,
                });
              if (killed.resubmitted) {
                resubmitted.push(killed.resubmitted);
                continue;
              }
            } else {
              // Every file was in a SUCCEEDED task: the flush ends compressed.
              status = 'compressed';
              tasksCompressed = killed.compressed;
            }
          }
          if (Number(cj.status) === CompressionJobStatus.FAILED && !storageWasAway(cj.status_msg)) {
            // A job fails as a whole, but the archives of its SUCCEEDED tasks are registered: those files
            // are compressed. A repeat finds the submission finalized and moves nothing.
            const [[open]] = await tx.query<RowDataPacket[]>(
              `SELECT 1 AS x FROM ${SUBMISSIONS_TABLE} WHERE ingestion_job_id = ? AND compression_job_id = ? AND finalized = 0 FOR UPDATE`,
              [jobId, id],
            );
            if (open) {
              const [rows] = await tx.query<RowDataPacket[]>(
                `SELECT id, path, bucket, object_key, size FROM ${FILES_TABLE}
                 WHERE compression_job_id = ? AND ingestion_job_id = ? AND status = 'submitted' ORDER BY id FOR UPDATE`,
                [id, jobId],
              );
              tasksCompressed = (await compressSucceededTaskFiles(tx, id, rows, retry, ts)).compressed;
              compressed += tasksCompressed;
              if (tasksCompressed)
                finalized.push({
                  compressionJobId: id,
                  status: 'compressed',
                  numFiles: tasksCompressed,
                  partial: true,
                });
              tasksCompressed = 0;
            }
          }
          const [res] = await tx.query<ResultSetHeader>(
            `UPDATE ${FILES_TABLE} SET status = ?, last_update_ts = ?
           WHERE compression_job_id = ? AND ingestion_job_id = ? AND status = 'submitted'`,
            [status, ts, id, jobId],
          );
          if (status === 'compressed') compressed += res.affectedRows;
          else failed += res.affectedRows;
          finalized.push({ compressionJobId: id, status, numFiles: res.affectedRows + tasksCompressed });
          const [sub] = await tx.query<ResultSetHeader>(
            `UPDATE ${SUBMISSIONS_TABLE} SET finalized = 1 WHERE ingestion_job_id = ? AND compression_job_id = ? AND finalized = 0`,
            [jobId, id],
          );
          newlyFinalized += sub.affectedRows;
        }
        if (compressed || failed || newlyFinalized) {
          await lockJob(tx, jobId);
          await tx.query(
            `UPDATE ${JOBS_TABLE} SET num_files_compressed = num_files_compressed + ?, num_files_failed = num_files_failed + ?,
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
    // A partial entry (a KILLED job's SUCCEEDED tasks) counts its files, but ends no compression job.
    for (const outcome of ['compressed', 'failed'] as const) {
      const ended = finalized.filter((f) => f.status === outcome && f.numFiles > 0);
      const files = ended.reduce((n, f) => n + f.numFiles, 0);
      if (ended.length)
        this.core.metrics.compressionJobsEnded(
          outcome === 'compressed' ? 'succeeded' : 'failed',
          ended.filter((f) => !f.partial).length,
          files,
        );
    }
    if (resubmitted) this.core.metrics.resubmitted(resubmitted);
  }
}
