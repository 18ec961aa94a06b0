/**
 * A listener's deletes, one in flight at a time. A batch's delete starts once its
 * commit is done and runs while the listener receives its next batch; the next
 * batch's delete waits for it, and the call ends only after the last one.
 * Waiting for each delete before receiving again would add a queue round trip
 * to every batch.
 */
export class DeleteQueue {
  private inFlight: Promise<void> = Promise.resolve();

  /** Waits for the previous delete, then starts `del` without waiting for it. */
  async add(del: () => Promise<void>): Promise<void> {
    await this.inFlight;
    this.inFlight = del();
  }

  /** Waits for the delete in flight, if any. */
  async drain(): Promise<void> {
    await this.inFlight;
  }
}
