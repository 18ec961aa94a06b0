/**
 * The workflow's side of a split listing (split.ts): once a run, a plan of
 * the keys after the cursor; while a split runs, rounds of its ranges listed
 * `listing_parallelism` at a time, each round ended by an attempt to end the
 * split. Deterministic: bundled with the workflow.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { longIngestCall, S3_SCAN_PERIOD_MS, shortCall } from '../../workflows/activity-proxies';
import { oneLine } from '../../workflows/messages';
import type { IngestContext } from '../workflow-half';
import type { S3ScannerConfig } from './config';

const { scanS3Range } = proxyActivities<Activities>(longIngestCall(S3_SCAN_PERIOD_MS));
/** Planning probes S3 (up to about ninety one-key listings a level); ending a split is a transaction. */
const { planS3Split, endS3Split } = proxyActivities<Activities>({ ...shortCall, startToCloseTimeout: '2m' });

export class SplitReader {
  /** Whether this run has looked for a split (once a run: planning probes S3). */
  private planned = false;
  /** The split in progress: ranges still to list (the open one dropped once it reached the end). */
  private split: { pending: number[]; openRange: number; openListed: boolean } | null = null;

  constructor(
    private readonly run: IngestContext,
    private readonly config: S3ScannerConfig,
  ) {}

  /**
   * One round of the split listing. Null when the listing is not split (the
   * job lists page after page); else true when the round recorded nothing
   * (its ranges wait for objects to settle).
   */
  async readOnce(onCursor: (cursor: string) => void): Promise<boolean | null> {
    const { run, config } = this;
    const { jobId, progress } = run;
    if (this.split === null) {
      if (this.planned) return null;
      this.planned = true;
      const plan = await planS3Split.executeWithOptions({ summary: oneLine(`split ${run.source}`) }, [
        jobId,
        config,
      ]);
      if (plan.ranges.length === 0) return null;
      this.split = { pending: plan.ranges, openRange: plan.openRange, openListed: false };
    }
    const split = this.split;
    progress.listingExhausted = false;
    const queue = [...split.pending];
    let recorded = 0;
    const lister = async (): Promise<void> => {
      for (let idx = queue.shift(); idx !== undefined; idx = queue.shift()) {
        const range = idx;
        const r = await run.untilPausedOrDone(() =>
          scanS3Range.executeWithOptions({ summary: `range ${range} of ${run.source}` }, [
            jobId,
            config,
            range,
            S3_SCAN_PERIOD_MS,
          ]),
        );
        recorded += r.recorded;
        progress.filesRecorded += r.recorded;
        run.applySnapshot(r.snapshot);
        if (r.listed && range === split.openRange) split.openListed = true;
      }
    };
    const listers = Math.min(config.listing_parallelism ?? 1, queue.length);
    // Every call ends (or is cancelled) before the round does: none is left running unawaited.
    const outcomes = await Promise.allSettled(Array.from({ length: listers }, lister));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    const end = await endS3Split(jobId);
    if (end.ended) {
      this.split = null;
      if (end.cursor !== null) onCursor(end.cursor);
      return false; // the listing goes on page by page from the new cursor
    }
    split.pending = end.pending.filter((i) => !(split.openListed && i === split.openRange));
    return recorded === 0;
  }
}
