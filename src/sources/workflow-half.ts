/**
 * The workflow half of a job kind: what the ingestion-job workflow needs to
 * know of it. Deterministic code only (it is bundled with the workflow): its
 * config's facts, and its reader step, which calls the kind's activities
 * through proxies and keeps only the cursors the next call starts from.
 */
import type { BufferSnapshot } from '../store/ingestion-store';
import type { CarriedState, JobProgress } from '../workflows/messages';

/** What reading a job's input needs from the job's run. */
export interface IngestContext {
  readonly jobId: number;
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

/** The cursors a reader carries across continue-as-new (CarriedState's reader fields). */
export type ReaderCarried = Pick<CarriedState, 'fsResumeAfter' | 'fsPassUnsettled'>;

export interface KindReader {
  /** One page, scan or receive period of the job's input; true when there is nothing more for now. */
  readOnce(): Promise<boolean>;
  /** What the next run starts from. */
  carried(): ReaderCarried;
}

export interface SourceKindWorkflowHalf<Config> {
  /** What the job reads, for listings and summaries. */
  describe(config: Config): string;
  /** The job scans its input once and then finishes. */
  oneTime(config: Config): boolean;
  /** How long an input with nothing new rests before the next read (0: a read call waits by itself). */
  idleMs(config: Config): number;
  /** The config as the workflow carries it (in input and in flushes' history events). */
  compact(config: Config): Config;
  reader(run: IngestContext, config: Config, carried: ReaderCarried | undefined): KindReader;
}

export const noCursors = (): ReaderCarried => ({});
export const asIs = <C>(config: C): C => config;
