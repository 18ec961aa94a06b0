/**
 * All persistence of the log-ingestor on the CLP DB: every store role
 * (src/store/roles.ts) in one object, for the callers that need all of them
 * (the worker's activities, the CLI, the REST API). Each role lives in its
 * own module; this only composes them over one pool, clock and metrics.
 */
import { noIngestorMetrics, type IngestorMetrics } from '../metrics';
import { SqlCompressionRecords } from './compression-records';
import type { Db } from './db';
import { SqlFileRecords } from './file-records';
import { SqlJobRecords } from './job-records';
import { SqlListenerState } from './listener-state';
import type {
  CompressionRecords,
  FileRecords,
  JobRecords,
  ListenerState,
  ScannerState,
  SplitListing,
} from './roles';
import { SqlScannerState } from './scanner-state';
import { SqlSplitListing } from './split-listing';
import { StoreCore } from './store-core';

export { ACTIVE_STATUSES, JOB_STATUSES, type JobStatus } from '../lifecycle';
export * from './records';
export type * from './roles';

/** Each method is its role's (see there); the arguments pass through unchanged. */
export class IngestionStore
  implements JobRecords, ScannerState, SplitListing, ListenerState, FileRecords, CompressionRecords
{
  private readonly jobs: SqlJobRecords;
  private readonly scanner: SqlScannerState;
  private readonly split: SqlSplitListing;
  private readonly listener: SqlListenerState;
  private readonly files: SqlFileRecords;
  private readonly compression: SqlCompressionRecords;

  constructor(
    readonly db: Db,
    now: () => number = Date.now,
    /** Told of what each writing transaction did, once it committed. */
    metrics: IngestorMetrics = noIngestorMetrics,
  ) {
    const core = new StoreCore(db, now, metrics);
    this.jobs = new SqlJobRecords(core);
    this.scanner = new SqlScannerState(core);
    this.split = new SqlSplitListing(core);
    this.listener = new SqlListenerState(core);
    this.files = new SqlFileRecords(core);
    this.compression = new SqlCompressionRecords(core);
  }

  // JobRecords
  createJob(...a: Parameters<JobRecords['createJob']>) {
    return this.jobs.createJob(...a);
  }
  getJob(...a: Parameters<JobRecords['getJob']>) {
    return this.jobs.getJob(...a);
  }
  requireJob(...a: Parameters<JobRecords['requireJob']>) {
    return this.jobs.requireJob(...a);
  }
  requireJobOfWorkflow(...a: Parameters<JobRecords['requireJobOfWorkflow']>) {
    return this.jobs.requireJobOfWorkflow(...a);
  }
  listJobs(...a: Parameters<JobRecords['listJobs']>) {
    return this.jobs.listJobs(...a);
  }
  transitionJob(...a: Parameters<JobRecords['transitionJob']>) {
    return this.jobs.transitionJob(...a);
  }

  // ScannerState
  getScannerCursor(...a: Parameters<ScannerState['getScannerCursor']>) {
    return this.scanner.getScannerCursor(...a);
  }
  getRescanState(...a: Parameters<ScannerState['getRescanState']>) {
    return this.scanner.getRescanState(...a);
  }
  startRescan(...a: Parameters<ScannerState['startRescan']>) {
    return this.scanner.startRescan(...a);
  }
  recordRescanPage(...a: Parameters<ScannerState['recordRescanPage']>) {
    return this.scanner.recordRescanPage(...a);
  }
  recordS3Page(...a: Parameters<ScannerState['recordS3Page']>) {
    return this.scanner.recordS3Page(...a);
  }

  // SplitListing
  getSplit(...a: Parameters<SplitListing['getSplit']>) {
    return this.split.getSplit(...a);
  }
  startSplit(...a: Parameters<SplitListing['startSplit']>) {
    return this.split.startSplit(...a);
  }
  recordRangePage(...a: Parameters<SplitListing['recordRangePage']>) {
    return this.split.recordRangePage(...a);
  }
  endSplitIfListed(...a: Parameters<SplitListing['endSplitIfListed']>) {
    return this.split.endSplitIfListed(...a);
  }

  // ListenerState
  recordMessageBatch(...a: Parameters<ListenerState['recordMessageBatch']>) {
    return this.listener.recordMessageBatch(...a);
  }
  listIgnoredMessages(...a: Parameters<ListenerState['listIgnoredMessages']>) {
    return this.listener.listIgnoredMessages(...a);
  }

  // FileRecords
  recordFiles(...a: Parameters<FileRecords['recordFiles']>) {
    return this.files.recordFiles(...a);
  }
  bufferSnapshot(...a: Parameters<FileRecords['bufferSnapshot']>) {
    return this.files.bufferSnapshot(...a);
  }
  listFiles(...a: Parameters<FileRecords['listFiles']>) {
    return this.files.listFiles(...a);
  }
  countFilesByStatus(...a: Parameters<FileRecords['countFilesByStatus']>) {
    return this.files.countFilesByStatus(...a);
  }

  // CompressionRecords
  nextFlushSeq(...a: Parameters<CompressionRecords['nextFlushSeq']>) {
    return this.compression.nextFlushSeq(...a);
  }
  submitBuffered(...a: Parameters<CompressionRecords['submitBuffered']>) {
    return this.compression.submitBuffered(...a);
  }
  outstandingCompressionJobs(...a: Parameters<CompressionRecords['outstandingCompressionJobs']>) {
    return this.compression.outstandingCompressionJobs(...a);
  }
  finalizeCompressionJobs(...a: Parameters<CompressionRecords['finalizeCompressionJobs']>) {
    return this.compression.finalizeCompressionJobs(...a);
  }
}
