/**
 * How files reach the file table, on the real MariaDB: the bulk load (LOAD
 * DATA LOCAL, the server computing each row's path and dedup hash) and the
 * multi-row INSERT a server that refuses it gets instead write the same
 * rows, with the same dedup identity, so each skips what the other recorded.
 */
import { createHash } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { dbFor } from '../../src/config/db-settings';
import { parseJobConfig } from '../../src/config/job-config';
import { createPool, type Db } from '../../src/store/db';
import { IngestionStore } from '../../src/store/ingestion-store';
import type { NewFile } from '../../src/store/records';
import { BULK_LOAD_MIN_FILES, dedupKey } from '../../src/store/store-core';
import { createTestDb, rolePool, type TestDb } from '../support/stack';

/** Keys CLP can read (keys with control characters, spaces, #, ? or % are recorded as failed: see s3-url.ts). */
const KEYS = [
  'app/plain.jsonl',
  'app/back\\slash',
  'app/\\N',
  'app/ünïcødé/日本語/🙂.log',
  "app/');DROP_TABLE_x;--\\'",
  'app/plus+and&amp',
  `app/${'k'.repeat(1000)}`,
];
/** Local paths hold any byte but NUL and the load's own separators among them. */
const PATHS = [
  '/var/log/tab\there',
  '/var/log/new\nline\rreturn',
  '/var/log/back\\slash\\N',
  '/var/log/nul\u0000byte',
];

function files(tag: string): NewFile[] {
  return [
    ...KEYS.map((key, i) => ({ s3: { bucket: 'logs', key: `${key}${tag}` }, size: 100 + i })),
    // Two uploads of one key (SQS sequencers): two files.
    { s3: { bucket: 'logs', key: `app/versioned${tag}` }, size: 7, version: '0001' },
    { s3: { bucket: 'logs', key: `app/versioned${tag}` }, size: 8, version: '0002' },
    ...PATHS.map((path, i) => ({ path: `${path}${tag}`, size: 200 + i })),
    // Enough files for the bulk load (smaller batches go by INSERT).
    ...Array.from({ length: BULK_LOAD_MIN_FILES }, (_, i) => ({
      s3: { bucket: 'logs', key: `app/many/${i}${tag}` },
      size: i,
    })),
  ];
}

/** A job's rows: what each column holds, the dedup hash in hex. */
async function rowsOf(pool: Db, jobId: number) {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT path, bucket, object_key, size, status, LOWER(HEX(dedup_hash)) AS hash
     FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY id`,
    [jobId],
  );
  return rows.map((r) => ({ ...r, size: Number(r.size) }));
}

async function counters(pool: Db, jobId: number) {
  const [[row]] = await pool.query<RowDataPacket[]>(
    'SELECT num_files_ingested, buffered_files, buffered_bytes FROM log_ingestor_ingestion_jobs WHERE id = ?',
    [jobId],
  );
  return {
    ingested: Number(row.num_files_ingested),
    files: Number(row.buffered_files),
    bytes: Number(row.buffered_bytes),
  };
}

async function loadsRun(pool: Db): Promise<number> {
  const [[row]] = await pool.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Com_load'");
  return Number(row.Value);
}

describe('recording files: the bulk load and the INSERT it falls back to', () => {
  let db: TestDb;
  /** The worker's own least-privileged user, as the worker connects. */
  let loading: Db;
  /** The same user on a connection that does not offer LOAD DATA LOCAL: the server refuses it. */
  let refused: Db;
  let emitWarning: jest.SpyInstance;
  /** The refusal's warnings so far (the worker logs a process warning as a JSON line). */
  const warnings = () => emitWarning.mock.calls.filter(([, opts]) => opts?.code === 'LoadDataRefused');

  beforeAll(async () => {
    db = await createTestDb();
    loading = rolePool(db.settings, 'worker');
    refused = createPool(dbFor(db.settings, 'worker'), { offerLocalFiles: false });
    emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  });
  afterAll(async () => {
    emitWarning.mockRestore();
    await loading.end();
    await refused.end();
    await db.drop();
  });

  test('both write the same rows, each skips what the other recorded, and the counters hold what was added', async () => {
    const job = (prefix: string) =>
      parseJobConfig('sqs_listener', {
        bucket_name: 'logs',
        key_prefix: prefix,
        queue_url: 'http://127.0.0.1:9324/queue/q',
      });
    const byLoad = new IngestionStore(loading);
    const byInsert = new IngestionStore(refused);
    const a = await byLoad.createJob(job('app/'));
    const b = await byLoad.createJob(job('other/'));
    const all = files('');

    const loadsBefore = await loadsRun(db.pool);
    expect(await byLoad.recordFiles(a, all)).toBe(all.length);
    expect(await loadsRun(db.pool)).toBeGreaterThan(loadsBefore);
    expect(warnings()).toHaveLength(0);

    expect(await byInsert.recordFiles(b, all)).toBe(all.length);
    expect(warnings()).toHaveLength(1); // refused once, then INSERT without asking again
    expect(await byInsert.recordFiles(b, files('-2'))).toBe(all.length);
    expect(warnings()).toHaveLength(1);

    // The rows as the INSERT writes them: path bucket/key (the fs file's own), sha256 of the dedup key.
    const expected = all.map((f) => ({
      path: 's3' in f ? `${f.s3.bucket}/${f.s3.key}` : f.path,
      bucket: 's3' in f ? f.s3.bucket : null,
      object_key: 's3' in f ? f.s3.key : null,
      size: f.size,
      status: 'buffered',
      hash: createHash('sha256').update(dedupKey(f), 'utf8').digest('hex'),
    }));
    expect(await rowsOf(db.pool, a)).toEqual(expected);
    expect((await rowsOf(db.pool, b)).slice(0, all.length)).toEqual(expected);

    // Each path skips the other's rows: the same dedup identity. With some new files among them,
    // only those are added, and the buffer grows by their bytes alone.
    const extra: NewFile[] = [
      { s3: { bucket: 'logs', key: 'app/new-1' }, size: 1000 },
      { path: '/var/log/new-2\t', size: 2000 },
    ];
    const before = { a: await counters(db.pool, a), b: await counters(db.pool, b) };
    expect(await byInsert.recordFiles(a, [...all.slice(0, 5), extra[0], ...all.slice(5), extra[1]])).toBe(2);
    expect(await byLoad.recordFiles(b, [extra[1], ...all, extra[0]])).toBe(2);
    expect(await byLoad.recordFiles(b, all)).toBe(0);
    for (const id of [a, b]) {
      const k = id === a ? 'a' : 'b';
      expect(await counters(db.pool, id)).toEqual({
        ingested: before[k].ingested + 2,
        files: before[k].files + 2,
        bytes: before[k].bytes + 3000,
      });
    }
    expect(await rowsOf(db.pool, a)).toHaveLength(all.length + 2);

    // A batch too small for the bulk load (an SQS receive) goes by INSERT, the same rows.
    const few: NewFile[] = [{ s3: { bucket: 'logs', key: 'app/few' }, size: 3, version: '0003' }, all[0]];
    expect(await byLoad.recordFiles(a, few)).toBe(1);
    expect((await rowsOf(db.pool, a)).at(-1)).toEqual({
      path: 'logs/app/few',
      bucket: 'logs',
      object_key: 'app/few',
      size: 3,
      status: 'buffered',
      hash: createHash('sha256').update('logs/app/few\u00000003', 'utf8').digest('hex'),
    });
    expect(warnings()).toHaveLength(1);
  });
});
