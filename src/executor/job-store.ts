/**
 * The executor's side of CLP's DB contract: claiming compression_jobs,
 * holding a lease on them, recording compression_tasks and the outcome.
 *
 * Exactly-once rests on three rules:
 *  - a claim locks the job row with FOR UPDATE SKIP LOCKED and marks it
 *    RUNNING in the same transaction, so two executors never claim one job;
 *  - a RUNNING job is never run again: once its lease has expired (in the
 *    DB's clock) its executor is taken for dead and the job becomes KILLED,
 *    as CLP's scheduler does with every RUNNING job it finds when it starts
 *    (the submitter resubmits the files of a KILLED job);
 *  - every write that finishes a job first locks its lease row and checks the
 *    claim_token, so an executor that lost its lease changes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { withTransaction, type Db, type Tx } from '../store/db';
import { CompressionJobStatus, CompressionTaskStatus, TABLES } from '../store/schema';
import type { ArchiveStats } from './clp-s-run';

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
  /** How many times the job has been claimed, this claim included (always 1: jobs are never re-run). */
  numClaims: number;
}

/** Truncates to at most 512 characters (code points, as MariaDB counts them). */
export function truncateStatusMsg(msg: string): string {
  const chars = Array.from(msg);
  return chars.length <= STATUS_MSG_MAX_CHARS ? msg : chars.slice(0, STATUS_MSG_MAX_CHARS - 1).join('') + '…';
}

/** Claims the oldest PENDING job; null when there is none. */
export async function claimNextJob(db: Db, executorId: string, leaseMs: number): Promise<Claim | null> {
  return withTransaction(db, async (tx) => {
    const [rows] = await tx.query<RowDataPacket[]>(
      `SELECT id, clp_config FROM ${JOBS} WHERE status = ? ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`,
      [CompressionJobStatus.PENDING],
    );
    if (rows.length === 0) return null;
    const jobId = Number(rows[0].id);
    const claimToken = randomUUID();
    await tx.query(
      `UPDATE ${JOBS} SET status = ?, status_msg = '', start_time = NOW(3), duration = NULL WHERE id = ?`,
      [CompressionJobStatus.RUNNING, jobId],
    );
    // A lease row left from before (a job someone reset to PENDING by hand) is replaced.
    await tx.query(
      `INSERT INTO ${LEASES} (job_id, executor_id, claim_token, lease_expires_ts, num_claims)
       VALUES (?, ?, ?, ${NOW_MS} + ?, 1)
       ON DUPLICATE KEY UPDATE executor_id = VALUES(executor_id), claim_token = VALUES(claim_token),
         lease_expires_ts = VALUES(lease_expires_ts), num_claims = num_claims + 1`,
      [jobId, executorId, claimToken, leaseMs],
    );
    const [[lease]] = await tx.query<RowDataPacket[]>(`SELECT num_claims FROM ${LEASES} WHERE job_id = ?`, [
      jobId,
    ]);
    return {
      jobId,
      claimToken,
      clpConfig: rows[0].clp_config as Buffer,
      numClaims: Number(lease.num_claims),
    };
  });
}

export interface KilledJob {
  jobId: number;
  /** The dead executor's, when it had a lease (its staging directory may be left over). */
  executorId: string | null;
  claimToken: string | null;
}

/** Marks a locked RUNNING job and its running task KILLED / FAILED. */
async function markKilled(tx: Tx, jobId: number, message: string): Promise<void> {
  await tx.query(
    `UPDATE ${TASKS} SET status = ?, duration = TIMESTAMPDIFF(MICROSECOND, start_time, NOW(3)) / 1e6
     WHERE job_id = ? AND status = ?`,
    [CompressionTaskStatus.FAILED, jobId, CompressionTaskStatus.RUNNING],
  );
  await tx.query(
    `UPDATE ${JOBS} SET status = ?, status_msg = ?, duration = TIMESTAMPDIFF(MICROSECOND, start_time, NOW(3)) / 1e6
     WHERE id = ? AND status = ?`,
    [CompressionJobStatus.KILLED, truncateStatusMsg(message), jobId, CompressionJobStatus.RUNNING],
  );
}

/**
 * Marks KILLED every RUNNING job whose executor died: its lease expired, or
 * it has none (nothing of ours runs it). Jobs are never taken over and re-run:
 * CLP's scheduler kills every RUNNING job it finds when it starts, and
 * KILLED tells the submitter that the cluster failed, not the data.
 */
export async function killOrphanedJobs(db: Db): Promise<KilledJob[]> {
  const orphaned = `j.status = ? AND (l.job_id IS NULL OR l.lease_expires_ts < ${NOW_MS})`;
  // Found without locks (live executors renew their leases meanwhile), then each re-checked under lock.
  const [candidates] = await db.query<RowDataPacket[]>(
    `SELECT j.id FROM ${JOBS} j LEFT JOIN ${LEASES} l ON l.job_id = j.id WHERE ${orphaned} ORDER BY j.id`,
    [CompressionJobStatus.RUNNING],
  );
  const killed: KilledJob[] = [];
  for (const c of candidates) {
    const dead = await withTransaction(db, async (tx): Promise<KilledJob | null> => {
      const [rows] = await tx.query<RowDataPacket[]>(
        `SELECT j.id, l.executor_id, l.claim_token FROM ${JOBS} j LEFT JOIN ${LEASES} l ON l.job_id = j.id
         WHERE j.id = ? AND ${orphaned} FOR UPDATE SKIP LOCKED`,
        [c.id, CompressionJobStatus.RUNNING],
      );
      if (rows.length === 0) return null; // renewed, finished, or another executor is killing it
      const executorId = (rows[0].executor_id as string | null) ?? null;
      await markKilled(
        tx,
        Number(c.id),
        executorId === null
          ? 'KILLED: RUNNING with no executor holding it (CLP kills every RUNNING job it finds when it starts)'
          : `KILLED: the executor holding this job (${executorId}) died: its lease expired while the job was RUNNING`,
      );
      return { jobId: Number(c.id), executorId, claimToken: (rows[0].claim_token as string | null) ?? null };
    });
    if (dead) killed.push(dead);
  }
  return killed;
}

