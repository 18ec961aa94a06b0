/**
 * The size threshold for SQS-listener jobs. A receive call returns as soon as
 * its listeners take the buffer across the threshold, but each listener
 * records the batch it already holds, and a flush takes the whole buffer: N
 * listeners polling at once can overshoot by N receive batches (10 messages
 * each). Near the threshold the pacer has them take turns (receive and
 * record one batch at a time) and ask for about as many messages as still
 * fit, so the batch that crosses the threshold is the last of the call and a
 * flush holds the threshold plus about one file.
 */

/** SQS hands out at most 10 messages per receive. */
export const MAX_MESSAGES = 10;

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

  /** Whether the batches all listeners may hold at once could take the buffer past the threshold. */
  near(): boolean {
    return (
      this.listeners > 1 &&
      (this.avg === undefined || this.bytes + this.listeners * MAX_MESSAGES * this.avg >= this.threshold)
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
