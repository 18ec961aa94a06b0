/**
 * The local-directory scanner: one pass walks the directory and records every
 * settled file it has not recorded before. A file modified within the settle
 * delay may still be growing; it waits for a later pass, so a file is never
 * compressed half-written.
 *
 * A pass walks in a fixed order (names sorted in each directory), so it can
 * stop where the workflow must flush and the next call go on after the last
 * file it looked at (`resumeAfter`, kept by the workflow): a call returns by
 * the buffer's flush deadline for files it recorded, and as soon as its
 * files take the buffer across the size threshold (they are committed in
 * batches that end at the crossing, so a flush holds at most one file more
 * than the threshold).
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import picomatch from 'picomatch';
import type { FsConfig } from './config';
import type { BufferSnapshot, FileRecords, NewFsFile } from '../../store/ingestion-store';
import { callStartFor, returnForFlushAt } from '../../activities/buffer';
import type { DepsWith } from '../../activities/deps';
import { nonRecoverable } from '../../activities/errors';

export interface FsScanResult {
  recorded: number;
  /** Files seen but not yet settled. */
  unsettled: number;
  snapshot: BufferSnapshot;
  /**
   * Where the pass stopped for a flush: the path (relative to the directory,
   * one entry per segment) of the last file it looked at; the next call goes
   * on after it. Absent when the pass walked to the end.
   */
  resumeAfter?: string[];
}

export interface FsScanOptions {
  /** Go on after this file (a resumeAfter); null: a new pass from the start. */
  resumeAfter: string[] | null;
}

const BATCH = 1000;

const byName = (a: Dirent, b: Dirent) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The files under `dir` in walk order (names sorted per directory, so the
 * order is segment-wise lexicographic), skipping those at or before `after`.
 */
export async function* walkSorted(
  dir: string,
  after: string[] | null = null,
  rel: string[] = [],
): AsyncGenerator<{ full: string; rel: string[] }> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort(byName);
  // The cursor applies while this directory is on its path.
  const mark = after && after.length > rel.length ? after[rel.length]! : null;
  for (const entry of entries) {
    let inner: string[] | null = null;
    if (mark !== null) {
      if (entry.name < mark) continue;
      if (entry.name === mark) {
        if (!entry.isDirectory()) continue; // the cursor's file (or what stands before its directory)
        inner = after;
      }
    }
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walkSorted(full, inner, [...rel, entry.name]);
    else if (entry.isFile()) yield { full, rel: [...rel, entry.name] };
  }
}

export function fsScanActivities({ store }: DepsWith<FileRecords>) {
  return {
    /**
     * One pass over the directory, or (with `opts`) the part of it up to the
     * next flush. Called without `opts` (by workflow runs recorded without
     * the `fs-scan-stops-for-flush` marker, which replay as they ran), it walks
     * the whole directory.
     */
    async scanFsDirectory(jobId: number, config: FsConfig, opts?: FsScanOptions): Promise<FsScanResult> {
      const root = config.directory;
      const info = await stat(root).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'EACCES') {
          throw nonRecoverable(`directory ${root}: ${err.code}`);
        }
        throw err;
      });
      if (!info.isDirectory()) throw nonRecoverable(`directory ${root}: not a directory`);
      const ctx = Context.current();
      const matches = config.glob ? picomatch(config.glob, { dot: true }) : () => true;
      const settledBefore = Date.now() - config.settle_delay_sec * 1000;
      const resumable = opts !== undefined;
      const threshold = config.buffer_config.flush_threshold_bytes;
      // When to return so the workflow flushes what it learns of only from this call (buffer.ts).
      const atStart = await store.bufferSnapshot(jobId);
      const callStart = callStartFor(ctx.info, atStart);
      let flushAt = resumable ? returnForFlushAt(config.buffer_config, atStart, callStart) : Infinity;
      let bufferedBytes = atStart.bytes;
      let batch: NewFsFile[] = [];
      let batchBytes = 0;
      let recorded = 0;
      let unsettled = 0;
      const commit = async () => {
        const n = await store.recordFiles(jobId, batch);
        batch = [];
        batchBytes = 0;
        if (n === 0) return;
        recorded += n;
        const s = await store.bufferSnapshot(jobId);
        bufferedBytes = s.bytes;
        if (resumable) flushAt = returnForFlushAt(config.buffer_config, s, callStart);
      };
      let last: string[] | undefined;
      for await (const file of walkSorted(root, opts?.resumeAfter ?? null)) {
        if (resumable && Date.now() >= flushAt) {
          await commit();
          if (last)
            return { recorded, unsettled, snapshot: await store.bufferSnapshot(jobId), resumeAfter: last };
        }
        last = file.rel;
        if (!matches(file.rel.join('/'))) continue;
        const st = await stat(file.full).catch(() => undefined); // gone since the listing: skip
        if (!st) continue;
        if (st.mtimeMs > settledBefore) {
          unsettled += 1;
          continue;
        }
        batch.push({ path: file.full, size: st.size });
        batchBytes += st.size;
        // A batch ends where it would take the buffer across the threshold.
        if (batch.length >= BATCH || (resumable && bufferedBytes + batchBytes >= threshold)) {
          ctx.heartbeat({ recorded });
          await commit();
        }
      }
      await commit();
      return { recorded, unsettled, snapshot: await store.bufferSnapshot(jobId) };
    },
  };
}
