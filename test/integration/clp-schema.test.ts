/**
 * CLP's tables exactly, in either creation order, and CLP head's view of our
 * S3 file records, on the real MariaDB. CLP's DDL here is written from
 * ../shared/docs/clp-contract.md (CLP's initialize-orchestration-db), not
 * from our migrations, so a drift in ours fails these tests.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { decodeClpConfig, encodeClpConfig } from '../../src/clp/clp-config';
import { buildClpConfig } from '../../src/activities/compression';
import { parseJobConfig } from '../../src/config/job-config';
import { IngestionStore } from '../../src/store/ingestion-store';
import { migrate, TABLES } from '../../src/store/schema';
import { createEmptyTestDb, createTestDb, type TestDb } from '../support/stack';
import type { Db } from '../../src/store/db';

const CLP_COMPRESSION_JOBS = `CREATE TABLE IF NOT EXISTS \`compression_jobs\` (
  \`id\` INT NOT NULL AUTO_INCREMENT,
  \`status\` INT NOT NULL DEFAULT '0',
  \`status_msg\` VARCHAR(512) NOT NULL DEFAULT '',
  \`creation_time\` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  \`start_time\` DATETIME(3) NULL DEFAULT NULL,
  \`update_time\` DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP() ON UPDATE CURRENT_TIMESTAMP(),
  \`duration\` FLOAT NULL DEFAULT NULL,
  \`original_size\` BIGINT NOT NULL DEFAULT '0',
  \`uncompressed_size\` BIGINT NOT NULL DEFAULT '0',
  \`compressed_size\` BIGINT NOT NULL DEFAULT '0',
  \`num_tasks\` INT NOT NULL DEFAULT '0',
  \`num_tasks_completed\` INT NOT NULL DEFAULT '0',
  \`clp_binary_version\` INT NULL DEFAULT NULL,
  \`spider_id\` BIGINT UNSIGNED NULL DEFAULT NULL,
  \`dispatch_time\` DATETIME NULL DEFAULT NULL,
  \`clp_config\` MEDIUMBLOB NOT NULL,
  PRIMARY KEY (\`id\`) USING BTREE,
  INDEX \`JOB_STATUS\` (\`status\`) USING BTREE,
  INDEX \`JOB_UPDATE_TIME\` (\`update_time\`) USING BTREE,
  INDEX \`JOB_START_TIME_STATUS\` (\`start_time\`, \`status\`) USING BTREE,
  INDEX \`JOB_SPIDER_ID\` (\`spider_id\`) USING BTREE
) ROW_FORMAT=DYNAMIC`;

const CLP_COMPRESSION_TASKS = `CREATE TABLE IF NOT EXISTS \`compression_tasks\` (
  \`id\` BIGINT NOT NULL AUTO_INCREMENT,
  \`status\` INT NOT NULL DEFAULT '0',
  \`creation_time\` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  \`start_time\` DATETIME(3) NULL DEFAULT NULL,
  \`duration\` FLOAT NULL DEFAULT NULL,
  \`job_id\` INT NOT NULL,
  \`clp_paths_to_compress\` MEDIUMBLOB NOT NULL,
  \`partition_original_size\` BIGINT NOT NULL,
  \`partition_uncompressed_size\` BIGINT NULL DEFAULT NULL,
  \`partition_compressed_size\` BIGINT NULL DEFAULT NULL,
  PRIMARY KEY (\`id\`) USING BTREE,
  INDEX \`job_id\` (\`job_id\`) USING BTREE,
  INDEX \`TASK_STATUS\` (\`status\`) USING BTREE,
  INDEX \`TASK_START_TIME\` (\`start_time\`) USING BTREE,
  CONSTRAINT \`compression_tasks\` FOREIGN KEY (\`job_id\`) REFERENCES \`compression_jobs\` (\`id\`)
    ON UPDATE NO ACTION ON DELETE NO ACTION
) ROW_FORMAT=DYNAMIC`;

/** What this ingestor's migration 1 created before it had CLP's newer columns. */
const OUR_OLD_COMPRESSION_JOBS = `CREATE TABLE compression_jobs (
  id INT NOT NULL AUTO_INCREMENT, status INT NOT NULL DEFAULT 0, status_msg VARCHAR(512) NOT NULL DEFAULT '',
  creation_time DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), start_time DATETIME(3) NULL DEFAULT NULL,
  duration FLOAT NULL DEFAULT NULL, original_size BIGINT NOT NULL DEFAULT 0,
  uncompressed_size BIGINT NOT NULL DEFAULT 0, compressed_size BIGINT NOT NULL DEFAULT 0,
  num_tasks INT NOT NULL DEFAULT 0, num_tasks_completed INT NOT NULL DEFAULT 0,
  clp_binary_version INT NULL DEFAULT NULL, clp_config MEDIUMBLOB NOT NULL,
  PRIMARY KEY (id) USING BTREE, INDEX JOB_STATUS (status) USING BTREE
) ROW_FORMAT=DYNAMIC`;

