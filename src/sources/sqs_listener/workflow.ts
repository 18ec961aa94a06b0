/** The SQS listener's workflow half: one receive period per read. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { longIngestCall } from '../../workflows/activity-proxies';
import { oneLine } from '../../workflows/messages';
import { asIs, noCursors, type SourceKindWorkflowHalf } from '../workflow-half';
import type { SqsListenerConfig } from './config';

/** A receive call runs this long at most, so history grows by a few events a minute. */
export const SQS_RECEIVE_PERIOD_MS = 60_000;
const { receiveSqsMessages } = proxyActivities<Activities>(longIngestCall(SQS_RECEIVE_PERIOD_MS));

export const sqsListenerWorkflowHalf: SourceKindWorkflowHalf<SqsListenerConfig> = {
  describe: (c) => `s3://${c.bucket_name}/${c.key_prefix}`,
  oneTime: () => false,
  // A receive call waits for messages by itself.
  idleMs: () => 0,
  compact: asIs,
  reader(run, config) {
    return {
      carried: noCursors,
      async readOnce() {
        const { jobId, progress } = run;
        const summary = oneLine(
          `receive from ${config.queue_url} for up to ${SQS_RECEIVE_PERIOD_MS / 1000} s`,
        );
        const r = await run.untilPausedOrDone(() =>
          receiveSqsMessages.executeWithOptions({ summary }, [jobId, config, SQS_RECEIVE_PERIOD_MS]),
        );
        progress.filesRecorded += r.recorded;
        progress.messagesIgnored += r.ignored;
        run.applySnapshot(r.snapshot);
        return false;
      },
    };
  },
};
