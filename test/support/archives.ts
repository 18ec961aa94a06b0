/**
 * Real CLP archives for search tests: clp-s compresses JSON lines the test
 * writes, and the archives are registered in CLP's metadata tables as CLP's
 * compression worker registers them (ensureDataset, then one row per archive).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { datasetTables } from '../../src/clp/metadata';
import type { ArchiveStats } from '../../src/executor/clp-s-run';
import type { Db } from '../../src/store/db';

const run = promisify(execFile);

export type { ArchiveStats };

/**
 * Compresses `events` (one JSON object per line) into `archiveDir` with
 * clp-s, as CLP's worker runs it (`--timestamp-key ts`); single-file unless
 * asked for clp-s's directory layout. Returns the archives' stats.
 */
export async function makeArchive(
  clpS: string,
  archiveDir: string,
  events: object[],
  { singleFile = true }: { singleFile?: boolean } = {},
): Promise<ArchiveStats[]> {
  const work = mkdtempSync(path.join(tmpdir(), 'search-input-'));
  const input = path.join(work, 'events.jsonl');
  writeFileSync(input, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  writeFileSync(path.join(work, 'list'), `${input}\n`);
  const args = ['c', archiveDir, '--files-from', path.join(work, 'list'), '--print-archive-stats'];
  if (singleFile) args.push('--single-file-archive');
  args.push('--timestamp-key', 'ts');
  const { stdout } = await run(clpS, args).finally(() => rmSync(work, { recursive: true, force: true }));
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ArchiveStats);
}

/** Inserts the archive's row as CLP's compression worker does (creator_id '', creation_ix 0). */
export async function registerArchive(pool: Db, dataset: string, a: ArchiveStats): Promise<void> {
  const { archives } = datasetTables(dataset);
  await pool.query(
    `INSERT INTO \`${archives}\` (id, begin_timestamp, end_timestamp, uncompressed_size, size, creator_id, creation_ix)
     VALUES (?, ?, ?, ?, ?, '', 0)`,
    [a.id, a.begin_timestamp, a.end_timestamp, a.uncompressed_size, a.size],
  );
}