/** Marks this claim's job KILLED (the executor is going away mid-job); false if the lease was lost. */
export async function killJob(db: Db, claim: Claim, message: string): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    if (!(await holdsLease(tx, claim))) return false;
    await markKilled(tx, claim.jobId, `KILLED: ${message}`);
    return true;
  });
}

/** Extends the lease; false means it is no longer this claim's (the job was KILLED, or reset). */
export async function renewLease(db: Db, claim: Claim, leaseMs: number): Promise<boolean> {
  const [res] = await db.query<ResultSetHeader>(
    `UPDATE ${LEASES} l JOIN ${JOBS} j ON j.id = l.job_id
     SET l.lease_expires_ts = ${NOW_MS} + ?
     WHERE l.job_id = ? AND l.claim_token = ? AND j.status = ?`,
    [leaseMs, claim.jobId, claim.claimToken, CompressionJobStatus.RUNNING],
  );
  return res.affectedRows === 1;
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

/** Records a task of the job (its files in CLP's clp_paths_to_compress form), RUNNING; null if the lease was lost. */
export async function startTask(
  db: Db,
  claim: Claim,
  clpPathsToCompress: Buffer,
  originalSize: number,
): Promise<number | null> {
  return withTransaction(db, async (tx) => {
    if (!(await holdsLease(tx, claim))) return null;
    const [res] = await tx.query<ResultSetHeader>(
      `INSERT INTO ${TASKS} (status, start_time, job_id, clp_paths_to_compress, partition_original_size)
       VALUES (?, NOW(3), ?, ?, ?)`,
      [CompressionTaskStatus.RUNNING, claim.jobId, clpPathsToCompress, originalSize],
    );
    await tx.query(`UPDATE ${JOBS} SET num_tasks = num_tasks + 1 WHERE id = ?`, [claim.jobId]);
    return res.insertId;
  });
}

/**
 * The idempotency key of archiving: a task's archives are registered in
 * CLP's archives table in the same transaction that marks the task
 * SUCCEEDED and adds their sizes to the job, under the lease check. So a
 * task's files are in the table once (or not at all, and the task is not
 * SUCCEEDED); the submitter leaves the files of SUCCEEDED tasks out when it
 * resubmits a KILLED job. Returns false (having changed nothing) when the
 * lease was lost.
 */
export async function commitTask(
  db: Db,
  claim: Claim,
  taskId: number,
  archivesTable: string,
  archives: ArchiveStats[],
): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    if (!(await holdsLease(tx, claim))) return false;
    if (archives.length) {
      await tx.query(
        `INSERT INTO \`${archivesTable}\`
           (id, begin_timestamp, end_timestamp, uncompressed_size, size, creator_id, creation_ix) VALUES ?`,
        [archives.map((a) => [a.id, a.begin_timestamp, a.end_timestamp, a.uncompressed_size, a.size, '', 0])],
      );
    }
    const uncompressed = archives.reduce((n, a) => n + a.uncompressed_size, 0);
    const compressed = archives.reduce((n, a) => n + a.size, 0);
    await tx.query(
      `UPDATE ${TASKS} SET status = ?, duration = TIMESTAMPDIFF(MICROSECOND, start_time, NOW(3)) / 1e6,
         partition_uncompressed_size = ?, partition_compressed_size = ? WHERE id = ?`,
      [CompressionTaskStatus.SUCCEEDED, uncompressed, compressed, taskId],
    );
    await tx.query(
      `UPDATE ${JOBS} SET uncompressed_size = uncompressed_size + ?, compressed_size = compressed_size + ?,
         num_tasks_completed = num_tasks_completed + 1 WHERE id = ?`,
      [uncompressed, compressed, claim.jobId],
    );
    return true;
  });
}

export type Outcome = { status: 'succeeded' } | { status: 'failed'; taskId: number | null; message: string };

/**
 * Records the job's outcome if this claim still holds it (a failed task too).
 * Returns false (having changed nothing) when the lease was lost.
 */
export async function finishJob(db: Db, claim: Claim, outcome: Outcome): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    if (!(await holdsLease(tx, claim))) return false;
    const ok = outcome.status === 'succeeded';
    if (!ok && outcome.taskId !== null) {
      await tx.query(
        `UPDATE ${TASKS} SET status = ?, duration = TIMESTAMPDIFF(MICROSECOND, start_time, NOW(3)) / 1e6
         WHERE id = ? AND status = ?`,
        [CompressionTaskStatus.FAILED, outcome.taskId, CompressionTaskStatus.RUNNING],
      );
    }
    await tx.query(
      `UPDATE ${JOBS} SET status = ?, status_msg = ?, duration = TIMESTAMPDIFF(MICROSECOND, start_time, NOW(3)) / 1e6
       WHERE id = ?`,
      [
        ok ? CompressionJobStatus.SUCCEEDED : CompressionJobStatus.FAILED,
        ok ? '' : truncateStatusMsg(outcome.message),
        claim.jobId,
      ],
    );
    return true;
  });
}
