/**
 * Where a task's clp-s archives go once written, exactly where CLP keeps
 * them: `<archive dir>/<dataset>/<archive id>` (CLP's archive_output.directory)
 * or, with S3 archive storage, the object `<key prefix><dataset>/<archive id>`.
 *
 * clp-s writes into `<archive dir>/.staging/<claim token>/task-<id>/`; an
 * archive is placed (one rename, or one upload) before the transaction that
 * registers it, so a registered archive is always in place. A crash between
 * the two leaves an archive that no table names: search reads archives only
 * through CLP's archives table, so it is never seen, and sweepUnregistered
 * removes it once it is older than any registration could still be.
 */
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createReadStream } from 'node:fs';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RowDataPacket } from 'mysql2/promise';
import { datasetTables, DATASETS_TABLE } from '../clp/metadata';
import type { Db } from '../store/db';

export const STAGING_DIR = '.staging';

export function stagingRoot(archivesDir: string): string {
  return path.join(archivesDir, STAGING_DIR);
}

/** Something went wrong placing an archive (not the job's data's fault). */
export class ArchivePlacementError extends Error {
  override name = 'ArchivePlacementError';
}

/** Opens a directory and fsyncs it, making renames and creations inside it durable. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsConstants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a file, or every file of a directory archive, and the directory itself. */
async function fsyncTree(p: string): Promise<void> {
  const st = await stat(p);
  if (st.isDirectory()) {
    for (const e of await readdir(p)) await fsyncTree(path.join(p, e));
    await fsyncDir(p);
  } else {
    const fh = await open(p, fsConstants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

export interface ArchiveStore {
  /** True when archives are single files (CLP's package uses them for S3 storage only). */
  readonly singleFileArchives: boolean;
  /** clp_datasets.archive_storage_directory for `dataset`. */
  storageDirectory(dataset: string): string;
  /** Moves (or uploads) the written archive `staged` into place as `<dataset>/<id>`. */
  place(dataset: string, id: string, staged: string): Promise<void>;
  /** Removes a placed archive (one whose registration did not commit). Never throws. */
  remove(dataset: string, id: string): Promise<void>;
}

export class DirectoryArchiveStore implements ArchiveStore {
  readonly singleFileArchives = false;
  constructor(readonly archivesDir: string) {}

  storageDirectory(dataset: string): string {
    return path.join(this.archivesDir, dataset);
  }

  async place(dataset: string, id: string, staged: string): Promise<void> {
    const dir = this.storageDirectory(dataset);
    try {
      await fsyncTree(staged);
      await mkdir(dir, { recursive: true });
      // Archive ids are UUIDs clp-s made for this run: nothing is ever in the way.
      await rename(staged, path.join(dir, id));
      await fsyncDir(dir);
    } catch (err) {
      throw new ArchivePlacementError(`placing archive ${id} in ${dir}: ${(err as Error).message}`);
    }
  }

  async remove(dataset: string, id: string): Promise<void> {
    await rm(path.join(this.storageDirectory(dataset), id), { recursive: true, force: true }).catch(
      () => undefined,
    );
  }
}

export class S3ArchiveStore implements ArchiveStore {
  readonly singleFileArchives = true;
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly keyPrefix: string,
  ) {}

  storageDirectory(dataset: string): string {
    return `${this.keyPrefix}${dataset}`;
  }

  private key(dataset: string, id: string): string {
    return `${this.storageDirectory(dataset)}/${id}`;
  }

  async place(dataset: string, id: string, staged: string): Promise<void> {
    const key = this.key(dataset, id);
    try {
      const { size } = await stat(staged);
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: createReadStream(staged),
          ContentLength: size,
        }),
      );
      await rm(staged, { force: true });
    } catch (err) {
      throw new ArchivePlacementError(
        `uploading archive ${id} to s3://${this.bucket}/${key}: ${(err as Error).message}`,
      );
    }
  }

  async remove(dataset: string, id: string): Promise<void> {
    await this.s3
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(dataset, id) }))
      .catch(() => undefined);
  }
}

/**
 * Removes archives in this directory store that no archives table names and
 * that are older than `graceMs` (a registration commits within a lease of
 * the archive's placement, or never: the job is KILLED once the lease is
 * gone). Returns the removed paths.
 */
export async function sweepUnregistered(
  db: Db,
  store: DirectoryArchiveStore,
  graceMs: number,
  now = Date.now(),
): Promise<string[]> {
  let datasets: RowDataPacket[];
  try {
    [datasets] = await db.query<RowDataPacket[]>(
      `SELECT name, archive_storage_directory FROM \`${DATASETS_TABLE}\``,
    );
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return [];
    throw err;
  }
  const removed: string[] = [];
  for (const d of datasets) {
    const dir = String(d.archive_storage_directory);
    if (path.resolve(dir) !== path.resolve(store.storageDirectory(String(d.name)))) continue; // not ours
    const names = await readdir(dir).catch(() => [] as string[]);
    if (names.length === 0) continue;
    const [rows] = await db.query<RowDataPacket[]>(
      `SELECT id FROM \`${datasetTables(String(d.name)).archives}\` WHERE id IN (?)`,
      [names],
    );
    const registered = new Set(rows.map((r) => String(r.id)));
    for (const name of names) {
      if (registered.has(name)) continue;
      const p = path.join(dir, name);
      const st = await stat(p).catch(() => null);
      if (!st || now - st.mtimeMs < graceMs) continue;
      await rm(p, { recursive: true, force: true });
      removed.push(p);
    }
  }
  return removed;
}
