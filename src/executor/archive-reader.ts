/** Reading published archives (see archive.ts for the format): list, and extract verified. */
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  ARCHIVE_FORMAT,
  ByteMeter,
  DATA_FILE,
  INDEX_FILE,
  STAGING_DIR,
  type ArchiveFileEntry,
  type ArchiveIndex,
} from './archive';

/** An archive named by id (looked up in archivesDir) or by its directory's path. */
export function resolveArchiveDir(archive: string, archivesDir: string): string {
  const byId = path.join(archivesDir, archive);
  if (!archive.includes(path.sep) && existsSync(byId)) return byId;
  if (existsSync(archive) && statSync(archive).isDirectory()) return path.resolve(archive);
  return byId;
}

export async function readArchiveIndex(archiveDir: string): Promise<ArchiveIndex> {
  const index = JSON.parse(await readFile(path.join(archiveDir, INDEX_FILE), 'utf8')) as ArchiveIndex;
  if (index.format !== ARCHIVE_FORMAT) {
    throw new Error(
      `${archiveDir}: not an archive of format ${ARCHIVE_FORMAT} (found ${String(index.format)})`,
    );
  }
  return index;
}

/** Ids of the published archives in archivesDir (staging is not published). */
export async function listArchiveIds(archivesDir: string): Promise<string[]> {
  const entries = await readdir(archivesDir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return entries
    .filter((e) => e.isDirectory() && e.name !== STAGING_DIR)
    .map((e) => e.name)
    .sort();
}

export class ChecksumMismatchError extends Error {
  override name = 'ChecksumMismatchError';
}

/**
 * Decompresses one file's gzip member into `dest`, checking its size and
 * sha256 against the index; a mismatch throws after the bytes were written,
 * so callers writing to a file should remove it (extractToFile does).
 */
export async function extractEntry(
  archiveDir: string,
  entry: ArchiveFileEntry,
  dest: Writable,
  options: { end?: boolean } = {},
): Promise<void> {
  const extracted = new ByteMeter();
  const member = createReadStream(path.join(archiveDir, DATA_FILE), {
    start: entry.offset,
    end: entry.offset + entry.length - 1,
  });
  await pipeline(member, createGunzip(), extracted.through, dest, { end: options.end ?? true });
  const { size } = extracted;
  const sha256 = extracted.sha256();
  if (size !== entry.original_size || sha256 !== entry.sha256) {
    throw new ChecksumMismatchError(
      `${entry.name}: extracted ${size} bytes with sha256 ${sha256}; index says ${entry.original_size} bytes, ${entry.sha256}`,
    );
  }
}

export async function extractToFile(
  archiveDir: string,
  entry: ArchiveFileEntry,
  outPath: string,
): Promise<void> {
  try {
    await extractEntry(archiveDir, entry, createWriteStream(outPath));
  } catch (err) {
    await rm(outPath, { force: true });
    throw err;
  }
}

export function findEntry(index: ArchiveIndex, name: string): ArchiveFileEntry | undefined {
  return index.files.find((f) => f.name === name);
}
