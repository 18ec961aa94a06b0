/**
 * CLP's metadata tables for clp-s archives, created exactly as CLP's package
 * creates them (clp_py_utils.clp_metadata_db_utils) when a dataset is first
 * used: `clp_datasets`, and per dataset `clp_<dataset>_archives`,
 * `clp_<dataset>_files` and `clp_<dataset>_column_metadata`.
 */
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';

/** CLP's CLP_METADATA_TABLE_PREFIX. */
export const TABLE_PREFIX = 'clp_';
export const DATASETS_TABLE = `${TABLE_PREFIX}datasets`;
/** The schema owner's procedure that adds a dataset (src/store/migrations/datasets.ts). */
export const ADD_DATASET_PROCEDURE = 'log_ingestor_add_dataset';

/**
 * CLP's rule for dataset names (table names carry them; its package's
 * validate_dataset_name): letters, digits and underscores (ASCII here, where
 * Python's \w would also take other scripts' letters)...
 */
export const DATASET_NAME = /^[A-Za-z0-9_]+$/;
/**
 * ... and no longer than keeps its longest table name, clp_<dataset>_column_metadata,
 * within MySQL's 64 characters: 44.
 */
export const MAX_DATASET_LENGTH = 64 - TABLE_PREFIX.length - 1 - 'column_metadata'.length;

export function checkDatasetName(dataset: string): void {
  if (!DATASET_NAME.test(dataset) || dataset.length > MAX_DATASET_LENGTH) {
    throw new Error(
      `dataset "${dataset}" is not a valid CLP dataset name (letters, digits and _, at most ${MAX_DATASET_LENGTH} characters)`,
    );
  }
}

export function datasetTables(dataset: string): { archives: string; files: string; columnMetadata: string } {
  checkDatasetName(dataset);
  return {
    archives: `${TABLE_PREFIX}${dataset}_archives`,
    files: `${TABLE_PREFIX}${dataset}_files`,
    columnMetadata: `${TABLE_PREFIX}${dataset}_column_metadata`,
  };
}

export const DATASETS_DDL = `CREATE TABLE IF NOT EXISTS \`${DATASETS_TABLE}\` (
  \`name\` VARCHAR(255) NOT NULL,
  \`archive_storage_directory\` VARCHAR(4096) NOT NULL,
  PRIMARY KEY (\`name\`)
)`;

export function datasetDdl(dataset: string): string[] {
  const t = datasetTables(dataset);
  return [
    `CREATE TABLE IF NOT EXISTS \`${t.columnMetadata}\` (
  \`name\` VARCHAR(512) NOT NULL,
  \`type\` TINYINT NOT NULL,
  PRIMARY KEY (\`name\`, \`type\`)
)`,
    `CREATE TABLE IF NOT EXISTS \`${t.archives}\` (
  \`pagination_id\` BIGINT unsigned NOT NULL AUTO_INCREMENT,
  \`id\` VARCHAR(64) NOT NULL,
  \`begin_timestamp\` BIGINT NOT NULL,
  \`end_timestamp\` BIGINT NOT NULL,
  \`uncompressed_size\` BIGINT NOT NULL,
  \`size\` BIGINT NOT NULL,
  \`creator_id\` VARCHAR(64) NOT NULL,
  \`creation_ix\` INT NOT NULL,
  KEY \`archives_creation_order\` (\`creator_id\`,\`creation_ix\`) USING BTREE,
  UNIQUE KEY \`archive_id\` (\`id\`) USING BTREE,
  PRIMARY KEY (\`pagination_id\`)
)`,
    `CREATE TABLE IF NOT EXISTS \`${t.files}\` (
  \`id\` VARCHAR(64) NOT NULL,
  \`orig_file_id\` VARCHAR(64) NOT NULL,
  \`path\` VARCHAR(12288) NOT NULL,
  \`begin_timestamp\` BIGINT NOT NULL,
  \`end_timestamp\` BIGINT NOT NULL,
  \`num_uncompressed_bytes\` BIGINT NOT NULL,
  \`begin_message_ix\` BIGINT NOT NULL,
  \`num_messages\` BIGINT NOT NULL,
  \`archive_id\` VARCHAR(64) NOT NULL,
  KEY \`files_path\` (path(768)) USING BTREE,
  KEY \`files_archive_id\` (\`archive_id\`) USING BTREE,
  PRIMARY KEY (\`id\`)
) ROW_FORMAT=DYNAMIC`,
  ];
}

export interface DatasetRow {
  name: string;
  archiveStorageDirectory: string;
}

/** The dataset's row, or null when CLP has never seen it. */
export async function findDataset(db: Pool | PoolConnection, dataset: string): Promise<DatasetRow | null> {
  try {
    const [rows] = await db.query<RowDataPacket[]>(
      `SELECT name, archive_storage_directory FROM \`${DATASETS_TABLE}\` WHERE name = ?`,
      [dataset],
    );
    return rows.length
      ? { name: String(rows[0].name), archiveStorageDirectory: String(rows[0].archive_storage_directory) }
      : null;
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return null;
    throw err;
  }
}

/**
 * Registers the dataset as CLP's package does the first time a job names it:
 * its row (storage directory `<archive root>/<dataset>`, or the S3 key prefix
 * `<prefix><dataset>`) and its tables, through the schema owner's procedure
 * (src/store/migrations/datasets.ts), which also grants the ingestor's users
 * what they need on them. Idempotent, and concurrent callers agree.
 */
export async function ensureDataset(
  db: Pool,
  dataset: string,
  storageDirectory: string,
): Promise<DatasetRow> {
  checkDatasetName(dataset);
  const existing = await findDataset(db, dataset);
  if (existing) return existing;
  await db.query(`CALL ${ADD_DATASET_PROCEDURE}(?, ?)`, [dataset, storageDirectory]);
  return (await findDataset(db, dataset))!;
}
