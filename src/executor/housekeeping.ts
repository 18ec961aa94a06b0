/**
 * What an executor cleans up after executors that died: their staging
 * directories, and the RUNNING jobs whose lease expired.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Classifier } from '../dependencies';
import type { Db } from '../store/db';
import { stagingRoot } from './archive-store';
import { killOrphanedJobs, liveClaimTokens } from './job-store';
import { errorFields, type Logger } from '../common/log';

/**
 * Removes staging directories no live claim owns: leftovers of executors that
 * died mid-archive. Directories of live leases (other executors sharing this
 * archive directory) are left alone.
 */
export async function cleanStaleStaging(pool: Db, archivesDir: string, log: Logger): Promise<string[]> {
  const root = stagingRoot(archivesDir);
  const names = await readdir(root).catch(() => [] as string[]);
  if (names.length === 0) return [];
  const live = await liveClaimTokens(pool);
  const stale = names.filter((n) => !live.has(n));
  for (const name of stale) await rm(path.join(root, name), { recursive: true, force: true });
  if (stale.length) log.info('removed stale staging directories', { staging: stale });
  return stale;
}

/**
 * Marks KILLED the RUNNING jobs whose executor died (lease expired), as CLP's
 * scheduler does with every RUNNING job it finds at start-up, and removes
 * their half-written archives. Never throws.
 */
export async function killOrphans(
  ctx: { pool: Db; archivesDir: string; log: Logger },
  unavailable: Classifier,
): Promise<void> {
  try {
    for (const dead of await killOrphanedJobs(ctx.pool)) {
      ctx.log.warn('job KILLED: the executor holding it died', {
        compression_job_id: dead.jobId,
        dead_executor_id: dead.executorId,
      });
      if (dead.claimToken) {
        await rm(path.join(stagingRoot(ctx.archivesDir), dead.claimToken), { recursive: true, force: true });
      }
    }
  } catch (err) {
    // An unreachable DB is reported by the claim loop, once per wait.
    if (!unavailable(err)) ctx.log.error('killing orphaned jobs failed', errorFields(err));
  }
}
