/**
 * FileRecords on the CLP DB: a job's ingested files (fs batches recorded
 * here; S3 pages and SQS batches through their roles) and its buffer, whose
 * counters on the job row the writing transactions keep.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { withTransaction } from './db';
import { NotFoundError, type BufferSnapshot, type FileRow, type FileStatus, type NewFile } from './records';
import type { FileRecords } from './roles';
import { ATTEMPTS_TABLE, FILES_TABLE, JOBS_TABLE, lockJob, type StoreCore } from './store-core';

export class SqlFileRecords implements FileRecords {
  constructor(private readonly core: StoreCore) {}

  /** Records files (SQS, fs) as `buffered`; ones already recorded are skipped. */
  async recordFiles(jobId: number, files: NewFile[]): Promise<number> {
    if (files.length === 0) return 0;
    const r = await withTransaction(this.core.db, async (tx) => {
      await lockJob(tx, jobId);
      return this.core.insertFiles(tx, jobId, files);
    });
    return this.core.reportRecorded(jobId, r);
  }
  /** The job's buffer and outstanding compression jobs: one row, kept by the writing transactions. */
  async bufferSnapshot(jobId: number): Promise<BufferSnapshot> {
    const [[row]] = await this.core.db.query<RowDataPacket[]>(
      `SELECT buffered_files, buffered_bytes, buffered_oldest_ts, outstanding_compression_jobs FROM ${JOBS_TABLE} WHERE id = ?`,
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
  async listFiles(
    jobId: number,
    opts: { status?: FileStatus; afterId?: number; limit?: number } = {},
  ): Promise<FileRow[]> {
    const [rows] = await this.core.db.query<RowDataPacket[]>(
      `SELECT f.id, f.path, f.size, f.status, f.compression_job_id, f.failure_reason,
         (SELECT GROUP_CONCAT(a2.compression_job_id ORDER BY a2.attempt) FROM ${ATTEMPTS_TABLE} a1
            JOIN ${ATTEMPTS_TABLE} a2 ON a2.ingestion_job_id = a1.ingestion_job_id AND a2.flush_seq = a1.flush_seq
              AND a2.attempt <= a1.attempt
          WHERE a1.compression_job_id = f.compression_job_id) AS trail
       FROM ${FILES_TABLE} f
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
    const [rows] = await this.core.db.query<RowDataPacket[]>(
      `SELECT status, COUNT(*) AS n FROM ${FILES_TABLE} WHERE ingestion_job_id = ? GROUP BY status`,
      [jobId],
    );
    const counts = { buffered: 0, submitted: 0, compressed: 0, failed: 0 };
    for (const r of rows) counts[r.status as FileStatus] = Number(r.n);
    return counts;
  }
}
