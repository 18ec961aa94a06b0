/**
 * The executor's side of CLP's DB contract: claiming compression_jobs,
 * holding a lease on them, recording compression_tasks and the outcome.
 *
 * Exactly-once rests on three rules:
 *  - a claim locks the job row with FOR UPDATE SKIP LOCKED and marks it
 *    RUNNING in the same transaction, so two executors never claim one job;
 *  - a RUNNING job may be taken over only once its lease has expired (in the
 *    DB's clock), and the takeover gives it a new claim_token;
 *  - every write that finishes a job first locks its lease row and checks the
 *    claim_token, so an executor that lost its lease changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { encode } from '@msgpack/msgpack';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { withTransaction, type Db, type Tx } from '../store/db';
import { CompressionJobStatus, CompressionTaskStatus, TABLES } from '../store/schema';

const LEASES = TABLES.executorLeases;
const JOBS = TABLES.compressionJobs;
const TASKS = TABLES.compressionTasks;
/** The DB's clock in ms: leases never depend on executors' clocks agreeing. */
const NOW_MS = 'CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED)';
/** compression_jobs.status_msg is VARCHAR(512). */
export const STATUS_MSG_MAX_CHARS = 512;

export interface Claim {
  jobId: number;
  claimToken: string;
  clpConfig: Buffer;
  /** How many times the job has been claimed, this claim included. */
  numClaims: number;
  /** The claim this one took over from (its staging directory may be left over). */
  previousClaimToken?: string;
}

/** Truncates to at most 512 characters (code points, as MariaDB counts them). */
export function truncateStatusMsg(msg: string): string {
  const chars = Array.from(msg);
  return chars.length <= STATUS_MSG_MAX_CHARS ? msg : chars.slice(0, STATUS_MSG_MAX_CHARS - 1).join('') + '…';
}

const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

/** Re-runs fn's transaction when InnoDB picked it as a deadlock victim. */
async function withRetriedTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(db, fn);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt >= 5 || !code || !RETRYABLE.has(code)) throw err;
    }
  }
}

/** Claims the oldest PENDING job, or a RUNNING one whose lease expired; null when there is none. */
export async function claimNextJob(db: Db, executorId: string, leaseMs: number): Promise<Claim | null> {
  return withRetriedTransaction(db, async (tx) => {
    const [rows] = await tx.query<RowDataPacket[]>(
      `SELECT j.id, j.status, l.claim_token
       FROM ${JOBS} j LEFT JOIN ${LEASES} l ON l.job_id = j.id
       WHERE j.status IN (?, ?) AND (j.status = ? OR l.lease_expires_ts < ${NOW_MS})
       ORDER BY j.id LIMIT 1
       FOR UPDATE SKIP LOCKED`,
      [CompressionJobStatus.PENDING, CompressionJobStatus.RUNNING, CompressionJobStatus.PENDING],
    );
    if (rows.length === 0) return null;
    const jobId = Number(rows[0].id);
    const takeover = Number(rows[0].status) === CompressionJobStatus.RUNNING;
    const claimToken = randomUUID();
    await tx.query(
      `UPDATE ${JOBS} SET status = ?, status_msg = '', start_time = NOW(3), duration = NULL WHERE id = ?`,
      [CompressionJobStatus.RUNNING, jobId],
    );
    await tx.query(
      `INSERT INTO ${LEASES} (job_id, executor_id, claim_token, lease_expires_ts, num_claims)
       VALUES (?, ?, ?, ${NOW_MS} + ?, 1)
       ON DUPLICATE KEY UPDATE executor_id = VALUES(executor_id), claim_token = VALUES(claim_token),
         lease_expires_ts = VALUES(lease_expires_ts), num_claims = num_claims + 1`,
      [jobId, executorId, claimToken, leaseMs],
    );
    if (takeover) {
      // The dead executor's task will never finish: record that, then run the job afresh.
      await tx.query(
        `UPDATE ${TASKS} SET status = ?, duration = TIMESTAMPDIFF(MICROSECOND, start_time, NOW(3)) / 1e6
         WHERE job_id = ? AND status = ?`,
        [CompressionTaskStatus.FAILED, jobId, CompressionTaskStatus.RUNNING],
      );
    }
    const [[job]] = await tx.query<RowDataPacket[]>(
      `SELECT j.clp_config, l.num_claims FROM ${JOBS} j JOIN ${LEASES} l ON l.job_id = j.id WHERE j.id = ?`,
      [jobId],
    );
    return {
      jobId,
      claimToken,
      clpConfig: job.clp_config as Buffer,
      numClaims: Number(job.num_claims),
      previousClaimToken: takeover ? (rows[0].claim_token as string) : undefined,
    };
  });
}

/** Extends the lease; false means it is no longer this claim's (taken over, or the job was reset). */
export async function renewLease(db: Db, claim: Claim, leaseMs: number): Promise<boolean> {
  const [res] = await db.query<ResultSetHeader>(
    `UPDATE ${LEASES} l JOIN ${JOBS} j ON j.id = l.job_id
     SET l.lease_expires_ts = ${NOW_MS} + ?
     WHERE l.job_id = ? AND l.claim_token = ? AND j.status = ?`,
    [leaseMs, claim.jobId, claim.claimToken, CompressionJobStatus.RUNNING],
  );
  return res.affectedRows === 1;
}

