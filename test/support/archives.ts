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
import { datasetTables, DATASETS_TABLE, ensureDataset } from '../../src/clp/metadata';
import type { Settings } from '../../src/config/settings';
import type { Db } from '../../src/store/db';
import { account } from '../../src/store/grants';

const run = promisify(execFile);

/** What `clp-s c --print-archive-stats` prints for each archive. */
export interface ArchiveStats {
  id: string;
  begin_timestamp: number;
  end_timestamp: number;
  size: number;
  uncompressed_size: number;
}

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

/**
 * Registers the dataset (ensureDataset, as the schema owner) and gives the
 * API's user SELECT on clp_datasets and the dataset's archives table, as
 * `clp-ingestor migrate` and the dataset procedure give it where they
 * exist. Returns what undoes the grants (table grants outlive a dropped DB).
 */
export async function datasetForSearch(
  owner: Db,
  settings: Settings,
  dataset: string,
  storageDirectory: string,
): Promise<() => Promise<void>> {
  await ensureDataset(owner, dataset, storageDirectory);
  const grantee = account(settings.dbRoles.api.user, settings.dbGranteeHost);
  const db = settings.db.database;
  const tables = [DATASETS_TABLE, datasetTables(dataset).archives];
  for (const t of tables) await owner.query(`GRANT SELECT ON \`${db}\`.\`${t}\` TO ${grantee}`);
  return async () => {
    for (const t of tables) {
      await owner
        .query(`REVOKE SELECT ON \`${db}\`.\`${t}\` FROM ${grantee}`)
        .catch((err: { code?: string }) => {
          if (err.code !== 'ER_NONEXISTING_TABLE_GRANT') throw err;
        });
    }
  };
}
