/**
 * The size threshold for SQS-listener jobs. A receive call returns as soon as
 * its listeners take the buffer across the threshold, but each listener
 * records the batches it already holds, and a flush takes the whole buffer: N
 * listeners, each recording one batch while it polls for the next, can
 * overshoot by 2N receive batches (10 messages each), one listener by two.
 * Near the threshold the pacer has them take turns (receive and
 * record one batch at a time) and ask for about as many messages as still
 * fit, so the batch that crosses the threshold is the last of the call and a
 * flush holds the threshold plus about one file.
 */

/** SQS hands out at most 10 messages per receive. */
export const MAX_MESSAGES = 10;
/** Batches a listener holds at most: one being recorded, and the next, polled for meanwhile. */
export const BATCHES_PER_LISTENER = 2;

export interface BufferedBytes {
  bytes: number;
  files: number;
}

export class ThresholdPacer {
  private bytes: number;
  private avg: number | undefined;
  private turn: Promise<void> = Promise.resolve();

  /**
   * `avgFileBytes`: the job's mean file size from earlier calls, if known;
   * without it the listeners take turns until the buffer holds a file.
   */
  constructor(
    private readonly threshold: number,
    private readonly listeners: number,
    buffered: BufferedBytes,
    avgFileBytes?: number,
  ) {
    this.bytes = buffered.bytes;
    this.avg = buffered.files > 0 ? buffered.bytes / buffered.files : avgFileBytes;
  }

  /** The buffer as a snapshot after a commit shows it. */
  update(s: BufferedBytes): void {
    this.bytes = s.bytes;
    if (s.files > 0) this.avg = s.bytes / s.files;
  }

  get averageFileBytes(): number | undefined {
    return this.avg;
  }

  /**
   * Whether the batches all listeners may hold at once could take the buffer past the threshold
   * (one listener too: it polls for its next batch while its last is recorded).
   */
  near(): boolean {
    return (
      this.avg === undefined ||
      this.bytes + BATCHES_PER_LISTENER * this.listeners * MAX_MESSAGES * this.avg >= this.threshold
    );
  }

  /** How many messages to ask for: about as many as fit under the threshold (1 to 10). */
  maxMessages(): number {
    if (this.avg === undefined || this.avg <= 0) return MAX_MESSAGES;
    const fit = Math.ceil((this.threshold - this.bytes) / this.avg);
    return Math.max(1, Math.min(MAX_MESSAGES, fit));
  }

  /**
   * Near the threshold, waits for this listener's turn (the previous holder
   * has recorded its batch); returns the release. Otherwise returns at once.
   */
  async take(): Promise<() => void> {
    if (!this.near()) return () => undefined;
    const prev = this.turn;
    let release!: () => void;
    this.turn = new Promise<void>((r) => (release = r));
    await prev;
    return release;
  }
}
