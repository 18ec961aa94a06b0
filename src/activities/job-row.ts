/** Activities that mirror the job workflow's lifecycle into the CLP DB job row. */
import { InvalidConfigError, s3Source, type JobKind } from '../config/job-config';
import { ApplicationFailure } from '@temporalio/activity';
import { IllegalTransitionError, statusOnStart, type JobStatus } from '../lifecycle';
import { allowListOf } from '../security/endpoints';
import {
  ConflictError,
  type BufferSnapshot,
  type CompressionRecords,
  type FileRecords,
  type JobRecords,
  type WorkflowOrigin,
} from '../store/ingestion-store';
import { recordNewJob } from '../store/new-job';
import { workflowJob } from '../sources/describe';
import type { NewJobInput, RegisteredJob } from '../workflows/messages';
import type { DepsWith } from './deps';
import { nonRecoverable } from './errors';

export interface JobStart {
  status: JobStatus;
  snapshot: BufferSnapshot;
  nextFlushSeq: number;
}

/** Tests inject faults here (e.g. a worker that dies right after recording a job). */
export interface JobRowFaults {
  /** After a workflow's job is recorded, before the call returns. */
  afterRegister?: () => Promise<void>;
}

/** The store roles the job's start and lifecycle mirroring use. */
type JobRowStore = JobRecords & FileRecords & Pick<CompressionRecords, 'nextFlushSeq'>;

export function jobRowActivities(
  { store, settings }: DepsWith<JobRowStore, 'settings'>,
  faults: JobRowFaults = {},
) {
  return {
    /**
     * A workflow started with a job kind and config (from any Temporal client)
     * records its job: the same validation, endpoint check and conflict check
     * as our CLI and REST. Once per workflow execution: a retry, or a zombie
     * call finishing late, gets the job the first one recorded. A config that
     * cannot become a job fails the workflow, naming the field or the
     * conflicting job, and records nothing.
     */
    async registerJob(origin: WorkflowOrigin, request: NewJobInput): Promise<RegisteredJob> {
      try {
        const { jobId, job } = await recordNewJob(
          store,
          request.kind as JobKind,
          request.config,
          allowListOf(settings.aws),
          origin,
        );
        await faults.afterRegister?.();
        return { jobId, job: workflowJob(job), bucket: s3Source(job)?.bucket ?? '' };
      } catch (err) {
        if (err instanceof InvalidConfigError || err instanceof ConflictError) {
          throw nonRecoverable(`cannot create the ingestion job: ${err.message}`);
        }
        throw err;
      }
    },

    /**
     * Start or recover a job: a requested job becomes running (any other keeps
     * its status); whatever the DB holds for it (buffered files, submitted
     * compression jobs) is returned so the workflow picks up where any crash
     * left it.
     */
    async startJob(jobId: number): Promise<JobStart> {
      const status = await store.transitionJob(jobId, statusOnStart);
      const [snapshot, nextFlushSeq] = await Promise.all([
        store.bufferSnapshot(jobId),
        store.nextFlushSeq(jobId),
      ]);
      return { status, snapshot, nextFlushSeq };
    },

    /** The DB's view of the buffer, to resynchronise after a cancelled call or continue-as-new. */
    async getBufferSnapshot(jobId: number): Promise<BufferSnapshot> {
      return store.bufferSnapshot(jobId);
    },

    /**
     * Mirrors a lifecycle change; returns the status the row holds afterwards.
     * A move the lifecycle refuses fails at once (retrying cannot make it legal).
     */
    async setJobStatus(jobId: number, status: JobStatus, errorMsg?: string): Promise<JobStatus> {
      try {
        return await store.transitionJob(jobId, status, errorMsg);
      } catch (err) {
        if (err instanceof IllegalTransitionError)
          throw ApplicationFailure.create({ message: err.message, type: err.name, nonRetryable: true });
        throw err;
      }
    },
  };
}