/** A table's shape as information_schema tells it: columns in order, then indexes. */
async function shape(pool: Db, table: string): Promise<unknown> {
  const [columns] = await pool.query<RowDataPacket[]>(
    `SELECT ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [table],
  );
  const [indexes] = await pool.query<RowDataPacket[]>(
    `SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, INDEX_TYPE
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
     ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
    [table],
  );
  return { columns, indexes };
}

const dbs: TestDb[] = [];
async function emptyDb(): Promise<Db> {
  const db = await createEmptyTestDb();
  dbs.push(db);
  return db.pool;
}
afterAll(async () => {
  for (const db of dbs) await db.drop();
});

let clpShape: { jobs: unknown; tasks: unknown };
beforeAll(async () => {
  const clp = await emptyDb();
  await clp.query(CLP_COMPRESSION_JOBS);
  await clp.query(CLP_COMPRESSION_TASKS);
  clpShape = { jobs: await shape(clp, 'compression_jobs'), tasks: await shape(clp, 'compression_tasks') };
});

test('our migrations alone create compression_jobs and compression_tasks exactly as CLP does', async () => {
  const ours = await emptyDb();
  await migrate(ours);
  expect(await shape(ours, 'compression_jobs')).toEqual(clpShape.jobs);
  expect(await shape(ours, 'compression_tasks')).toEqual(clpShape.tasks);
});

test('CLP’s DDL first, then our migrations: CLP’s tables are kept and ours are added', async () => {
  const pool = await emptyDb();
  await pool.query(CLP_COMPRESSION_JOBS);
  await pool.query(CLP_COMPRESSION_TASKS);
  await pool.query('INSERT INTO compression_jobs (clp_config) VALUES (?)', [Buffer.from('clp')]);
  expect((await migrate(pool)).length).toBeGreaterThan(0);
  expect(await shape(pool, 'compression_jobs')).toEqual(clpShape.jobs);
  const [[row]] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM compression_jobs');
  expect(Number(row.n)).toBe(1);
  expect(await migrate(pool)).toEqual([]);
});

test('ours first, then CLP’s statements: its DDL is a no-op and its scheduler’s writes work', async () => {
  const pool = await emptyDb();
  await migrate(pool);
  await pool.query(CLP_COMPRESSION_JOBS);
  await pool.query(CLP_COMPRESSION_TASKS);
  // What CLP's scheduler does: kill what was RUNNING at start-up, take PENDING jobs, record tasks.
  const [ins] = await pool.query<any>('INSERT INTO compression_jobs (clp_config) VALUES (?)', [
    Buffer.from('x'),
  ]);
  await pool.query(
    'UPDATE compression_jobs SET status = 4, update_time = CURRENT_TIMESTAMP() WHERE status = 1',
  );
  const [pending] = await pool.query<RowDataPacket[]>(
    'SELECT id, clp_config, creation_time FROM compression_jobs WHERE status = 0',
  );
  expect(pending.map((r) => r.id)).toEqual([ins.insertId]);
  await pool.query(
    `UPDATE compression_jobs SET status = 1, start_time = CURRENT_TIMESTAMP(), num_tasks = 1,
       update_time = CURRENT_TIMESTAMP(), dispatch_time = CURRENT_TIMESTAMP() WHERE id = ?`,
    [ins.insertId],
  );
  await pool.query(
    'INSERT INTO compression_tasks (job_id, clp_paths_to_compress, partition_original_size) VALUES (?, ?, ?)',
    [ins.insertId, Buffer.from('p'), 1],
  );
  const [[job]] = await pool.query<RowDataPacket[]>(
    'SELECT status, update_time, dispatch_time FROM compression_jobs WHERE id = ?',
    [ins.insertId],
  );
  expect(job.status).toBe(1);
  expect(job.update_time).toBeInstanceOf(Date);
  expect(job.dispatch_time).toBeInstanceOf(Date);
});

test('a compression_jobs table we created in the old shape is brought to CLP’s without losing rows', async () => {
  const pool = await emptyDb();
  await pool.query(OUR_OLD_COMPRESSION_JOBS);
  await pool.query(
    'INSERT INTO compression_jobs (status, status_msg, clp_config) VALUES (2, ?, ?), (3, ?, ?)',
    ['', Buffer.from('a'), 'boom', Buffer.from('b')],
  );
  await migrate(pool);
  expect(await shape(pool, 'compression_jobs')).toEqual(clpShape.jobs);
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT status, status_msg, clp_config, update_time FROM compression_jobs ORDER BY id',
  );
  expect(rows.map((r) => [r.status, r.status_msg, Buffer.from(r.clp_config).toString()])).toEqual([
    [2, '', 'a'],
    [3, 'boom', 'b'],
  ]);
  expect(rows.every((r) => r.update_time instanceof Date)).toBe(true);
});

