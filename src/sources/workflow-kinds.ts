/**
 * The ingest step of an ingestion job, per input kind: one S3 scan call, one
 * directory walk (or part of one), one SQS receive period or one look-up of
 * listed objects. Each call is recorded by its activity in the DB; the reader
 * keeps only the cursors the next call starts from.
 */
import { patched } from '@temporalio/workflow';
import type { ScanResult } from '../activities/s3-scan';
import type { JobConfig } from '../config/job-config';
import type { BufferSnapshot } from '../store/ingestion-store';
import {
  receiveSqsMessages,
  recordS3ObjectList,
  S3_SCAN_PERIOD_MS,
  scanFsDirectory,
  scanS3,
  scanS3Page,
  SQS_RECEIVE_PERIOD_MS,
} from './activity-proxies';
import { oneLine, type CarriedState, type JobProgress } from './messages';

/** What reading a job's input needs from the job's run. */
export interface IngestContext {
  readonly jobId: number;
  readonly job: JobConfig;
  /** What the job reads (s3://bucket/prefix, a queue's sources, a directory), for summaries. */
  readonly source: string;
  /** A one-time job ends when its input has been read to the end. */
  readonly oneTime: boolean;
  readonly progress: JobProgress;
  applySnapshot(s: BufferSnapshot): void;
  /** A one-time job has read all its input. */
  endOfInput(): void;
  /** Runs a long ingest call until it ends, or cancels it when the job pauses or ingesting must stop. */
  untilPausedOrDone<T>(call: () => Promise<T>): Promise<T>;
}

export class InputReader {
  /** The S3 scanner's cursor as the last call left it (for the next call's summary). */
  private scanCursor: string | null = null;
  /** Where an fs pass stopped for a flush (null: the next pass starts at the beginning). */
  fsResumeAfter: string[] | null;
  /** Files a one-time fs job's current pass found not yet settled (the pass must be repeated). */
  fsPassUnsettled: number;

  constructor(
    private readonly run: IngestContext,
    carried: CarriedState | undefined,
  ) {
    this.fsResumeAfter = carried?.fsResumeAfter ?? null;
    this.fsPassUnsettled = carried?.fsPassUnsettled ?? 0;
  }

  /** One page, scan or receive period of the job's input; true when there is nothing more for now. */
  async readOnce(): Promise<boolean> {
    const { jobId, job, source, progress } = this.run;
    switch (job.kind) {
      case 's3_scanner': {
        if (patched('s3-scan-many-pages-per-call')) {
          const r = await this.run.untilPausedOrDone((): Promise<ScanResult> =>
            scanS3.executeWithOptions(
              { summary: oneLine(this.scanCursor ? `pages after ${this.scanCursor}` : `pages of ${source}`) },
              [jobId, job.config, S3_SCAN_PERIOD_MS],
            ),
          );
          if (r.cursor !== undefined) this.scanCursor = r.cursor;
          progress.filesRecorded += r.recorded;
          progress.listingExhausted = r.exhausted;
          this.run.applySnapshot(r.snapshot);
          if (this.run.oneTime && r.complete) this.run.endOfInput();
          return r.exhausted;
        }
        const r = await scanS3Page(jobId, job.config);
        progress.filesRecorded += r.recorded;
        progress.listingExhausted = r.exhausted;
        this.run.applySnapshot(r.snapshot);
        return r.exhausted;
      }
      case 'fs': {
        if (patched('fs-scan-stops-for-flush')) {
          // A pass stops where a flush is due and the next call goes on from there at once.
          const r = await scanFsDirectory.executeWithOptions(
            {
              summary: oneLine(
                this.fsResumeAfter
                  ? `walk ${source} after ${this.fsResumeAfter.join('/')}`
                  : `walk ${source}`,
              ),
            },
            [jobId, job.config, { resumeAfter: this.fsResumeAfter }],
          );
          progress.filesRecorded += r.recorded;
          this.run.applySnapshot(r.snapshot);
          this.fsResumeAfter = r.resumeAfter ?? null;
          if (this.run.oneTime) {
            // The input ends with a whole pass that found every file settled.
            this.fsPassUnsettled += r.unsettled;
            if (this.fsResumeAfter === null) {
              if (this.fsPassUnsettled === 0) this.run.endOfInput();
              this.fsPassUnsettled = 0;
            }
          }
          return this.fsResumeAfter === null;
        }
        const r = await scanFsDirectory(jobId, job.config);
        progress.filesRecorded += r.recorded;
        this.run.applySnapshot(r.snapshot);
        return true;
      }
      case 'sqs_listener': {
        const summary = oneLine(
          `receive from ${job.config.queue_url} for up to ${SQS_RECEIVE_PERIOD_MS / 1000} s`,
        );
        const r = await this.run.untilPausedOrDone(() =>
          receiveSqsMessages.executeWithOptions({ summary }, [jobId, job.config, SQS_RECEIVE_PERIOD_MS]),
        );
        progress.filesRecorded += r.recorded;
        progress.messagesIgnored += r.ignored;
        this.run.applySnapshot(r.snapshot);
        return false;
      }
      case 's3_object_list': {
        // The list is read from the job's row, not passed: it would go into history per call.
        const r = await this.run.untilPausedOrDone(() =>
          recordS3ObjectList.executeWithOptions(
            { summary: `look up listed objects after ${progress.filesRecorded}` },
            [jobId, S3_SCAN_PERIOD_MS],
          ),
        );
        progress.filesRecorded += r.recorded + r.failed;
        progress.filesFailed += r.failed;
        progress.listingExhausted = r.exhausted;
        this.run.applySnapshot(r.snapshot);
        if (r.exhausted) this.run.endOfInput();
        return false;
      }
    }
  }
}
