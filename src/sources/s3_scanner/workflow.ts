/** The S3 scanner's workflow half: one scan call (many list pages) per read. */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { longIngestCall, S3_SCAN_PERIOD_MS, shortCall } from '../../workflows/activity-proxies';
import { oneLine } from '../../workflows/messages';
import { asIs, noCursors, type SourceKindWorkflowHalf } from '../workflow-half';
import type { ScanResult } from './activities';
import type { S3ScannerConfig } from './config';
import { SplitReader } from './split-reader';

const { scanS3 } = proxyActivities<Activities>(longIngestCall(S3_SCAN_PERIOD_MS));
/** One page per call: what runs started before s3-scan-many-pages-per-call replay. */
const { scanS3Page } = proxyActivities<Activities>(shortCall);

export const s3ScannerWorkflowHalf: SourceKindWorkflowHalf<S3ScannerConfig> = {
  describe: (c) => `s3://${c.bucket_name}/${c.key_prefix}`,
  oneTime: (c) => c.one_time === true,
  idleMs: (c) => c.scanning_interval_sec * 1000,
  compact: asIs,
  reader(run, config) {
    /** The cursor as the last call left it (for the next call's summary). */
    let scanCursor: string | null = null;
    const split = (config.listing_parallelism ?? 1) > 1 ? new SplitReader(run, config) : null;
    return {
      carried: noCursors,
      async readOnce() {
        const { jobId, source, progress } = run;
        if (split && patched('s3-scan-split-listing')) {
          const idle = await split.readOnce((cursor) => (scanCursor = cursor));
          if (idle !== null) return idle;
        }
        if (patched('s3-scan-many-pages-per-call')) {
          const r = await run.untilPausedOrDone((): Promise<ScanResult> =>
            scanS3.executeWithOptions(
              { summary: oneLine(scanCursor ? `pages after ${scanCursor}` : `pages of ${source}`) },
              [jobId, config, S3_SCAN_PERIOD_MS],
            ),
          );
          if (r.cursor !== undefined) scanCursor = r.cursor;
          progress.filesRecorded += r.recorded;
          progress.listingExhausted = r.exhausted;
          run.applySnapshot(r.snapshot);
          if (run.oneTime && r.complete) run.endOfInput();
          return r.exhausted;
        }
        const r = await scanS3Page(jobId, config);
        progress.filesRecorded += r.recorded;
        progress.listingExhausted = r.exhausted;
        run.applySnapshot(r.snapshot);
        return r.exhausted;
      },
    };
  },
};
