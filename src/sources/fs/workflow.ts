/** A local-directory job's workflow half: one directory walk (or the part of one up to a due flush) per read. */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { retry } from '../../workflows/activity-proxies';
import { oneLine } from '../../workflows/messages';
import { asIs, type SourceKindWorkflowHalf } from '../workflow-half';
import type { FsConfig } from './config';

/** A directory walk may take long on a huge tree; it heartbeats per batch. */
const { scanFsDirectory } = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '30s',
  retry,
});

export const fsWorkflowHalf: SourceKindWorkflowHalf<FsConfig> = {
  describe: (c) => c.directory,
  oneTime: (c) => c.one_time === true,
  idleMs: (c) => c.scanning_interval_sec * 1000,
  compact: asIs,
  reader(run, config, carried) {
    /** Where a pass stopped for a flush (null: the next pass starts at the beginning). */
    let resumeAfter: string[] | null = carried?.fsResumeAfter ?? null;
    /** Files a one-time job's current pass found not yet settled (the pass must be repeated). */
    let passUnsettled = carried?.fsPassUnsettled ?? 0;
    return {
      carried: () => ({
        ...(resumeAfter ? { fsResumeAfter: resumeAfter } : {}),
        ...(passUnsettled ? { fsPassUnsettled: passUnsettled } : {}),
      }),
      async readOnce() {
        const { jobId, source, progress } = run;
        if (patched('fs-scan-stops-for-flush')) {
          // A pass stops where a flush is due and the next call goes on from there at once.
          const r = await scanFsDirectory.executeWithOptions(
            {
              summary: oneLine(
                resumeAfter ? `walk ${source} after ${resumeAfter.join('/')}` : `walk ${source}`,
              ),
            },
            [jobId, config, { resumeAfter }],
          );
          progress.filesRecorded += r.recorded;
          run.applySnapshot(r.snapshot);
          resumeAfter = r.resumeAfter ?? null;
          if (run.oneTime) {
            // The input ends with a whole pass that found every file settled.
            passUnsettled += r.unsettled;
            if (resumeAfter === null) {
              if (passUnsettled === 0) run.endOfInput();
              passUnsettled = 0;
            }
          }
          return resumeAfter === null;
        }
        const r = await scanFsDirectory(jobId, config);
        progress.filesRecorded += r.recorded;
        run.applySnapshot(r.snapshot);
        return true;
      },
    };
  },
};
