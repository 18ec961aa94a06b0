/**
 * Schema migrations for the CLP DB, applied in order and recorded in
 * log_ingestor_schema_migrations. Safe to run from many workers at once (a
 * named lock serialises them) and any number of times (each step is guarded).
 *
 * CLP's own tables (compression_jobs, compression_tasks) are created only if
 * absent, with CLP's columns, so a real CLP deployment's tables are left alone.
 */
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { JOB_STATUSES, sqlEnum } from '../lifecycle';

/** CLP's CompressionJobStatus codes. */
export const CompressionJobStatus = {
  PENDING: 0,
  RUNNING: 1,
  SUCCEEDED: 2,
  FAILED: 3,
  KILLED: 4,
} as const;

/** CLP's CompressionTaskStatus codes. */
export const CompressionTaskStatus = { PENDING: 0, RUNNING: 1, SUCCEEDED: 2, FAILED: 3 } as const;

export const TABLES = {
  compressionJobs: 'compression_jobs',
  compressionTasks: 'compression_tasks',
  ingestionJobs: 'log_ingestor_ingestion_jobs',
  s3ScannerState: 'log_ingestor_s3_scanner_state',
  ingestedFiles: 'log_ingestor_ingested_files',
  submissions: 'log_ingestor_compression_submissions',
  migrations: 'log_ingestor_schema_migrations',
  ignoredMessages: 'log_ingestor_ignored_messages',
  executorLeases: 'compression_executor_leases',
  attempts: 'log_ingestor_compression_attempts',
  /** CLP head's name for S3 file records: a view of ingestedFiles. */
  clpObjectMetadata: 'ingested_s3_object_metadata',
} as const;

type Conn = Pick<PoolConnection, 'query'>;

interface Migration {
  version: number;
  description: string;
  /** SQL statements, or steps that look before they change (portable to MySQL, which lacks ADD COLUMN IF NOT EXISTS). */
  statements: (string | ((conn: Conn) => Promise<void>))[];
}

/**
 * CLP's compression_jobs, column for column (CLP's initialize-orchestration-db,
 * HEAD). Whoever creates it first decides its shape for good, so it must be
 * exactly CLP's: CLP's scheduler writes update_time on every status change.
 */
export const COMPRESSION_JOBS_DDL = `CREATE TABLE IF NOT EXISTS compression_jobs (
        id INT NOT NULL AUTO_INCREMENT,
        status INT NOT NULL DEFAULT ${CompressionJobStatus.PENDING},
        status_msg VARCHAR(512) NOT NULL DEFAULT '',
        creation_time DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        start_time DATETIME(3) NULL DEFAULT NULL,
        update_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP() ON UPDATE CURRENT_TIMESTAMP(),
        duration FLOAT NULL DEFAULT NULL,
        original_size BIGINT NOT NULL DEFAULT 0,
        uncompressed_size BIGINT NOT NULL DEFAULT 0,
        compressed_size BIGINT NOT NULL DEFAULT 0,
        num_tasks INT NOT NULL DEFAULT 0,
        num_tasks_completed INT NOT NULL DEFAULT 0,
        clp_binary_version INT NULL DEFAULT NULL,
        spider_id BIGINT UNSIGNED NULL DEFAULT NULL,
        dispatch_time DATETIME NULL DEFAULT NULL,
        clp_config MEDIUMBLOB NOT NULL,
        PRIMARY KEY (id) USING BTREE,
        INDEX JOB_STATUS (status) USING BTREE,
        INDEX JOB_UPDATE_TIME (update_time) USING BTREE,
        INDEX JOB_START_TIME_STATUS (start_time, status) USING BTREE,
        INDEX JOB_SPIDER_ID (spider_id) USING BTREE
      ) ROW_FORMAT=DYNAMIC`;

async function hasColumn(conn: Conn, table: string, column: string): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`,
    [table, column],
  );
  return rows.length > 0;
}

async function hasIndex(conn: Conn, table: string, index: string): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?`,
    [table, index],
  );
  return rows.length > 0;
}

/** 'BASE TABLE', 'VIEW' or null when absent. */
export async function tableType(conn: Conn, table: string): Promise<string | null> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT TABLE_TYPE AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [table],
  );
  return rows.length ? String(rows[0].t) : null;
}

