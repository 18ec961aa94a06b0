/** An object list's workflow half: one look-up of listed objects per read, until the list is exhausted. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { longIngestCall, S3_SCAN_PERIOD_MS } from '../../workflows/activity-proxies';
import { noCursors, type SourceKindWorkflowHalf } from '../workflow-half';
import type { S3ObjectListConfig } from './config';

const { recordS3ObjectList } = proxyActivities<Activities>(longIngestCall(S3_SCAN_PERIOD_MS));

export const s3ObjectListWorkflowHalf: SourceKindWorkflowHalf<S3ObjectListConfig> = {
  describe: (c) => {
    const n = c.urls.length;
    return `s3://${c.bucket_name}/${c.key_prefix} (${n} object${n === 1 ? '' : 's'}${c.endpoint_url ? ` at ${c.endpoint_url}` : ''})`;
  },
  oneTime: () => true,
  // Each call looks up what is left; the last one ends the input.
  idleMs: () => 0,
  // Up to 10,000 URLs: its activity reads them from the job's row, so they never weigh on
  // Temporal's payload limits or the workflow's history.
  compact: (c) => ({ ...c, urls: [] }),
  reader(run) {
    return {
      carried: noCursors,
      async readOnce() {
        const { jobId, progress } = run;
        // The list is read from the job's row, not passed: it would go into history per call.
        const r = await run.untilPausedOrDone(() =>
          recordS3ObjectList.executeWithOptions(
            { summary: `look up listed objects after ${progress.filesRecorded}` },
            [jobId, S3_SCAN_PERIOD_MS],
          ),
        );
        progress.filesRecorded += r.recorded + r.failed;
        progress.filesFailed += r.failed;
        progress.listingExhausted = r.exhausted;
        run.applySnapshot(r.snapshot);
        if (r.exhausted) run.endOfInput();
        return false;
      },
    };
  },
};
