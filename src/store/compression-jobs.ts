/**
 * The compression_jobs rows a flush writes: one PENDING job for a set of
 * files, and a KILLED job's files moved into a new one (the flush's next
 * attempt). Run inside the caller's transaction.
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Tx } from './db';
import type { BuildClpConfig, FileToCompress, ResubmittedCompressionJob } from './records';
import { CompressionJobStatus } from './tables';
import { A, F, SUB } from './store-core';

/** One entry per distinct path, the newest record's (rows in id order). */
export function distinctPaths(rows: RowDataPacket[]): FileToCompress[] {
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

export async function insertCompressionJob(
  tx: Tx,
  files: FileToCompress[],
  buildClpConfig: BuildClpConfig,
): Promise<number> {
  const clpConfig = await buildClpConfig(files);
  const originalSize = files.reduce((sum, f) => sum + f.size, 0);
  const [res] = await tx.query<ResultSetHeader>(
    `INSERT INTO compression_jobs (status, original_size, clp_config) VALUES (?, ?, ?)`,
    [CompressionJobStatus.PENDING, originalSize, clpConfig],
  );
  return res.insertId;
}

/**
 * The files of KILLED compression job `killedId` into a new compression job
 * (same files, same config rebuilt), recorded as the flush's next attempt.
 * Returns null when the flush has used all its attempts (its files fail),
 * and 'already' when the job is no longer the flush's current one (a
 * repeat of a resubmission that committed).
 */
export async function resubmitKilled(
  tx: Tx,
  now: () => number,
  jobId: number,
  killedId: number,
  maxAttempts: number,
  buildClpConfig: BuildClpConfig,
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
  const compressionJobId = await insertCompressionJob(tx, distinctPaths(rows), buildClpConfig);
  const ts = now();
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
