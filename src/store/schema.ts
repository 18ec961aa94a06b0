/**
 * Schema migrations for the CLP DB, applied in order and recorded in
 * log_ingestor_schema_migrations. Safe to run from many workers at once (a
 * named lock serialises them) and any number of times (each step is guarded).
 *
 * CLP's own tables (compression_jobs, compression_tasks) are created only if
 * absent, with CLP's columns, so a real CLP deployment's tables are left alone.
 */
import type { Pool, RowDataPacket } from 'mysql2/promise';

/** CLP's CompressionJobStatus codes. */
export const CompressionJobStatus = {
  PENDING: 0,
  RUNNING: 1,
  SUCCEEDED: 2,
  FAILED: 3,
  KILLED: 4,
} as const;
export type CompressionJobStatusCode = (typeof CompressionJobStatus)[keyof typeof CompressionJobStatus];

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
} as const;

interface Migration {
  version: number;
  description: string;
  statements: string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: "CLP's compression tables",
    statements: [
      `CREATE TABLE IF NOT EXISTS compression_jobs (
        id INT NOT NULL AUTO_INCREMENT,
        status INT NOT NULL DEFAULT ${CompressionJobStatus.PENDING},
        status_msg VARCHAR(512) NOT NULL DEFAULT '',
        creation_time DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        start_time DATETIME(3) NULL DEFAULT NULL,
        duration FLOAT NULL DEFAULT NULL,
        original_size BIGINT NOT NULL DEFAULT 0,
        uncompressed_size BIGINT NOT NULL DEFAULT 0,
        compressed_size BIGINT NOT NULL DEFAULT 0,
        num_tasks INT NOT NULL DEFAULT 0,
        num_tasks_completed INT NOT NULL DEFAULT 0,
        clp_binary_version INT NULL DEFAULT NULL,
        clp_config MEDIUMBLOB NOT NULL,
        PRIMARY KEY (id) USING BTREE,
        INDEX JOB_STATUS (status) USING BTREE
      ) ROW_FORMAT=DYNAMIC`,
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
        status ENUM('requested', 'running', 'paused', 'failed', 'finished') NOT NULL DEFAULT 'requested',
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
];

const LOCK_NAME = 'clp_ingestor_migrations';

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
        for (const sql of m.statements) await conn.query(sql);
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
