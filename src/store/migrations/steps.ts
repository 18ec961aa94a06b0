/**
 * The building blocks of migrations: looks at the schema before changing it
 * (portable to MySQL, which lacks ADD COLUMN IF NOT EXISTS), CLP's own
 * compression_jobs shape, and the view CLP head reads our S3 files through.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { CompressionJobStatus, TABLES } from '../tables';

export type Conn = Pick<PoolConnection, 'query'>;

export interface Migration {
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

/** A step that runs `alter` (which adds `column`, and maybe more) unless `table` has `column` already. */
export function unlessColumn(table: string, column: string, alter: string): (conn: Conn) => Promise<void> {
  return async (conn) => {
    if (await hasColumn(conn, table, column)) return;
    await conn.query(alter);
  };
}

/** Adds each column or index that is missing: brings a compression_jobs we created before to CLP's shape. */
export async function compressionJobsToClpShape(conn: Conn): Promise<void> {
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

export async function addIndexIfMissing(
  conn: Conn,
  table: string,
  index: string,
  cols: string,
): Promise<void> {
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
export async function clpObjectMetadataView(conn: Conn): Promise<void> {
  if ((await tableType(conn, TABLES.clpObjectMetadata)) === 'BASE TABLE') return;
  await conn.query(`CREATE OR REPLACE VIEW ${TABLES.clpObjectMetadata} AS
    SELECT id, bucket, object_key AS \`key\`, size, status, ingestion_job_id, compression_job_id,
      creation_ts, last_update_ts
    FROM ${TABLES.ingestedFiles} WHERE object_key IS NOT NULL`);
}
