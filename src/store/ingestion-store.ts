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
import type { CompressionRecords, FileRecords, JobRecords, ListenerState, ScannerState } from './roles';
import { SqlScannerState } from './scanner-state';
import { StoreCore } from './store-core';

export { ACTIVE_STATUSES, JOB_STATUSES, type JobStatus } from '../lifecycle';
export * from './records';
export type * from './roles';

type Args<R, M extends keyof R> = R[M] extends (...a: infer P) => unknown ? P : never;

export class IngestionStore
  implements JobRecords, ScannerState, ListenerState, FileRecords, CompressionRecords
{
  private readonly jobs: SqlJobRecords;
  private readonly scanner: SqlScannerState;
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
    this.listener = new SqlListenerState(core);
    this.files = new SqlFileRecords(core);
    this.compression = new SqlCompressionRecords(core);
  }

  // JobRecords
  createJob(...a: Args<JobRecords, 'createJob'>) {
    return this.jobs.createJob(...a);
  }
  getJob(...a: Args<JobRecords, 'getJob'>) {
    return this.jobs.getJob(...a);
  }
  requireJob(...a: Args<JobRecords, 'requireJob'>) {
    return this.jobs.requireJob(...a);
  }
  requireJobOfWorkflow(...a: Args<JobRecords, 'requireJobOfWorkflow'>) {
    return this.jobs.requireJobOfWorkflow(...a);
  }
  listJobs(...a: Args<JobRecords, 'listJobs'>) {
    return this.jobs.listJobs(...a);
  }
  transitionJob(...a: Args<JobRecords, 'transitionJob'>) {
    return this.jobs.transitionJob(...a);
  }

  // ScannerState
  getScannerCursor(...a: Args<ScannerState, 'getScannerCursor'>) {
    return this.scanner.getScannerCursor(...a);
  }
  getRescanState(...a: Args<ScannerState, 'getRescanState'>) {
    return this.scanner.getRescanState(...a);
  }
  startRescan(...a: Args<ScannerState, 'startRescan'>) {
    return this.scanner.startRescan(...a);
  }
  recordRescanPage(...a: Args<ScannerState, 'recordRescanPage'>) {
    return this.scanner.recordRescanPage(...a);
  }
  recordS3Page(...a: Args<ScannerState, 'recordS3Page'>) {
    return this.scanner.recordS3Page(...a);
  }

  // ListenerState
  recordMessageBatch(...a: Args<ListenerState, 'recordMessageBatch'>) {
    return this.listener.recordMessageBatch(...a);
  }
  listIgnoredMessages(...a: Args<ListenerState, 'listIgnoredMessages'>) {
    return this.listener.listIgnoredMessages(...a);
  }

  // FileRecords
  recordFiles(...a: Args<FileRecords, 'recordFiles'>) {
    return this.files.recordFiles(...a);
  }
  bufferSnapshot(...a: Args<FileRecords, 'bufferSnapshot'>) {
    return this.files.bufferSnapshot(...a);
  }
  listFiles(...a: Args<FileRecords, 'listFiles'>) {
    return this.files.listFiles(...a);
  }
  countFilesByStatus(...a: Args<FileRecords, 'countFilesByStatus'>) {
    return this.files.countFilesByStatus(...a);
  }

  // CompressionRecords
  nextFlushSeq(...a: Args<CompressionRecords, 'nextFlushSeq'>) {
    return this.compression.nextFlushSeq(...a);
  }
  submitBuffered(...a: Args<CompressionRecords, 'submitBuffered'>) {
    return this.compression.submitBuffered(...a);
  }
  outstandingCompressionJobs(...a: Args<CompressionRecords, 'outstandingCompressionJobs'>) {
    return this.compression.outstandingCompressionJobs(...a);
  }
  finalizeCompressionJobs(...a: Args<CompressionRecords, 'finalizeCompressionJobs'>) {
    return this.compression.finalizeCompressionJobs(...a);
  }
}
