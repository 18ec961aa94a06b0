/**
 * Prometheus metrics for the worker and the executor. Both serve them through
 * the Temporal SDK's Core runtime: one `/metrics` endpoint with the SDK's own
 * (`temporal_*`: polls, task latencies, slots, sticky cache, ...) beside ours
 * (`clp_ingestor_*`, `clp_executor_*`). Off unless an address is configured
 * (CLP_INGESTOR_METRICS_ADDRESS, CLP_EXECUTOR_METRICS_ADDRESS).
 *
 * Ours are counted after the transaction that made them true committed, so a
 * retried activity or a zombie repeating a call counts nothing twice.
 */
import type { MetricMeter, MetricTags } from '@temporalio/common';
import type { JobKind } from './config/job-config';

export type CompressionOutcome = 'succeeded' | 'failed';
/** An executor's job: its own outcome, or given up (lease lost, shutdown, DB away: KILLED). */
export type ExecutorOutcome = CompressionOutcome | 'abandoned';

/** What the ingestor reports; a no-op when metrics are off. */
export interface IngestorMetrics {
  filesRecorded(kind: JobKind, files: number, bytes: number): void;
  flushed(kind: JobKind, files: number): void;
  compressionJobsEnded(outcome: CompressionOutcome, jobs: number, files: number): void;
  resubmitted(jobs: number): void;
  messagesIgnored(jobs: number): void;
  /** Now minus the last-modified time of the newest object a scan has seen, per job. */
  scanLag(jobId: number, kind: JobKind, seconds: number): void;
}

export interface ExecutorMetrics {
  jobEnded(outcome: ExecutorOutcome): void;
  running(jobs: number): void;
}

/** Every metric we define: name, type, help (docs/operations.md's list is checked against it). */
export const METRICS = {
  filesRecorded: ['clp_ingestor_files_recorded', 'counter', 'files recorded, by job kind'],
  bytesRecorded: ['clp_ingestor_bytes_recorded', 'counter', 'bytes of the files recorded, by job kind'],
  flushes: ['clp_ingestor_flushes', 'counter', 'compression jobs submitted by flushes, by job kind'],
  filesSubmitted: ['clp_ingestor_files_submitted', 'counter', 'files submitted for compression, by job kind'],
  compressionJobs: [
    'clp_ingestor_compression_jobs_ended',
    'counter',
    'compression jobs that ended, by outcome (succeeded, failed; KILLED ones are resubmitted, counted below)',
  ],
  filesCompressed: [
    'clp_ingestor_files_ended',
    'counter',
    'files given their fate, by outcome (succeeded: compressed, failed)',
  ],
  resubmissions: [
    'clp_ingestor_compression_resubmissions',
    'counter',
    'KILLED compression jobs whose files were submitted again',
  ],
  messagesIgnored: [
    'clp_ingestor_sqs_messages_ignored',
    'counter',
    'SQS messages that named no file to ingest (not S3 notifications, other buckets or prefixes, test events)',
  ],
  scanLag: [
    'clp_ingestor_scan_lag_seconds',
    'gauge',
    'age of the newest object the last scan page saw, by job id and kind',
  ],
  executorJobs: [
    'clp_executor_compression_jobs',
    'counter',
    'compression jobs the executor ended, by outcome (succeeded, failed, abandoned)',
  ],
  executorRunning: ['clp_executor_jobs_running', 'gauge', 'compression jobs the executor is running'],
} as const satisfies Record<string, readonly [string, 'counter' | 'gauge', string]>;

export const noIngestorMetrics: IngestorMetrics = {
  filesRecorded: () => undefined,
  flushed: () => undefined,
  compressionJobsEnded: () => undefined,
  resubmitted: () => undefined,
  messagesIgnored: () => undefined,
  scanLag: () => undefined,
};

export const noExecutorMetrics: ExecutorMetrics = { jobEnded: () => undefined, running: () => undefined };

function counter(meter: MetricMeter, key: keyof typeof METRICS) {
  const [name, , help] = METRICS[key];
  return meter.createCounter(name, '', help);
}

function gauge(meter: MetricMeter, key: keyof typeof METRICS) {
  const [name, , help] = METRICS[key];
  return meter.createGauge(name, 'float', '', help);
}

export function ingestorMetrics(meter: MetricMeter): IngestorMetrics {
  const files = counter(meter, 'filesRecorded');
  const bytes = counter(meter, 'bytesRecorded');
  const flushes = counter(meter, 'flushes');
  const submitted = counter(meter, 'filesSubmitted');
  const ended = counter(meter, 'compressionJobs');
  const fates = counter(meter, 'filesCompressed');
  const resubmissions = counter(meter, 'resubmissions');
  const ignored = counter(meter, 'messagesIgnored');
  const lag = gauge(meter, 'scanLag');
  const add = (c: ReturnType<typeof counter>, n: number, tags: MetricTags = {}) => {
    if (n > 0) c.add(n, tags);
  };
  return {
    filesRecorded: (kind, n, b) => {
      add(files, n, { job_kind: kind });
      add(bytes, b, { job_kind: kind });
    },
    flushed: (kind, n) => {
      add(flushes, 1, { job_kind: kind });
      add(submitted, n, { job_kind: kind });
    },
    compressionJobsEnded: (outcome, jobs, n) => {
      add(ended, jobs, { outcome });
      add(fates, n, { outcome });
    },
    resubmitted: (n) => add(resubmissions, n),
    messagesIgnored: (n) => add(ignored, n),
    scanLag: (jobId, kind, seconds) =>
      lag.set(Math.max(0, seconds), { job_id: String(jobId), job_kind: kind }),
  };
}

export function executorMetrics(meter: MetricMeter): ExecutorMetrics {
  const jobs = counter(meter, 'executorJobs');
  const running = gauge(meter, 'executorRunning');
  return {
    jobEnded: (outcome) => jobs.add(1, { outcome }),
    running: (n) => running.set(n),
  };
}

/** The Core runtime's telemetry option that serves Prometheus metrics at `address` (none without one). */
export function prometheusMetrics(address: string | undefined) {
  return address ? { metrics: { prometheus: { bindAddress: address, countersTotalSuffix: true } } } : {};
}
