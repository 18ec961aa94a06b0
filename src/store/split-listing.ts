/**
 * SplitListing on the CLP DB: an S3 scanner's listing split into key ranges,
 * so several workers list one job's prefix at once. The job's cursor stays
 * where it was while a split runs; when every bounded range has been listed
 * to its end, the cursor moves to where the open-ended last range got to and
 * the split ends. Every change is one transaction under the job row's lock,
 * compare-and-set on what the caller saw, so a retried or zombie call
 * changes nothing.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { withTransaction, type Tx } from './db';
import { NotFoundError, type NewFile } from './records';
import type { ScanRange, SplitListing } from './roles';
import { JOBS_TABLE, NOTHING, SCANNER_STATE_TABLE, type StoreCore } from './store-core';
import { TABLES } from './tables';

const RANGES_TABLE = TABLES.s3ScanRanges;

/** S3's key order: UTF-8 bytes. */
function keyAfter(a: string, b: string): boolean {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) > 0;
}

function rangeOf(row: RowDataPacket): ScanRange {
  return {
    idx: Number(row.range_idx),
    startAfter: row.start_after,
    endKey: row.end_key,
    position: row.position,
    done: Number(row.done) === 1,
  };
}

/** The cursor and split of a job's scanner, under the job row's lock (every writer of the job takes it first). */
async function lockedSplitState(tx: Tx, jobId: number): Promise<RowDataPacket> {
  const [[state]] = await tx.query<RowDataPacket[]>(
    `SELECT s.last_ingested_key, s.split_seq, s.split_ranges FROM ${JOBS_TABLE} j JOIN ${SCANNER_STATE_TABLE} s ON s.id = j.id
     WHERE j.id = ? FOR UPDATE`,
    [jobId],
  );
  if (!state) throw new NotFoundError(`no S3-scanner state for ingestion job ${jobId}`);
  return state;
}

export class SqlSplitListing implements SplitListing {
  constructor(private readonly core: StoreCore) {}

  async getSplit(jobId: number): Promise<ScanRange[]> {
    const [rows] = await this.core.db.query<RowDataPacket[]>(
      `SELECT r.range_idx, r.start_after, r.end_key, r.position, r.done
       FROM ${SCANNER_STATE_TABLE} s JOIN ${RANGES_TABLE} r ON r.job_id = s.id AND r.split_seq = s.split_seq AND r.range_idx < s.split_ranges
       WHERE s.id = ? ORDER BY r.range_idx`,
      [jobId],
    );
    return rows.map(rangeOf);
  }

  async startSplit(
    jobId: number,
    expectedCursor: string | null,
    bounds: { startAfter: string | null; endKey: string | null }[],
  ): Promise<ScanRange[] | null> {
    return withTransaction(this.core.db, async (tx) => {
      const state = await lockedSplitState(tx, jobId);
      if (Number(state.split_ranges) > 0 || state.last_ingested_key !== expectedCursor) return null;
      const seq = Number(state.split_seq) + 1;
      const rows = bounds.map((b, idx) => [jobId, idx, seq, b.startAfter, b.endKey, b.startAfter]);
      await tx.query(
        `INSERT INTO ${RANGES_TABLE} (job_id, range_idx, split_seq, start_after, end_key, position) VALUES ?
         ON DUPLICATE KEY UPDATE split_seq = VALUES(split_seq), start_after = VALUES(start_after),
           end_key = VALUES(end_key), position = VALUES(position), done = 0`,
        [rows],
      );
      await tx.query(`UPDATE ${SCANNER_STATE_TABLE} SET split_seq = ?, split_ranges = ? WHERE id = ?`, [
        seq,
        bounds.length,
        jobId,
      ]);
      return bounds.map((b, idx) => ({ idx, ...b, position: b.startAfter, done: false }));
    });
  }

  async recordRangePage(
    jobId: number,
    idx: number,
    files: NewFile[],
    expectedPosition: string | null,
    next: { position: string | null; done: boolean },
  ): Promise<number | null> {
    const r = await withTransaction(this.core.db, async (tx) => {
      // The job row's lock first, as every writer of the job's files takes it.
      const [[range]] = await tx.query<RowDataPacket[]>(
        `SELECT r.position, r.done FROM ${JOBS_TABLE} j JOIN ${SCANNER_STATE_TABLE} s ON s.id = j.id
         JOIN ${RANGES_TABLE} r ON r.job_id = s.id AND r.split_seq = s.split_seq AND r.range_idx < s.split_ranges
         WHERE j.id = ? AND r.range_idx = ? FOR UPDATE`,
        [jobId, idx],
      );
      if (!range || Number(range.done) === 1 || range.position !== expectedPosition) return null;
      if (next.done || next.position !== expectedPosition) {
        await tx.query(
          `UPDATE ${RANGES_TABLE} SET position = ?, done = ? WHERE job_id = ? AND range_idx = ?`,
          [next.position ?? expectedPosition, next.done ? 1 : 0, jobId, idx],
        );
      }
      return files.length ? await this.core.insertFiles(tx, jobId, files) : NOTHING;
    });
    return r && this.core.reportRecorded(jobId, r);
  }

  async endSplitIfListed(jobId: number): Promise<{ ended: boolean; cursor: string | null }> {
    return withTransaction(this.core.db, async (tx) => {
      const state = await lockedSplitState(tx, jobId);
      const cursor: string | null = state.last_ingested_key;
      if (Number(state.split_ranges) === 0) return { ended: true, cursor };
      const [rows] = await tx.query<RowDataPacket[]>(
        `SELECT range_idx, start_after, end_key, position, done FROM ${RANGES_TABLE}
         WHERE job_id = ? AND split_seq = ? AND range_idx < ? ORDER BY range_idx`,
        [jobId, state.split_seq, state.split_ranges],
      );
      const ranges = rows.map(rangeOf);
      if (ranges.some((r) => r.endKey !== null && !r.done)) return { ended: false, cursor };
      // Every key up to the last bound is recorded, and the open range's position past it:
      // the cursor goes there (or stays, if a call from before the split took it further).
      const tail = ranges.find((r) => r.endKey === null);
      const reached = tail?.position ?? ranges.at(-1)?.endKey ?? null;
      const next = reached !== null && (cursor === null || keyAfter(reached, cursor)) ? reached : cursor;
      await tx.query(
        `UPDATE ${SCANNER_STATE_TABLE} SET last_ingested_key = ?, split_ranges = 0 WHERE id = ?`,
        [next, jobId],
      );
      return { ended: true, cursor: next };
    });
  }
}
