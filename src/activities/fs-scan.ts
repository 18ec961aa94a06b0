/**
 * The local-directory scanner: one activity call walks the directory and
 * records every settled file it has not recorded before. A file modified
 * within the settle delay may still be growing; it waits for a later scan
 * (the archivist's settle delay for incomplete input).
 */
import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import picomatch from 'picomatch';
import type { FsConfig } from '../config/job-config';
import type { BufferSnapshot, NewFile } from '../store/ingestion-store';
import type { ActivityDeps } from './deps';
import { nonRecoverable } from './errors';

export interface FsScanResult {
  recorded: number;
  /** Files seen but not yet settled. */
  unsettled: number;
  snapshot: BufferSnapshot;
}

const BATCH = 1000;

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of await opendir(dir)) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.isFile()) yield full;
  }
}

export function fsScanActivities({ store }: ActivityDeps) {
  return {
    async scanFsDirectory(jobId: number, config: FsConfig): Promise<FsScanResult> {
      const root = config.directory;
      const info = await stat(root).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'EACCES') {
          throw nonRecoverable(`directory ${root}: ${err.code}`);
        }
        throw err;
      });
      if (!info.isDirectory()) throw nonRecoverable(`directory ${root}: not a directory`);
      const matches = config.glob ? picomatch(config.glob, { dot: true }) : () => true;
      const settledBefore = Date.now() - config.settle_delay_sec * 1000;
      let batch: NewFile[] = [];
      let recorded = 0;
      let unsettled = 0;
      for await (const file of walk(root)) {
        if (!matches(path.relative(root, file))) continue;
        const st = await stat(file).catch(() => undefined); // gone since the listing: skip
        if (!st) continue;
        if (st.mtimeMs > settledBefore) {
          unsettled += 1;
          continue;
        }
        batch.push({ path: file, size: st.size });
        if (batch.length >= BATCH) {
          Context.current().heartbeat({ recorded });
          recorded += await store.recordFiles(jobId, batch);
          batch = [];
        }
      }
      recorded += await store.recordFiles(jobId, batch);
      return { recorded, unsettled, snapshot: await store.bufferSnapshot(jobId) };
    },
  };
}
