/**
 * The archive an executor publishes for a compression job: a directory
 * `<archivesDir>/<archive-id>/` holding
 *   - archive.data: one gzip member per input file, back to back;
 *   - index.json: for each file its name, original size, offset and length of
 *     its member within archive.data, and the sha256 of its original bytes.
 *
 * Why gzip: Node 20's zlib has no zstd (CLP's codec), and the only other
 * streaming codec it has, brotli, is several times slower at the qualities
 * where it beats gzip's ratio on logs. Gzip streams in constant memory at
 * disk speed, and each member is a standard .gz on its own, so one file can
 * be extracted with nothing but its offset and length (dd | gunzip).
 *
 * Publishing works like an archivist's: everything is written and fsynced
 * under `<archivesDir>/.staging/<claim-token>/`, and only a complete archive is
 * moved into place, by one rename (atomic within a filesystem). A crash leaves
 * at most a staging directory, which the next executor removes.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export const ARCHIVE_FORMAT = 'clp-ingestor-archive/1';
export const DATA_FILE = 'archive.data';
export const INDEX_FILE = 'index.json';
export const STAGING_DIR = '.staging';

export interface ArchiveFileEntry {
  name: string;
  original_size: number;
  offset: number;
  length: number;
  sha256: string;
}

export interface ArchiveIndex {
  format: typeof ARCHIVE_FORMAT;
  archive_id: string;
  compression_job_id: number;
  codec: 'gzip';
  created_at: string;
  uncompressed_size: number;
  /** Bytes of archive.data (the index itself is not counted). */
  data_size: number;
  files: ArchiveFileEntry[];
}

/** Something went wrong writing the archive itself (not reading an input). */
export class ArchiveWriteError extends Error {
  override name = 'ArchiveWriteError';
}

/**
 * clp_config carries zstd levels (1-19, CLP's default 3). Gzip has 1-9; map
 * CLP's default onto gzip's default (6) and saturate above.
 */
export function gzipLevelFor(clpLevel: number): number {
  return Math.max(1, Math.min(9, Math.round(clpLevel) + 3));
}

export function stagingRoot(archivesDir: string): string {
  return path.join(archivesDir, STAGING_DIR);
}

/** Counts and hashes (sha256) the bytes that stream through it, for the index or to check against it. */
export class ByteMeter {
  size = 0;
  private readonly hash = createHash('sha256');

  /** A pipeline stage passing its chunks on unchanged. */
  readonly through = (chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> => this.measure(chunks);

  private async *measure(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      this.hash.update(chunk);
      this.size += chunk.length;
      yield chunk;
    }
  }

  sha256(): string {
    return this.hash.digest('hex');
  }
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

export class ArchiveWriter {
  private readonly files: ArchiveFileEntry[] = [];
  private position = 0;
  private uncompressed = 0;
  private indexBytes = 0;
  private published = false;

  private constructor(
    private readonly archivesDir: string,
    readonly stagingDir: string,
    private readonly data: FileHandle,
    private readonly jobId: number,
    private readonly gzipLevel: number,
  ) {}

  /** Starts an archive in `.staging/<stagingName>/` (the claim token, so a claim's leftovers are findable). */
  static async create(
    archivesDir: string,
    stagingName: string,
    jobId: number,
    gzipLevel: number,
  ): Promise<ArchiveWriter> {
    const stagingDir = path.join(stagingRoot(archivesDir), stagingName);
    try {
      await mkdir(stagingDir, { recursive: true });
      // 'wx': a staging directory is never shared, not even by mistake.
      const data = await open(path.join(stagingDir, DATA_FILE), 'wx');
      return new ArchiveWriter(archivesDir, stagingDir, data, jobId, gzipLevel);
    } catch (err) {
      throw new ArchiveWriteError(`archive: ${(err as Error).message}`);
    }
  }

  /**
   * One archive id per compression job, not per attempt: a rerun after a crash
   * between the rename and the commit replaces the unacknowledged archive
   * instead of publishing a second copy of the same files.
   */
  get archiveId(): string {
    return `compression-job-${this.jobId}`;
  }

  get finalDir(): string {
    return path.join(this.archivesDir, this.archiveId);
  }

  /** Bytes on disk: the data file and, once sealed, the index. */
  get compressedSize(): number {
    return this.position + this.indexBytes;
  }

  /**
   * Streams one file into the archive as its own gzip member. Memory stays
   * bounded by the streams' buffers whatever the file's size. Errors from
   * `source` propagate unchanged, so the caller can tell whose fault they are.
   */
  async add(name: string, source: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<ArchiveFileEntry> {
    const offset = this.position;
    const original = new ByteMeter();
    const sink = async (members: AsyncIterable<Buffer>): Promise<void> => {
      for await (const chunk of members) {
        try {
          await this.data.write(chunk, 0, chunk.length, this.position);
        } catch (err) {
          throw new ArchiveWriteError(`archive: ${(err as Error).message}`);
        }
        this.position += chunk.length;
      }
    };
    await pipeline(source, original.through, createGzip({ level: this.gzipLevel }), sink, { signal });
    const entry = {
      name,
      original_size: original.size,
      offset,
      length: this.position - offset,
      sha256: original.sha256(),
    };
    this.files.push(entry);
    this.uncompressed += original.size;
    return entry;
  }

  /** Writes the index and makes the whole staging directory durable; returns the index. */
  async seal(): Promise<ArchiveIndex> {
    const index: ArchiveIndex = {
      format: ARCHIVE_FORMAT,
      archive_id: this.archiveId,
      compression_job_id: this.jobId,
      codec: 'gzip',
      created_at: new Date().toISOString(),
      uncompressed_size: this.uncompressed,
      data_size: this.position,
      files: this.files,
    };
    try {
      await this.data.sync();
      await this.data.close();
      const indexFile = await open(path.join(this.stagingDir, INDEX_FILE), 'wx');
      try {
        const json = Buffer.from(JSON.stringify(index, null, 2) + '\n');
        await indexFile.writeFile(json);
        this.indexBytes = json.length;
        await indexFile.sync();
      } finally {
        await indexFile.close();
      }
      await fsyncDir(this.stagingDir);
    } catch (err) {
      throw new ArchiveWriteError(`archive: ${(err as Error).message}`);
    }
    return index;
  }

  /** Moves the sealed archive into its final place with one rename. */
  async publish(): Promise<void> {
    try {
      // Only an earlier attempt whose job never reached SUCCEEDED can have left
      // this directory (a SUCCEEDED job is never run again): it was never valid.
      await rm(this.finalDir, { recursive: true, force: true });
      await rename(this.stagingDir, this.finalDir);
      this.published = true;
      await fsyncDir(this.archivesDir);
    } catch (err) {
      throw new ArchiveWriteError(`archive: publishing failed: ${(err as Error).message}`);
    }
  }

  /** Undoes publish() when the transaction recording it did not commit. */
  async unpublish(): Promise<void> {
    if (!this.published) return;
    await rename(this.finalDir, this.stagingDir);
    this.published = false;
  }

  /** Removes the staging directory (nothing, once published). Never throws. */
  async discard(): Promise<void> {
    await this.data.close().catch(() => undefined);
    if (!this.published) await rm(this.stagingDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
