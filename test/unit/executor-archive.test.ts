/** The executor's archive format on local disk: write, publish, list, extract, discard. */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { ArchiveWriter, DATA_FILE, gzipLevelFor, STAGING_DIR } from '../../src/executor/archive';
import {
  ChecksumMismatchError,
  extractEntry,
  findEntry,
  listArchiveIds,
  readArchiveIndex,
  resolveArchiveDir,
} from '../../src/executor/archive-reader';
import { throttled } from '../../src/executor/throttle';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'archive-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function* chunksOf(buf: Buffer, size = 10_000): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

function collector(): { sink: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      cb();
    },
  });
  return { sink, bytes: () => Buffer.concat(parts) };
}

const files: [string, Buffer][] = [
  ['a.log', Buffer.from('2024-01-01 INFO hello\n'.repeat(1000))],
  ['empty.log', Buffer.alloc(0)],
  ['dir/ü b+c.bin', randomBytes(300_000)],
];

test('an archive is staged, then published by rename, and every file extracts byte-identical', async () => {
  const writer = await ArchiveWriter.create(dir, 'claim-1', 42, gzipLevelFor(3));
  expect(writer.stagingDir).toBe(path.join(dir, STAGING_DIR, 'claim-1'));
  for (const [name, data] of files) await writer.add(name, chunksOf(data));
  // Nothing is visible in the final location before publishing.
  expect(await listArchiveIds(dir)).toEqual([]);
  const index = await writer.seal();
  await writer.publish();
  await writer.discard(); // a no-op once published

  expect(await listArchiveIds(dir)).toEqual([writer.archiveId]);
  expect(await readdir(path.join(dir, STAGING_DIR))).toEqual([]);
  const archiveDir = resolveArchiveDir(writer.archiveId, dir);
  const onDisk = await readArchiveIndex(archiveDir);
  expect(onDisk).toEqual(index);
  expect(onDisk.compression_job_id).toBe(42);
  expect(onDisk.files.map((f) => f.name)).toEqual(files.map(([n]) => n));

  const data = await readFile(path.join(archiveDir, DATA_FILE));
  expect(onDisk.data_size).toBe(data.length);
  expect(writer.compressedSize).toBeGreaterThan(data.length); // the index counts too
  for (const [name, original] of files) {
    const entry = findEntry(onDisk, name)!;
    expect(entry.original_size).toBe(original.length);
    expect(entry.sha256).toBe(createHash('sha256').update(original).digest('hex'));
    // Each member is a standalone gzip stream: offset and length are all one needs.
    expect(gunzipSync(data.subarray(entry.offset, entry.offset + entry.length)).equals(original)).toBe(true);
    const out = collector();
    await extractEntry(archiveDir, entry, out.sink);
    expect(out.bytes().equals(original)).toBe(true);
  }
  // Logs compress; random bytes do not (much).
  const log = findEntry(onDisk, 'a.log')!;
  expect(log.length * 10).toBeLessThan(log.original_size);
});

test('extraction detects a corrupted index entry', async () => {
  const writer = await ArchiveWriter.create(dir, 'claim-2', 1, 6);
  await writer.add('x.log', chunksOf(Buffer.from('some bytes\n')));
  const index = await writer.seal();
  await writer.publish();
  const entry = { ...index.files[0], sha256: '0'.repeat(64) };
  await expect(extractEntry(writer.finalDir, entry, collector().sink)).rejects.toThrow(ChecksumMismatchError);
});

test('a discarded archive leaves nothing behind, and a failing input propagates its own error', async () => {
  const writer = await ArchiveWriter.create(dir, 'claim-3', 1, 6);
  async function* failing(): AsyncGenerator<Buffer> {
    yield Buffer.from('partial');
    throw new Error('input went away');
  }
  await expect(writer.add('f.log', failing())).rejects.toThrow('input went away');
  await writer.discard();
  expect(existsSync(writer.stagingDir)).toBe(false);
  expect(await listArchiveIds(dir)).toEqual([]);
});

test('gzip levels follow clp_config levels: CLP default 3 is gzip default 6, saturating at 9', () => {
  expect(gzipLevelFor(1)).toBe(4);
  expect(gzipLevelFor(3)).toBe(6);
  expect(gzipLevelFor(19)).toBe(9);
});

test('throttled input is paced to the configured rate', async () => {
  const t0 = Date.now();
  let n = 0;
  for await (const c of throttled(chunksOf(Buffer.alloc(50_000), 10_000), 100_000)) n += c.length;
  expect(n).toBe(50_000);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
});
