/**
 * Group commit for one call's listener tasks. Every batch's transaction
 * takes the job row's lock (the counters change with the rows), so the
 * listeners' commits run one after another, each waiting for its own log
 * flush. Here a batch that arrives while a commit is in flight waits for it,
 * and every batch that waited goes into the next transaction together: one
 * lock, one flush for up to a batch per listener. A batch's messages are
 * deleted only after the transaction that holds it commits, as before.
 */
export interface Merged<R> {
  /** The transaction's result. */
  result: R;
  /** Whether this batch is the first of its transaction: its caller counts the result, the others do not. */
  first: boolean;
}

export class GroupCommit<B, R> {
  private waiting: { batch: B; resolve: (r: Merged<R>) => void; reject: (e: unknown) => void }[] = [];
  private busy = false;

  /** `commit` records the given batches in one transaction. */
  constructor(private readonly commit: (batches: B[]) => Promise<R>) {}

  /** Resolves once a transaction holding `batch` has committed; rejects if it failed. */
  add(batch: B): Promise<Merged<R>> {
    const done = new Promise<Merged<R>>((resolve, reject) => this.waiting.push({ batch, resolve, reject }));
    if (!this.busy) void this.drain();
    return done;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.waiting.length) {
        const group = this.waiting.splice(0);
        try {
          const result = await this.commit(group.map((w) => w.batch));
          group.forEach((w, i) => w.resolve({ result, first: i === 0 }));
        } catch (err) {
          for (const w of group) w.reject(err);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