/** Adds each column or index that is missing: brings a compression_jobs we created before to CLP's shape. */
async function compressionJobsToClpShape(conn: Conn): Promise<void> {
  const columns: [string, string][] = [
    [
      'update_time',
      'DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP() ON UPDATE CURRENT_TIMESTAMP() AFTER start_time',
    ],
    ['spider_id', 'BIGINT UNSIGNED NULL DEFAULT NULL AFTER clp_binary_version'],
    ['dispatch_time', 'DATETIME NULL DEFAULT NULL AFTER spider_id'],
  ];
  for (const [name, def] of columns) {
    if (!(await hasColumn(conn, TABLES.compressionJobs, name))) {
      await conn.query(`ALTER TABLE ${TABLES.compressionJobs} ADD COLUMN ${name} ${def}`);
    }
  }
  const indexes: [string, string][] = [
    ['JOB_UPDATE_TIME', '(update_time)'],
    ['JOB_START_TIME_STATUS', '(start_time, status)'],
    ['JOB_SPIDER_ID', '(spider_id)'],
  ];
  for (const [name, cols] of indexes) await addIndexIfMissing(conn, TABLES.compressionJobs, name, cols);
}

async function addIndexIfMissing(conn: Conn, table: string, index: string, cols: string): Promise<void> {
  if (!(await hasIndex(conn, table, index)))
    await conn.query(`CREATE INDEX ${index} USING BTREE ON ${table} ${cols}`);
}

/**
 * CLP head's scheduler reads the files of an s3_object_metadata job from
 * ingested_s3_object_metadata (id, key, size by id and ingestion job). Our
 * record is log_ingestor_ingested_files; this view serves it under CLP's name.
 * A base table of that name belongs to CLP's own log-ingestor: left alone
 * (and s3_object_metadata submissions are then refused at start-up).
 */
