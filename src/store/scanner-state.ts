/**
 * ScannerState on the CLP DB: an S3 scanner's cursor (an object list's count
 * of URLs done) and its order-free re-list's state, each moved in the same
 * transaction as the page of files it covers.
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { withTransaction } from './db';
import { NotFoundError, type FailedFile, type NewFile, type RescanState } from './records';
import type { ScannerState } from './roles';
import { JOBS_TABLE, NOTHING, SCANNER_STATE_TABLE, type StoreCore } from './store-core';

export class SqlScannerState implements ScannerState {
  constructor(private readonly core: StoreCore) {}

  async getScannerCursor(jobId: number): Promise<string | null> {
    const [[row]] = await this.core.db.query<RowDataPacket[]>(
      `SELECT last_ingested_key FROM ${SCANNER_STATE_TABLE} WHERE id = ?`,
      [jobId],
    );
    if (!row) throw new NotFoundError(`no S3-scanner state for ingestion job ${jobId}`);
    return row.last_ingested_key;
  }

  /** The order-free re-list's clock and position (see recordRescanPage). */
  async getRescanState(jobId: number): Promise<RescanState> {
    const [[row]] = await this.core.db.query<RowDataPacket[]>(
      `SELECT last_ingested_key, rescan_last_ts, rescan_pass_ts, rescan_after_key FROM ${SCANNER_STATE_TABLE} WHERE id = ?`,
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
    const [res] = await this.core.db.query<ResultSetHeader>(
      seen.lastTs === null
        ? `UPDATE ${SCANNER_STATE_TABLE} SET rescan_last_ts = ? WHERE id = ? AND rescan_last_ts IS NULL AND rescan_pass_ts IS NULL`
        : `UPDATE ${SCANNER_STATE_TABLE} SET rescan_pass_ts = ?, rescan_after_key = NULL
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
    const r = await withTransaction(this.core.db, async (tx) => {
      const [[state]] = await tx.query<RowDataPacket[]>(
        `SELECT s.rescan_pass_ts, s.rescan_after_key FROM ${JOBS_TABLE} j JOIN ${SCANNER_STATE_TABLE} s ON s.id = j.id WHERE j.id = ? FOR UPDATE`,
        [jobId],
      );
      if (!state || Number(state.rescan_pass_ts) !== passTs || state.rescan_after_key !== expectedAfterKey)
        return null;
      const n = files.length ? await this.core.insertFiles(tx, jobId, files) : NOTHING;
      if (next.done) {
        await tx.query(
          `UPDATE ${SCANNER_STATE_TABLE} SET rescan_last_ts = rescan_pass_ts, rescan_pass_ts = NULL, rescan_after_key = NULL WHERE id = ?`,
          [jobId],
        );
      } else if (next.afterKey !== expectedAfterKey) {
        await tx.query(`UPDATE ${SCANNER_STATE_TABLE} SET rescan_after_key = ? WHERE id = ?`, [
          next.afterKey,
          jobId,
        ]);
      }
      return n;
    });
    return r && this.core.reportRecorded(jobId, r);
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
    const r = await withTransaction(this.core.db, async (tx) => {
      // The job row's lock (every writer of the job takes it first) and the cursor, in one round trip.
      const [[state]] = await tx.query<RowDataPacket[]>(
        `SELECT s.last_ingested_key FROM ${JOBS_TABLE} j JOIN ${SCANNER_STATE_TABLE} s ON s.id = j.id WHERE j.id = ? FOR UPDATE`,
        [jobId],
      );
      if (!state || state.last_ingested_key !== expectedCursor) return null;
      if (newCursor !== null && newCursor !== expectedCursor) {
        await tx.query(`UPDATE ${SCANNER_STATE_TABLE} SET last_ingested_key = ? WHERE id = ?`, [
          newCursor,
          jobId,
        ]);
      }
      const bad = failed.length ? await this.core.insertFailedFiles(tx, jobId, failed) : 0;
      const ok = files.length ? await this.core.insertFiles(tx, jobId, files) : NOTHING;
      // Files recorded as failed are recorded too (num_files_ingested counts them).
      return { files: ok.files + bad, bytes: ok.bytes };
    });
    return r && this.core.reportRecorded(jobId, r);
  }
}
