/**
 * Schema migrations for the CLP DB, applied in order by migrate()
 * (src/store/schema.ts). Each is recorded once applied; each step is
 * guarded, so a migration interrupted half-way is safe to run again.
 *
 * An applied migration's text never changes: its enums are literals, and
 * test/unit/lifecycle.test.ts checks that the newest DDL of the job status and
 * kind columns is what src/lifecycle.ts and src/sources/kinds.ts list. A new
 * status or kind is a new migration.
 */
import { CompressionTaskStatus, TABLES } from '../tables';
import {
  addIndexIfMissing,
  clpObjectMetadataView,
  COMPRESSION_JOBS_DDL,
  compressionJobsToClpShape,
  unlessColumn,
  type Migration,
} from './steps';
import { DATASET_MIGRATION_STATEMENTS } from './datasets';

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
      unlessColumn(
        TABLES.ingestedFiles,
        'object_key',
        `ALTER TABLE ${TABLES.ingestedFiles}
          ADD COLUMN bucket VARCHAR(1024) NULL DEFAULT NULL AFTER path,
          ADD COLUMN object_key VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL AFTER bucket`,
      ),
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
      unlessColumn(
        TABLES.ingestionJobs,
        'buffered_files',
        `ALTER TABLE ${TABLES.ingestionJobs}
          ADD COLUMN buffered_files BIGINT NOT NULL DEFAULT 0,
          ADD COLUMN buffered_bytes BIGINT NOT NULL DEFAULT 0,
          ADD COLUMN buffered_oldest_ts BIGINT NULL DEFAULT NULL,
          ADD COLUMN outstanding_compression_jobs INT NOT NULL DEFAULT 0`,
      ),
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
      unlessColumn(
        TABLES.ingestedFiles,
        'failure_reason',
        `ALTER TABLE ${TABLES.ingestedFiles} ADD COLUMN failure_reason VARCHAR(512) NULL DEFAULT NULL`,
      ),
    ],
  },
  {
    version: 9,
    description: "the S3 scanner's order-free re-list: when the last pass began, and the pass in progress",
    statements: [
      // rescan_last_ts: when the last completed re-list pass began (ms; NULL: none yet).
      // rescan_pass_ts: when the pass in progress began (NULL: none in progress).
      // rescan_after_key: the last key that pass has recorded (NULL: it starts at the beginning).
      unlessColumn(
        TABLES.s3ScannerState,
        'rescan_last_ts',
        `ALTER TABLE ${TABLES.s3ScannerState}
          ADD COLUMN rescan_last_ts BIGINT NULL DEFAULT NULL,
          ADD COLUMN rescan_pass_ts BIGINT NULL DEFAULT NULL,
          ADD COLUMN rescan_after_key TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL`,
      ),
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
      unlessColumn(
        TABLES.ingestionJobs,
        'workflow_id',
        `ALTER TABLE ${TABLES.ingestionJobs}
          ADD COLUMN workflow_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL,
          ADD COLUMN workflow_first_run_id VARCHAR(64) NULL DEFAULT NULL,
          ADD UNIQUE INDEX workflow_run_idx (workflow_id, workflow_first_run_id)`,
      ),
      `UPDATE ${TABLES.ingestionJobs} SET workflow_id = CONCAT('clp-ingestion-job-', id) WHERE workflow_id IS NULL`,
    ],
  },
  {
    version: 11,
    description:
      "CLP's clp_datasets, and the procedure that creates a dataset's metadata tables with the grants each role needs",
    statements: DATASET_MIGRATION_STATEMENTS,
  },
  {
    version: 12,
    description: "one S3-scanner job's listing split into key ranges that several workers list at once",
    statements: [
      // split_seq counts the job's splits; split_ranges is how many ranges the current one has (0: none).
      unlessColumn(
        TABLES.s3ScannerState,
        'split_seq',
        `ALTER TABLE ${TABLES.s3ScannerState}
          ADD COLUMN split_seq INT NOT NULL DEFAULT 0,
          ADD COLUMN split_ranges INT NOT NULL DEFAULT 0`,
      ),
      // A range lists keys after start_after up to end_key (NULL: to the end of the prefix);
      // position is the last settled key it has recorded. Rows of an ended split stay until the
      // job's next split overwrites them (the worker may not delete rows).
      `CREATE TABLE IF NOT EXISTS ${TABLES.s3ScanRanges} (
        job_id BIGINT NOT NULL,
        range_idx INT NOT NULL,
        split_seq INT NOT NULL,
        start_after TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL,
        end_key TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL,
        position TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL,
        done TINYINT NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, range_idx),
        CONSTRAINT scan_range_job FOREIGN KEY (job_id) REFERENCES ${TABLES.s3ScannerState} (id)
      ) ROW_FORMAT=DYNAMIC`,
    ],
  },
];