async function clpObjectMetadataView(conn: Conn): Promise<void> {
  if ((await tableType(conn, TABLES.clpObjectMetadata)) === 'BASE TABLE') return;
  await conn.query(`CREATE OR REPLACE VIEW ${TABLES.clpObjectMetadata} AS
    SELECT id, bucket, object_key AS \`key\`, size, status, ingestion_job_id, compression_job_id,
      creation_ts, last_update_ts
    FROM ${TABLES.ingestedFiles} WHERE object_key IS NOT NULL`);
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: "CLP's compression tables",
    statements: [
      COMPRESSION_JOBS_DDL,
      `CREATE TABLE IF NOT EXISTS compression_tasks (
        id BIGINT NOT NULL AUTO_INCREMENT,
        status INT NOT NULL DEFAULT ${CompressionTaskStatus.PENDING},
        creation_time DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        start_time DATETIME(3) NULL DEFAULT NULL,
        duration FLOAT NULL DEFAULT NULL,
        job_id INT NOT NULL,
        clp_paths_to_compress MEDIUMBLOB NOT NULL,
        partition_original_size BIGINT NOT NULL,
        partition_uncompressed_size BIGINT NULL DEFAULT NULL,
        partition_compressed_size BIGINT NULL DEFAULT NULL,
        PRIMARY KEY (id) USING BTREE,
        INDEX job_id (job_id) USING BTREE,
        INDEX TASK_STATUS (status) USING BTREE,
        INDEX TASK_START_TIME (start_time) USING BTREE,
        CONSTRAINT compression_tasks FOREIGN KEY (job_id) REFERENCES compression_jobs (id)
      ) ROW_FORMAT=DYNAMIC`,
    ],
  },
  {
    version: 2,
    description: "the log-ingestor's job, scanner-state and ingested-file tables",
    statements: [
      `CREATE TABLE IF NOT EXISTS ${TABLES.ingestionJobs} (
        id BIGINT NOT NULL AUTO_INCREMENT,
        kind ENUM('s3_scanner', 'sqs_listener', 'fs') NOT NULL,
        config TEXT NOT NULL,
        status ${sqlEnum(JOB_STATUSES)} NOT NULL DEFAULT 'requested',
        num_files_ingested BIGINT NOT NULL DEFAULT 0,
        num_files_compressed BIGINT NOT NULL DEFAULT 0,
        num_files_failed BIGINT NOT NULL DEFAULT 0,
        num_messages_ignored BIGINT NOT NULL DEFAULT 0,
        error_msg BLOB NULL DEFAULT NULL,
        dataset VARCHAR(255) NOT NULL,
        bucket_name VARCHAR(255) NOT NULL DEFAULT '',
        creation_ts BIGINT NOT NULL,
        last_update_ts BIGINT NOT NULL,
        PRIMARY KEY (id),
        INDEX status_idx (status),
        INDEX dataset_idx (dataset, status)
      ) ROW_FORMAT=DYNAMIC`,
      `CREATE TABLE IF NOT EXISTS ${TABLES.s3ScannerState} (
        id BIGINT NOT NULL,
        last_ingested_key TEXT NULL DEFAULT NULL,
        PRIMARY KEY (id),
        CONSTRAINT s3_scanner_state_job FOREIGN KEY (id) REFERENCES ${TABLES.ingestionJobs} (id)
      ) ROW_FORMAT=DYNAMIC`,
      `CREATE TABLE IF NOT EXISTS ${TABLES.ingestedFiles} (
        id BIGINT NOT NULL AUTO_INCREMENT,
        path TEXT NOT NULL,
        size BIGINT NOT NULL DEFAULT 0,
        status ENUM('buffered', 'submitted', 'compressed', 'failed') NOT NULL DEFAULT 'buffered',
        ingestion_job_id BIGINT NOT NULL,
        compression_job_id INT NULL DEFAULT NULL,
        dedup_hash BINARY(32) NOT NULL COMMENT 'sha256 of what makes this file distinct within its job',
        creation_ts BIGINT NOT NULL,
        last_update_ts BIGINT NOT NULL,
        PRIMARY KEY (id),
        UNIQUE INDEX job_dedup (ingestion_job_id, dedup_hash),
        INDEX job_status (ingestion_job_id, status, id),
        INDEX compression_job (compression_job_id, status),
        CONSTRAINT ingested_file_job FOREIGN KEY (ingestion_job_id) REFERENCES ${TABLES.ingestionJobs} (id),
        CONSTRAINT ingested_file_compression_job FOREIGN KEY (compression_job_id) REFERENCES compression_jobs (id)
      ) ROW_FORMAT=DYNAMIC`,
      // One row per flush: the idempotency record that makes a retried flush
      // return the compression job it already created instead of a second one.
      `CREATE TABLE IF NOT EXISTS ${TABLES.submissions} (
        ingestion_job_id BIGINT NOT NULL,
        flush_seq BIGINT NOT NULL,
        compression_job_id INT NULL DEFAULT NULL,
        num_files INT NOT NULL,
        creation_ts BIGINT NOT NULL,
        PRIMARY KEY (ingestion_job_id, flush_seq),
        CONSTRAINT submission_job FOREIGN KEY (ingestion_job_id) REFERENCES ${TABLES.ingestionJobs} (id)
      ) ROW_FORMAT=DYNAMIC`,
    ],
  },
  {
    version: 3,
    description: "the compression executor's job leases",
    statements: [
      // One row per job an executor (src/executor) has claimed. A RUNNING job
      // whose lease has expired belonged to an executor that died: another may
      // take it over. claim_token names one claim, so an executor that lost its
      // lease (and was replaced) can tell, even if it is the same process.
      // lease_expires_ts is in the DB's clock (ms), so executors' clocks never matter.
      `CREATE TABLE IF NOT EXISTS ${TABLES.executorLeases} (
        job_id INT NOT NULL,
        executor_id VARCHAR(255) NOT NULL,
        claim_token CHAR(36) NOT NULL,
        lease_expires_ts BIGINT NOT NULL,
        num_claims INT NOT NULL DEFAULT 1,
        PRIMARY KEY (job_id),
        INDEX lease_expiry (lease_expires_ts),
        CONSTRAINT executor_lease_job FOREIGN KEY (job_id) REFERENCES compression_jobs (id)
      ) ROW_FORMAT=DYNAMIC`,
    ],
  },
  {
    version: 4,
    description: 'SQS messages an SQS-listener job ignored (not S3 notifications, malformed, test events)',
    statements: [
      // Keyed by the SQS message id, which survives redelivery: a message that
      // comes back after a crash is counted once.
      `CREATE TABLE IF NOT EXISTS ${TABLES.ignoredMessages} (
        ingestion_job_id BIGINT NOT NULL,
        message_id VARCHAR(128) NOT NULL,
        reason VARCHAR(255) NOT NULL,
        body_sample VARBINARY(512) NOT NULL,
        creation_ts BIGINT NOT NULL,
        PRIMARY KEY (ingestion_job_id, message_id),
        CONSTRAINT ignored_message_job FOREIGN KEY (ingestion_job_id) REFERENCES ${TABLES.ingestionJobs} (id)
      ) ROW_FORMAT=DYNAMIC`,
    ],
  },
  {
    version: 5,
    description: 'outstanding compression jobs tracked on the submission record',
    statements: [
      // Which compression jobs still await their outcome, without scanning the
      // job's submitted files (a count that grew with the backlog per activity).
      `ALTER TABLE ${TABLES.submissions} ADD COLUMN finalized TINYINT NOT NULL DEFAULT 0`,
      `CREATE INDEX outstanding ON ${TABLES.submissions} (ingestion_job_id, finalized)`,
      `UPDATE ${TABLES.submissions} s SET finalized = 1
       WHERE s.compression_job_id IS NULL OR NOT EXISTS (SELECT 1 FROM ${TABLES.ingestedFiles} f
         WHERE f.compression_job_id = s.compression_job_id AND f.status = 'submitted')`,
    ],
  },
  {
    version: 6,
    description:
      "CLP's exact compression_jobs; S3 files with bucket and key columns served as ingested_s3_object_metadata; compression attempts; byte-order collation on keys only",
    statements: [
      compressionJobsToClpShape,
      // Keys and paths compare and sort byte for byte, whatever the server's default collation.
      `ALTER TABLE ${TABLES.ingestedFiles} MODIFY path TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`,
      `ALTER TABLE ${TABLES.s3ScannerState}
         MODIFY last_ingested_key TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL`,
      async (conn) => {
        if (await hasColumn(conn, TABLES.ingestedFiles, 'object_key')) return;
        await conn.query(`ALTER TABLE ${TABLES.ingestedFiles}
          ADD COLUMN bucket VARCHAR(1024) NULL DEFAULT NULL AFTER path,
          ADD COLUMN object_key VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL AFTER bucket`);
      },
      // S3 rows recorded before this migration: path is bucket/key.
      `UPDATE ${TABLES.ingestedFiles} f JOIN ${TABLES.ingestionJobs} j ON j.id = f.ingestion_job_id
       SET f.bucket = SUBSTRING_INDEX(f.path, '/', 1), f.object_key = SUBSTRING(f.path, LOCATE('/', f.path) + 1)
       WHERE j.kind <> 'fs' AND f.object_key IS NULL`,
      clpObjectMetadataView,
      // Every compression job a flush's files went through, in order: a KILLED
      // job (CLP's cluster failed, not the data) is followed by a resubmission.
      `CREATE TABLE IF NOT EXISTS ${TABLES.attempts} (
        ingestion_job_id BIGINT NOT NULL,
        flush_seq BIGINT NOT NULL,
        attempt INT NOT NULL,
        compression_job_id INT NOT NULL,
        creation_ts BIGINT NOT NULL,
        PRIMARY KEY (ingestion_job_id, flush_seq, attempt),
        UNIQUE INDEX attempt_compression_job (compression_job_id),
        CONSTRAINT attempt_submission FOREIGN KEY (ingestion_job_id, flush_seq)
          REFERENCES ${TABLES.submissions} (ingestion_job_id, flush_seq),
        CONSTRAINT attempt_compression_job FOREIGN KEY (compression_job_id) REFERENCES compression_jobs (id)
      ) ROW_FORMAT=DYNAMIC`,
      `INSERT IGNORE INTO ${TABLES.attempts} (ingestion_job_id, flush_seq, attempt, compression_job_id, creation_ts)
       SELECT ingestion_job_id, flush_seq, 1, compression_job_id, creation_ts FROM ${TABLES.submissions}
       WHERE compression_job_id IS NOT NULL`,
      (conn) =>
        addIndexIfMissing(conn, TABLES.submissions, 'submission_compression_job', '(compression_job_id)'),
    ],
  },
  {
    version: 7,
    description: "the buffer's and the outstanding compression jobs' counters on the job row",
    statements: [
      // Kept by the transactions that change the rows, so reading a job's buffer
      // is one row, whatever the job holds (it was an aggregate per activity).
      async (conn) => {
        if (await hasColumn(conn, TABLES.ingestionJobs, 'buffered_files')) return;
        await conn.query(`ALTER TABLE ${TABLES.ingestionJobs}
          ADD COLUMN buffered_files BIGINT NOT NULL DEFAULT 0,
          ADD COLUMN buffered_bytes BIGINT NOT NULL DEFAULT 0,
          ADD COLUMN buffered_oldest_ts BIGINT NULL DEFAULT NULL,
          ADD COLUMN outstanding_compression_jobs INT NOT NULL DEFAULT 0`);
      },
      `UPDATE ${TABLES.ingestionJobs} j SET
         buffered_files = (SELECT COUNT(*) FROM ${TABLES.ingestedFiles} f
           WHERE f.ingestion_job_id = j.id AND f.status = 'buffered'),
         buffered_bytes = (SELECT COALESCE(SUM(size), 0) FROM ${TABLES.ingestedFiles} f
           WHERE f.ingestion_job_id = j.id AND f.status = 'buffered'),
         buffered_oldest_ts = (SELECT MIN(creation_ts) FROM ${TABLES.ingestedFiles} f
           WHERE f.ingestion_job_id = j.id AND f.status = 'buffered'),
         outstanding_compression_jobs = (SELECT COUNT(*) FROM ${TABLES.submissions} s
           WHERE s.ingestion_job_id = j.id AND s.finalized = 0)`,
    ],
  },
  {
    version: 8,
    description:
      'one-time jobs: the s3_object_list kind, and why a file failed (an object that does not exist)',
    statements: [
      `ALTER TABLE ${TABLES.ingestionJobs}
         MODIFY kind ENUM('s3_scanner', 'sqs_listener', 'fs', 's3_object_list') NOT NULL`,
      // An object list's config holds up to 10,000 URLs: more than TEXT's 64 KiB.
      `ALTER TABLE ${TABLES.ingestionJobs} MODIFY config MEDIUMTEXT NOT NULL`,
      // Set for files recorded as failed without a compression job (a listed object that does not exist).
      async (conn) => {
        if (await hasColumn(conn, TABLES.ingestedFiles, 'failure_reason')) return;
        await conn.query(
          `ALTER TABLE ${TABLES.ingestedFiles} ADD COLUMN failure_reason VARCHAR(512) NULL DEFAULT NULL`,
        );
      },
    ],
  },
  {
    version: 9,
    description: "the S3 scanner's order-free re-list: when the last pass began, and the pass in progress",
    statements: [
      // rescan_last_ts: when the last completed re-list pass began (ms; NULL: none yet).
      // rescan_pass_ts: when the pass in progress began (NULL: none in progress).
      // rescan_after_key: the last key that pass has recorded (NULL: it starts at the beginning).
      async (conn) => {
        if (await hasColumn(conn, TABLES.s3ScannerState, 'rescan_last_ts')) return;
        await conn.query(`ALTER TABLE ${TABLES.s3ScannerState}
          ADD COLUMN rescan_last_ts BIGINT NULL DEFAULT NULL,
          ADD COLUMN rescan_pass_ts BIGINT NULL DEFAULT NULL,
          ADD COLUMN rescan_after_key TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL`);
      },
    ],
  },
  {
    version: 10,
    description:
      "each job's Temporal workflow: its id, and the run that created the job when the workflow did",
    statements: [
      // workflow_id: the id of the job's workflow (jobs created before this: clp-ingestion-job-<id>).
      // workflow_first_run_id: set when the workflow created the job (a start from any Temporal
      // client); with the id, it makes that creation happen once however often it is retried.
      async (conn) => {
        if (await hasColumn(conn, TABLES.ingestionJobs, 'workflow_id')) return;
        await conn.query(`ALTER TABLE ${TABLES.ingestionJobs}
          ADD COLUMN workflow_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL,
          ADD COLUMN workflow_first_run_id VARCHAR(64) NULL DEFAULT NULL,
          ADD UNIQUE INDEX workflow_run_idx (workflow_id, workflow_first_run_id)`);
      },
      `UPDATE ${TABLES.ingestionJobs} SET workflow_id = CONCAT('clp-ingestion-job-', id) WHERE workflow_id IS NULL`,
    ],
  },
];