/** Lets another executor take the job over at once (this one is shutting down). */
export async function releaseLease(db: Db, claim: Claim): Promise<void> {
  await db.query(`UPDATE ${LEASES} SET lease_expires_ts = 0 WHERE job_id = ? AND claim_token = ?`, [
    claim.jobId,
    claim.claimToken,
  ]);
}

/** Claim tokens of leases still live: their staging directories are in use. */
export async function liveClaimTokens(db: Db): Promise<Set<string>> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT l.claim_token FROM ${LEASES} l JOIN ${JOBS} j ON j.id = l.job_id
     WHERE j.status = ? AND l.lease_expires_ts >= ${NOW_MS}`,
    [CompressionJobStatus.RUNNING],
  );
  return new Set(rows.map((r) => r.claim_token as string));
}

/** Locks the lease row and checks this claim still holds the RUNNING job. */
async function holdsLease(tx: Tx, claim: Claim): Promise<boolean> {
  const [rows] = await tx.query<RowDataPacket[]>(
    `SELECT l.claim_token, j.status FROM ${LEASES} l JOIN ${JOBS} j ON j.id = l.job_id
     WHERE l.job_id = ? FOR UPDATE`,
    [claim.jobId],
  );
  return (
    rows.length === 1 &&
    rows[0].claim_token === claim.claimToken &&
    Number(rows[0].status) === CompressionJobStatus.RUNNING
  );
}

/** Records the one task this executor runs for the job; null if the lease was lost. */
export async function startTask(
  db: Db,
  claim: Claim,
  paths: string[],
  originalSize: number,
): Promise<number | null> {
  return withRetriedTransaction(db, async (tx) => {
    if (!(await holdsLease(tx, claim))) return null;
    const [res] = await tx.query<ResultSetHeader>(
      `INSERT INTO ${TASKS} (status, start_time, job_id, clp_paths_to_compress, partition_original_size)
       VALUES (?, NOW(3), ?, ?, ?)`,
      [CompressionTaskStatus.RUNNING, claim.jobId, Buffer.from(encode({ file_paths: paths })), originalSize],
    );
    return res.insertId;
  });
}

export interface JobSizes {
  originalSize: number;
  uncompressedSize: number;
  compressedSize: number;
}

export type Outcome =
  | ({ status: 'succeeded'; taskId: number } & JobSizes)
  | ({ status: 'failed'; taskId: number | null; message: string } & Partial<JobSizes>);

/**
 * Records the outcome if this claim still holds the job. For a success,
 * `publish` (the archive's rename into place) runs inside the transaction,
 * after the ownership check; if the commit then fails, `unpublish` puts it
 * back, so a published archive always belongs to a SUCCEEDED job.
 * Returns false (having changed nothing) when the lease was lost.
 */
export async function finishJob(
  db: Db,
  claim: Claim,
  outcome: Outcome,
  publish?: { publish(): Promise<void>; unpublish(): Promise<void> },
): Promise<boolean> {
  let published = false;
  try {
    return await withRetriedTransaction(db, async (tx) => {
      // A retried transaction starts from scratch: nothing may stay published.
      if (published && publish) {
        await publish.unpublish();
        published = false;
      }
      if (!(await holdsLease(tx, claim))) return false;
      const ok = outcome.status === 'succeeded';
      if (outcome.taskId !== null) {
        await tx.query(
          `UPDATE ${TASKS} SET status = ?, duration = TIMESTAMPDIFF(MICROSECOND, start_time, NOW(3)) / 1e6,
             partition_original_size = ?, partition_uncompressed_size = ?, partition_compressed_size = ?
           WHERE id = ?`,
          [
            ok ? CompressionTaskStatus.SUCCEEDED : CompressionTaskStatus.FAILED,
            outcome.originalSize ?? 0,
            outcome.uncompressedSize ?? null,
            outcome.compressedSize ?? null,
            outcome.taskId,
          ],
        );
      }
      await tx.query(
        `UPDATE ${JOBS} SET status = ?, status_msg = ?,
           duration = TIMESTAMPDIFF(MICROSECOND, start_time, NOW(3)) / 1e6,
           original_size = ?, uncompressed_size = ?, compressed_size = ?,
           num_tasks = ?, num_tasks_completed = ?
         WHERE id = ?`,
        [
          ok ? CompressionJobStatus.SUCCEEDED : CompressionJobStatus.FAILED,
          ok ? '' : truncateStatusMsg(outcome.message),
          outcome.originalSize ?? 0,
          outcome.uncompressedSize ?? 0,
          outcome.compressedSize ?? 0,
          outcome.taskId === null ? 0 : 1,
          ok ? 1 : 0,
          claim.jobId,
        ],
      );
      if (publish && !published) {
        await publish.publish();
        published = true;
      }
      return true;
    });
  } catch (err) {
    if (published && publish) await publish.unpublish();
    throw err;
  }
}
