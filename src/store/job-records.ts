/** JobRecords on the CLP DB: the ingestion job rows and their lifecycle status. */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { conflicts, parseJobConfig, s3Source, type JobConfig } from '../config/job-config';
import {
  ACTIVE_STATUSES,
  canMove,
  IllegalTransitionError,
  workflowIdFor as defaultWorkflowId,
  type JobStatus,
} from '../lifecycle';
import { SOURCE_DEFINITIONS } from '../sources/definitions';
import { withTransaction } from './db';
import { ConflictError, NotFoundError, type JobRow, type WorkflowOrigin } from './records';
import type { JobRecords } from './roles';
import { JOBS_TABLE, SCANNER_STATE_TABLE, type StoreCore } from './store-core';

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

export class SqlJobRecords implements JobRecords {
  constructor(private readonly core: StoreCore) {}

  /**
   * Records a new job as `requested`, refusing one that conflicts with an
   * active job. With `origin` (a workflow recording its own job), the job that
   * execution already recorded is returned instead, so a retried or zombie
   * call records nothing twice. Without it, the workflow id is the default one.
   */
  async createJob(job: JobConfig, origin?: WorkflowOrigin): Promise<number> {
    const conn = await this.core.db.getConnection();
    try {
      // A named lock makes check-then-insert atomic across concurrent creators.
      const [[lock]] = await conn.query<RowDataPacket[]>(
        "SELECT GET_LOCK('clp_ingestor_create_job', 10) AS got",
      );
      if (lock.got !== 1) throw new Error('createJob: timed out waiting for the job-creation lock');
      try {
        if (origin) {
          const [mine] = await conn.query<RowDataPacket[]>(
            `SELECT id FROM ${JOBS_TABLE} WHERE workflow_id = ? AND workflow_first_run_id = ?`,
            [origin.workflowId, origin.firstRunId],
          );
          if (mine.length) return Number(mine[0]!.id);
        }
        const src = s3Source(job);
        if (src) {
          // bucket_name holds a job's first bucket only (an SQS job may list several): the dataset's active
          // S3 jobs are all compared.
          const [active] = await conn.query<RowDataPacket[]>(
            `SELECT id, kind, config FROM ${JOBS_TABLE} WHERE kind <> 'fs' AND dataset = ? AND status IN (?)`,
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
        const ts = this.core.now();
        await conn.beginTransaction();
        try {
          const [res] = await conn.query<ResultSetHeader>(
            `INSERT INTO ${JOBS_TABLE} (kind, config, status, dataset, bucket_name, creation_ts, last_update_ts,
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
            await conn.query(`UPDATE ${JOBS_TABLE} SET workflow_id = ? WHERE id = ?`, [
              defaultWorkflowId(res.insertId),
              res.insertId,
            ]);
          }
          if (SOURCE_DEFINITIONS[job.kind].hasScannerState) {
            await conn.query(`INSERT INTO ${SCANNER_STATE_TABLE} (id, last_ingested_key) VALUES (?, NULL)`, [
              res.insertId,
            ]);
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
    const [rows] = await this.core.db.query<RowDataPacket[]>(`SELECT * FROM ${JOBS_TABLE} WHERE id = ?`, [
      id,
    ]);
    return rows.length ? toJobRow(rows[0]) : null;
  }

  async requireJob(id: number): Promise<JobRow> {
    const job = await this.getJob(id);
    if (!job) throw new NotFoundError(`no ingestion job ${id}`);
    return job;
  }

  /** The job a workflow (by its id) runs: the newest, when the id was used for several. */
  async requireJobOfWorkflow(workflowId: string): Promise<JobRow> {
    const [rows] = await this.core.db.query<RowDataPacket[]>(
      `SELECT * FROM ${JOBS_TABLE} WHERE workflow_id = ? ORDER BY id DESC LIMIT 1`,
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
    const [rows] = await this.core.db.query<RowDataPacket[]>(
      `SELECT * FROM ${JOBS_TABLE} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`,
      args,
    );
    return rows.map(toJobRow);
  }

  /**
   * Moves a job to `to` (or to what `to` makes of its current status), in one
   * transaction. Already there: a no-op, so a retry is harmless; a move the
   * lifecycle does not allow throws IllegalTransitionError.
   */
  async transitionJob(
    id: number,
    to: JobStatus | ((current: JobStatus) => JobStatus),
    errorMsg?: string,
  ): Promise<JobStatus> {
    return withTransaction(this.core.db, async (tx) => {
      const [[row]] = await tx.query<RowDataPacket[]>(
        `SELECT status FROM ${JOBS_TABLE} WHERE id = ? FOR UPDATE`,
        [id],
      );
      if (!row) throw new NotFoundError(`no ingestion job ${id}`);
      const current = row.status as JobStatus;
      const target = typeof to === 'function' ? to(current) : to;
      if (target === current) return current;
      if (!canMove(current, target)) throw new IllegalTransitionError(id, current, target);
      await tx.query(
        `UPDATE ${JOBS_TABLE} SET status = ?, error_msg = COALESCE(?, error_msg), last_update_ts = ? WHERE id = ?`,
        [target, errorMsg ?? null, this.core.now(), id],
      );
      return target;
    });
  }
}