/**
 * s3_object_metadata jobs make CLP read our file ids from
 * ingested_s3_object_metadata: that must be our view. A table of that name
 * is CLP's own log-ingestor's, whose ids are not ours; refuse to run then.
 */
export async function checkClpObjectMetadata(pool: Pool, s3InputType: string): Promise<void> {
  if (s3InputType !== 's3_object_metadata') return;
  const type = await tableType(pool, TABLES.clpObjectMetadata);
  if (type !== 'VIEW') {
    throw new Error(
      `CLP_S3_INPUT_TYPE: s3_object_metadata needs ${TABLES.clpObjectMetadata} to be this ingestor's view, but it is ${type ?? 'missing'} (CLP's own log-ingestor's table?); run only one ingestor per CLP DB, or set CLP_S3_INPUT_TYPE=s3`,
    );
  }
}

const LOCK_NAME = 'clp_ingestor_migrations';

const ACCESS_DENIED = new Set([
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
]);

/** The migrations this build has that the database has not recorded (all of them on an empty database). */
export async function pendingMigrations(pool: Pool): Promise<number[]> {
  let done = new Set<number>();
  try {
    const [rows] = await pool.query<RowDataPacket[]>(`SELECT version FROM ${TABLES.migrations}`);
    done = new Set(rows.map((r) => Number(r.version)));
  } catch (err) {
    if ((err as { code?: string }).code !== 'ER_NO_SUCH_TABLE') throw err;
  }
  return MIGRATIONS.map((m) => m.version).filter((v) => !done.has(v));
}