test('no binary collation server- or database-wide; keys, paths and the cursor declare byte order themselves', async () => {
  const pool = await emptyDb();
  await migrate(pool);
  const [[server]] = await pool.query<RowDataPacket[]>(
    `SELECT @@collation_server AS server, DEFAULT_COLLATION_NAME AS db
     FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()`,
  );
  expect(server.server).not.toMatch(/_bin$/);
  expect(server.db).not.toMatch(/_bin$/);
  const [columns] = await pool.query<RowDataPacket[]>(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLLATION_NAME AS coll FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL`,
  );
  const collation = (t: string, c: string) => columns.find((r) => r.t === t && r.c === c)?.coll;
  expect(collation(TABLES.ingestedFiles, 'path')).toBe('utf8mb4_bin');
  expect(collation(TABLES.ingestedFiles, 'object_key')).toBe('utf8mb4_bin');
  expect(collation(TABLES.s3ScannerState, 'last_ingested_key')).toBe('utf8mb4_bin');
  // ENUM columns, which CLP's Rust (sqlx) components cannot read under a binary collation.
  expect(collation(TABLES.ingestionJobs, 'status')).not.toMatch(/_bin$/);
  expect(collation(TABLES.ingestedFiles, 'status')).not.toMatch(/_bin$/);
});

describe('ingested_s3_object_metadata, CLP head’s name for our S3 file records', () => {
  let db: TestDb;
  let store: IngestionStore;
  beforeAll(async () => {
    db = await createTestDb();
    store = new IngestionStore(db.pool);
  });
  afterAll(() => db.drop());

  test('CLP’s query returns exactly the submitted files; a key uploaded twice is named once', async () => {
    const job = parseJobConfig('sqs_listener', {
      bucket_name: 'logs',
      key_prefix: 'app/',
      queue_url: 'http://127.0.0.1:9324/queue/q',
    });
    const jobId = await store.createJob(job);
    const file = (key: string, size: number, version: string) => ({
      s3: { bucket: 'logs', key },
      size,
      version,
    });
    // Two uploads of app/b.log (two sequencers): two records, one file for CLP.
    await store.recordFiles(jobId, [
      file('app/a.log', 10, '1'),
      file('app/b.log', 20, '1'),
      file('app/b.log', 25, '2'),
    ]);
    const other = await store.createJob(
      parseJobConfig('s3_scanner', { bucket_name: 'other', key_prefix: 'x/' }),
    );
    await store.recordFiles(other, [file('x/c.log', 5, '1')]);

    const settings = { ...db.settings };
    const sub = await store.submitBuffered(jobId, 1, 100, async (files) =>
      encodeClpConfig(buildClpConfig(jobId, job, files, settings), settings.clp.compat.codec),
    );
    expect(sub.numFiles).toBe(3);
    const [[cj]] = await db.pool.query<RowDataPacket[]>(
      'SELECT clp_config, original_size FROM compression_jobs WHERE id = ?',
      [sub.compressionJobId],
    );
    const { input } = (await decodeClpConfig(cj.clp_config)) as { input: any };
    expect(input.type).toBe('s3_object_metadata');
    expect(input.ingestion_job_id).toBe(jobId);
    expect(new Set(input.s3_object_metadata_ids).size).toBe(2);
    expect(Number(cj.original_size)).toBe(10 + 25);

    // CLP head's scheduler, verbatim.
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT id, `key`, size FROM ingested_s3_object_metadata WHERE id IN (?) AND ingestion_job_id = ?',
      [input.s3_object_metadata_ids, jobId],
    );
    expect(rows.map((r) => [r.key, Number(r.size)]).sort()).toEqual([
      ['app/a.log', 10],
      ['app/b.log', 25],
    ]);
    // Another job's ids never come back under this job's id.
    const [mixed] = await db.pool.query<RowDataPacket[]>(
      'SELECT id FROM ingested_s3_object_metadata WHERE ingestion_job_id = ?',
      [other],
    );
    expect(mixed).toHaveLength(1);
    // Every record, both uploads of b included, carries the compression job's id.
    const files = await store.listFiles(jobId);
    expect(files.map((f) => [f.status, f.compressionJobId])).toEqual(
      Array(3).fill(['submitted', sub.compressionJobId]),
    );
  });
});
