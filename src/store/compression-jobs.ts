/**
 * The compression_jobs rows a flush writes: one PENDING job for a set of
 * files, and a KILLED job's files moved into a new one (the flush's next
 * attempt), less those its SUCCEEDED tasks compressed. Run inside the
 * caller's transaction.
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { decodeTaskPaths, normalizeTaskPath, type PathsToCompress } from '../clp/task-paths';
import type { Tx } from './db';
import type { BuildClpConfig, CompressionRetry, FileToCompress, ResubmittedCompressionJob } from './records';
import { CompressionJobStatus, CompressionTaskStatus, TABLES } from './tables';
import { ATTEMPTS_TABLE, FILES_TABLE, INSERT_CHUNK, SUBMISSIONS_TABLE } from './store-core';

/** A file row as a compression job names it. */
function fileOf(r: RowDataPacket): FileToCompress {
  return {
    id: Number(r.id),
    path: r.path,
    bucket: r.bucket ?? null,
    key: r.object_key ?? null,
    size: Number(r.size),
  };
}

/** One entry per distinct path, the newest record's (rows in id order). */
export function distinctPaths(rows: RowDataPacket[]): FileToCompress[] {
  const byPath = new Map<string, FileToCompress>();
  for (const r of rows) byPath.set(r.path, fileOf(r));
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
 * A SUCCEEDED task of a KILLED compression job whose files cannot be told:
 * finalizing stops (nothing is changed) rather than guess. See resubmitKilled.
 */
export class KilledJobTasksError extends Error {
  override name = 'KilledJobTasksError';
}

/**
 * The files of the SUCCEEDED tasks of compression job `compressionJobId`, as
 * normalizeTaskPath forms of the paths CLP's scheduler wrote, each with its
 * task's id. An undecodable task blob throws (see resubmitKilled for why).
 */
async function succeededTaskPaths(tx: Tx, compressionJobId: number): Promise<Map<string, number>> {
  const [tasks] = await tx.query<RowDataPacket[]>(
    `SELECT id, clp_paths_to_compress FROM ${TABLES.compressionTasks} WHERE job_id = ? AND status = ? ORDER BY id`,
    [compressionJobId, CompressionTaskStatus.SUCCEEDED],
  );
  const paths = new Map<string, number>();
  for (const t of tasks) {
    let decoded: PathsToCompress;
    try {
      decoded = await decodeTaskPaths(t.clp_paths_to_compress as Buffer);
    } catch (err) {
      throw new KilledJobTasksError(
        `compression job ${compressionJobId} was KILLED, and the paths of its SUCCEEDED task ${t.id} cannot be decoded (${(err as Error).message}): its files are in archives already, so none of the job's files is resubmitted or given a fate until that task can be read; nothing was changed`,
      );
    }
    for (const p of decoded.file_paths) paths.set(normalizeTaskPath(p), Number(t.id));
  }
  return paths;
}

/**
 * Of `rows` (the compression job's `submitted` files, locked by the caller),
 * those the job's SUCCEEDED tasks name become `compressed`: their archives
 * are registered, whatever became of the job (KILLED, or FAILED in a later
 * task). Returns how many, and the rows left. Throws KilledJobTasksError when
 * a SUCCEEDED task cannot be read or names a path none of the rows has.
 */
export async function compressSucceededTaskFiles(
  tx: Tx,
  compressionJobId: number,
  rows: RowDataPacket[],
  retry: Pick<CompressionRetry, 'taskPathOf'>,
  ts: number,
): Promise<{ compressed: number; remaining: RowDataPacket[] }> {
  const done = await succeededTaskPaths(tx, compressionJobId);
  if (done.size === 0) return { compressed: 0, remaining: rows };
  const matched = new Set<string>();
  const covered: RowDataPacket[] = [];
  const remaining: RowDataPacket[] = [];
  for (const r of rows) {
    const taskPath = normalizeTaskPath(retry.taskPathOf(fileOf(r)));
    if (done.has(taskPath)) {
      matched.add(taskPath);
      covered.push(r);
    } else remaining.push(r);
  }
  const unknown = [...done.keys()].filter((p) => !matched.has(p));
  if (unknown.length > 0) {
    throw new KilledJobTasksError(
      `compression job ${compressionJobId} has a SUCCEEDED task (${done.get(unknown[0])}) naming ${unknown.length} path(s) none of its submitted files has (first: ${JSON.stringify(unknown[0])}; CLP_FS_MOUNT_ROOT changed since the job was submitted?): nothing was changed`,
    );
  }
  let compressed = 0;
  for (let i = 0; i < covered.length; i += INSERT_CHUNK) {
    const [res] = await tx.query<ResultSetHeader>(
      `UPDATE ${FILES_TABLE} SET status = 'compressed', last_update_ts = ? WHERE id IN (?) AND status = 'submitted'`,
      [ts, covered.slice(i, i + INSERT_CHUNK).map((r) => r.id)],
    );
    compressed += res.affectedRows;
  }
  // The rows are locked by this transaction: none can have moved under it.
  if (compressed !== covered.length)
    throw new Error(
      `compression job ${compressionJobId}: ${covered.length - compressed} files moved under it`,
    );
  return { compressed, remaining };
}

/** What became of a KILLED compression job's files. */
export interface KilledOutcome {
  /** Files its SUCCEEDED tasks covered, moved to `compressed` now. */
  compressed: number;
  /** Files still `submitted` on the KILLED job (none when resubmitted). */
  remaining: number;
  /** The new compression job of the rest, or null (none remain, or the flush has used all its attempts). */
  resubmitted: ResubmittedCompressionJob | null;
}

/**
 * KILLED compression job `killedId`: CLP's compression cluster failed, but
 * every task of the job that SUCCEEDED had its archives registered already.
 * The files those tasks name (clp_paths_to_compress, matched to the files
 * through `retry.taskPathOf`) become `compressed`; the rest go into a new
 * compression job (config rebuilt for them), recorded as the flush's next
 * attempt, unless the flush has used all its attempts (then `resubmitted` is
 * null and the caller fails them) or none remain (the caller ends the flush
 * as compressed). Returns 'already' when the job is no longer the flush's
 * current one (a repeat of an outcome that committed): the submission row,
 * locked first, makes a repeat move and count nothing.
 *
 * A SUCCEEDED task whose blob cannot be decoded, or that names a path none
 * of the job's submitted files has, throws (KilledJobTasksError) and the
 * caller's transaction rolls back. Taking such a task for not succeeded is
 * not safe: CLP's worker read those very paths and registered their
 * archives, so resubmitting its files ingests their events twice, which is
 * what leaving out SUCCEEDED tasks is for; taking all files for compressed
 * loses those of the other tasks. So the files stay `submitted` on the KILLED
 * job, the activity fails with the reason (and is retried), and the outcome
 * is recorded correctly once the task can be read (a fixed decoder, or an
 * operator's repair of the rows).
 */
export async function resubmitKilled(
  tx: Tx,
  now: () => number,
  jobId: number,
  killedId: number,
  retry: CompressionRetry,
): Promise<KilledOutcome | 'already'> {
  const [[sub]] = await tx.query<RowDataPacket[]>(
    `SELECT s.flush_seq, (SELECT MAX(a.attempt) FROM ${ATTEMPTS_TABLE} a
        WHERE a.ingestion_job_id = s.ingestion_job_id AND a.flush_seq = s.flush_seq) AS attempts
     FROM ${SUBMISSIONS_TABLE} s WHERE s.ingestion_job_id = ? AND s.compression_job_id = ? AND s.finalized = 0 FOR UPDATE`,
    [jobId, killedId],
  );
  if (!sub) return 'already';
  const [rows] = await tx.query<RowDataPacket[]>(
    `SELECT id, path, bucket, object_key, size FROM ${FILES_TABLE}
     WHERE compression_job_id = ? AND ingestion_job_id = ? AND status = 'submitted' ORDER BY id FOR UPDATE`,
    [killedId, jobId],
  );
  if (rows.length === 0) return { compressed: 0, remaining: 0, resubmitted: null };
  const ts = now();

  // The files of SUCCEEDED tasks are in archives: compressed, never resubmitted.
  const { compressed, remaining } = await compressSucceededTaskFiles(tx, killedId, rows, retry, ts);
  if (remaining.length === 0) return { compressed, remaining: 0, resubmitted: null };

  const attempts = Number(sub.attempts ?? 1);
  if (attempts >= retry.maxAttempts) return { compressed, remaining: remaining.length, resubmitted: null };
  const compressionJobId = await insertCompressionJob(tx, distinctPaths(remaining), retry.buildClpConfig);
  await tx.query(
    `UPDATE ${FILES_TABLE} SET compression_job_id = ?, last_update_ts = ?
     WHERE compression_job_id = ? AND ingestion_job_id = ? AND status = 'submitted'`,
    [compressionJobId, ts, killedId, jobId],
  );
  await tx.query(
    `UPDATE ${SUBMISSIONS_TABLE} SET compression_job_id = ? WHERE ingestion_job_id = ? AND flush_seq = ?`,
    [compressionJobId, jobId, sub.flush_seq],
  );
  await tx.query(
    `INSERT INTO ${ATTEMPTS_TABLE} (ingestion_job_id, flush_seq, attempt, compression_job_id, creation_ts) VALUES (?, ?, ?, ?, ?)`,
    [jobId, sub.flush_seq, attempts + 1, compressionJobId, ts],
  );
  return {
    compressed,
    remaining: 0,
    resubmitted: {
      killedCompressionJobId: killedId,
      compressionJobId,
      attempt: attempts + 1,
      numFiles: remaining.length,
    },
  };
}