/**
 * For a process that need not own the schema (worker, executor): nothing to
 * do when the schema is current; else it migrates, which only a user with DDL
 * grants may (CLP_DB_USER, the schema owner), and a least-privilege user is
 * told who must.
 */
export async function ensureSchema(pool: Pool, user: string): Promise<number[]> {
  let pending: number[];
  try {
    pending = await pendingMigrations(pool);
    if (!pending.length) return [];
    return await migrate(pool);
  } catch (err) {
    if (!ACCESS_DENIED.has((err as { code?: string }).code ?? '')) throw err;
    throw new Error(
      `the CLP DB schema is not up to date and DB user ${user} may not migrate it (${(err as Error).message}); run \`clp-ingestor migrate\` as the schema owner (CLP_DB_USER) first`,
    );
  }
}

/** Applies every migration not yet recorded; returns the versions it applied. */
export async function migrate(pool: Pool): Promise<number[]> {
  const conn = await pool.getConnection();
  try {
    const [[lock]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS got', [LOCK_NAME]);
    if (lock.got !== 1) throw new Error('migrate: timed out waiting for the migration lock');
    try {
      await conn.query(`CREATE TABLE IF NOT EXISTS ${TABLES.migrations} (
        version INT NOT NULL PRIMARY KEY,
        description VARCHAR(255) NOT NULL,
        applied_ts BIGINT NOT NULL
      )`);
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT version FROM ${TABLES.migrations}`);
      const done = new Set(rows.map((r) => Number(r.version)));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const step of m.statements) {
          if (typeof step === 'string') await conn.query(step);
          else await step(conn);
        }
        await conn.query(
          `INSERT INTO ${TABLES.migrations} (version, description, applied_ts) VALUES (?, ?, ?)`,
          [m.version, m.description, Date.now()],
        );
        applied.push(m.version);
      }
      return applied;
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    conn.release();
  }
}
