/** The CLP DB's tables and CLP's status codes, as every module that queries them names them. */

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
  /** The key ranges of an S3 scanner's split listing (see src/activities/s3-scan-split.ts). */
  s3ScanRanges: 'log_ingestor_s3_scan_ranges',
  ingestedFiles: 'log_ingestor_ingested_files',
  submissions: 'log_ingestor_compression_submissions',
  migrations: 'log_ingestor_schema_migrations',
  ignoredMessages: 'log_ingestor_ignored_messages',
  executorLeases: 'compression_executor_leases',
  attempts: 'log_ingestor_compression_attempts',
  /** The ingestor's own DB users by role (written by migrate), for grants on CLP's per-dataset tables. */
  dbAccounts: 'log_ingestor_db_accounts',
  /** CLP head's name for S3 file records: a view of ingestedFiles. */
  clpObjectMetadata: 'ingested_s3_object_metadata',
} as const;
