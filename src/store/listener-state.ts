/**
 * ListenerState on the CLP DB: an SQS listener's batches, the files their S3
 * notifications name and the messages it ignored, each batch one transaction.
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { withTransaction } from './db';
import { NotFoundError, type BufferSnapshot, type IgnoredMessage, type NewFile } from './records';
import type { ListenerState } from './roles';
import { TABLES } from './tables';
import { JOBS_TABLE, NOTHING, type StoreCore } from './store-core';

export class SqlListenerState implements ListenerState {
  constructor(private readonly core: StoreCore) {}

  /**
   * One batch of SQS messages in one transaction: the files their S3
   * notifications name, and the messages ignored (keyed by message id, so a
   * redelivered message is neither recorded nor counted twice).
   */
  async recordMessageBatch(
    jobId: number,
    files: NewFile[],
    ignored: IgnoredMessage[],
  ): Promise<{ recorded: number; ignored: number; snapshot?: BufferSnapshot }> {
    if (files.length === 0 && ignored.length === 0) return { recorded: 0, ignored: 0 };
    const r = await withTransaction(this.core.db, async (tx) => {
      // The job row's lock, and its buffer counters with it: with what this batch adds they are the
      // buffer as this commit leaves it, so the listener needs no read of its own after each batch.
      const [[job]] = await tx.query<RowDataPacket[]>(
        `SELECT buffered_files, buffered_bytes, buffered_oldest_ts, outstanding_compression_jobs FROM ${JOBS_TABLE}
         WHERE id = ? FOR UPDATE`,
        [jobId],
      );
      if (!job) throw new NotFoundError(`no ingestion job ${jobId}`);
      const recorded = files.length ? await this.core.insertFiles(tx, jobId, files) : NOTHING;
      const oldest = job.buffered_oldest_ts === null ? null : Number(job.buffered_oldest_ts);
      const snapshot: BufferSnapshot = {
        files: Number(job.buffered_files) + recorded.files,
        bytes: Number(job.buffered_bytes) + recorded.bytes,
        oldestTs: oldest ?? (recorded.files > 0 ? (recorded.ts ?? null) : null),
        outstandingCompressionJobs: Number(job.outstanding_compression_jobs),
      };
      let newlyIgnored = 0;
      if (ignored.length) {
        const ts = this.core.now();
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
            `UPDATE ${JOBS_TABLE} SET num_messages_ignored = num_messages_ignored + ?, last_update_ts = ? WHERE id = ?`,
            [newlyIgnored, ts, jobId],
          );
        }
      }
      return { recorded, ignored: newlyIgnored, snapshot };
    });
    if (r.ignored) await this.core.report(jobId, () => this.core.metrics.messagesIgnored(r.ignored));
    return {
      recorded: await this.core.reportRecorded(jobId, r.recorded),
      ignored: r.ignored,
      snapshot: r.snapshot,
    };
  }

  async listIgnoredMessages(jobId: number, limit = 20): Promise<IgnoredMessage[]> {
    const [rows] = await this.core.db.query<RowDataPacket[]>(
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
}
