/** A local-directory job's worker half. */
import { clpPath } from '../../activities/clp-input';
import type { SourceKindWorkerHalf } from '../worker-half';
import { fsScanActivities } from './activities';
import type { FsConfig } from './config';

type Job = { kind: 'fs'; config: FsConfig };

export const fsWorkerHalf = {
  activities: (deps) => fsScanActivities(deps),
  // Paths as CLP's workers see them: under the mount root of CLP's package.
  clpInput: (_jobId, { config: c }, files, settings) => {
    const root = settings.clp.fsMountRoot;
    return {
      type: 'fs',
      paths_to_compress: files.map((f) => clpPath(f.path, root)),
      path_prefix_to_remove: clpPath(c.directory, root),
      dataset: c.dataset,
      timestamp_key: c.timestamp_key ?? null,
      unstructured: c.unstructured,
    };
  },
  flushesPerBucket: () => false,
} satisfies SourceKindWorkerHalf<Job, ReturnType<typeof fsScanActivities>>;
