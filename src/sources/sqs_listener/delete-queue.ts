/**
 * A listener's deletes, one in flight at a time. A batch's delete starts once its
 * commit is done and runs while the listener receives its next batch; the next
 * batch's delete waits for it, and the call ends only after the last one.
 * Waiting for each delete before receiving again would add a queue round trip
 * to every batch.
 */
export class DeleteQueue {
  private tail: Promise<void> = Promise.resolve();

  /**
   * Starts `del` once every delete added before it has ended; resolves when it
   * has started, not when it ends. Two batches of a listener may commit in one
   * transaction and add theirs at once: they still run one after the other.
   * `del` should not reject (a failed delete is only a redelivery, which its
   * caller logs); if one does, the next still runs, and `drain` rejects only
   * if the last one did.
   */
  add(del: () => Promise<void>): Promise<void> {
    let started!: () => void;
    const hasStarted = new Promise<void>((resolve) => (started = resolve));
    const run = () => {
      try {
        return del();
      } finally {
        started();
      }
    };
    this.tail = this.tail.then(run, run);
    // Seen here, so a rejection is never unhandled while no later add or drain waits on it.
    this.tail.catch(() => undefined);
    return hasStarted;
  }

  /** Waits for every delete added so far to end. */
  async drain(): Promise<void> {
    await this.tail;
  }
}
