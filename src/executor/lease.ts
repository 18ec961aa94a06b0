/**
 * Keeps a claim's lease alive while its job runs: renews it every third of
 * the lease, so two renewals can fail (a DB blip) before it lapses. Reports
 * the lease lost when the DB says it is someone else's, or when renewals have
 * failed for a whole lease period (another executor may have it by now).
 */
import type { Db } from '../store/db';
import { renewLease, type Claim } from './job-store';
import { errorFields, type Logger } from '../common/log';

export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

export interface LeaseKeeper {
  /** Stops renewing (waiting for a renewal in flight). */
  stop(): Promise<void>;
}

export function keepLease(
  db: Db,
  claim: Claim,
  leaseMs: number,
  log: Logger,
  onLost: (err: LeaseLostError) => void,
): LeaseKeeper {
  let lastRenewed = Date.now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const lost = (why: string) => {
    stopped = true;
    log.warn('lease lost', { reason: why });
    onLost(new LeaseLostError(`lease on compression job ${claim.jobId} lost: ${why}`));
  };

  const renew = async () => {
    try {
      if (await renewLease(db, claim, leaseMs)) lastRenewed = Date.now();
      else return lost('the job is no longer RUNNING (KILLED after its lease expired?)');
    } catch (err) {
      log.warn('lease renewal failed', errorFields(err));
      if (Date.now() - lastRenewed >= leaseMs) return lost('renewals failed for a whole lease period');
    }
    schedule();
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = renew();
    }, leaseMs / 3);
  };

  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
