/** Activities that mirror the job workflow's lifecycle into the CLP DB job row. */
import type { BufferSnapshot, JobStatus } from '../store/ingestion-store';
import type { ActivityDeps } from './deps';

/** Which DB statuses may move to each status: the seed's state machine. */
const ALLOWED_FROM: Record<JobStatus, readonly JobStatus[]> = {
  requested: [],
  running: ['requested', 'paused'],
  paused: ['running'],
  finished: ['requested', 'running', 'paused'],
  failed: ['requested', 'running', 'paused'],
};

export interface JobStart {
  status: JobStatus;
  snapshot: BufferSnapshot;
  nextFlushSeq: number;
}

export function jobStateActivities({ store }: ActivityDeps) {
  return {
    /**
     * Start or recover a job: `requested` becomes `running`; whatever the DB
     * holds for it (buffered files, submitted compression jobs) is returned so
     * the workflow picks up where any crash left it: the seed's recovery step.
     */
    async startJob(jobId: number): Promise<JobStart> {
      const status = await store.transitionJob(jobId, ['requested'], 'running');
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

    /** Mirrors a lifecycle change; returns the status the row holds afterwards. */
    async setJobStatus(jobId: number, status: JobStatus, errorMsg?: string): Promise<JobStatus> {
      return store.transitionJob(jobId, ALLOWED_FROM[status], status, errorMsg);
    },
  };
}
