/**
 * Waiting for the services a worker or an executor needs: Temporal and the CLP
 * DB. A process started while one of them is down (or that loses it later)
 * waits with capped exponential backoff (0.5 s doubling to 15 s), says in its
 * log what it waits for and why ("Temporal at 127.0.0.1:7233 not reachable
 * (ECONNREFUSED); retrying in 4 s"), and goes on when the service answers.
 * CLP_INGESTOR_DEPENDENCY_WAIT_SEC bounds a wait (0, the default: forever).
 *
 * Errors that waiting cannot fix (wrong password, missing database or
 * namespace, refused credentials) are not waited on: they stop the process
 * with one line naming what is wrong.
 *
 * Its parts are in ./dependencies/: the dependency and the log's words for it,
 * the backoff, the classifiers of the DB's and Temporal's errors, a TCP probe.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/log';
import { Backoff } from './backoff';
import {
  dependencyFields,
  describe,
  firstLine,
  formatDelay,
  waitMessage,
  type Classifier,
  type CodedError,
  type Dependency,
  type WaitReason,
} from './dependency';

export { Backoff } from './backoff';
export {
  anyOf,
  dbClassifier,
  dbDependency,
  temporalClassifier,
  temporalConfigError,
  temporalDependency,
} from './classifiers';
export {
  dependencyFields,
  describe,
  waitMessage,
  type Classifier,
  type Dependency,
  type WaitReason,
} from './dependency';
export { parseHostPort, probeTcp } from './tcp';

/** A wait ran past CLP_INGESTOR_DEPENDENCY_WAIT_SEC. */
export class DependencyTimeoutError extends Error {
  override name = 'DependencyTimeoutError';
}

export interface WaitOptions {
  /** Give up after this long; 0 waits forever. */
  timeoutMs: number;
  log: Logger;
  /** Aborting ends the wait with the signal's reason (a shutdown while waiting). */
  signal?: AbortSignal;
  backoff?: Backoff;
}

/**
 * Runs `attempt` until it succeeds. A failure the classifier calls temporary
 * is logged as what it is and retried after a capped exponential backoff;
 * any other failure is thrown at once.
 */
export async function untilAvailable<T>(
  attempt: () => Promise<T>,
  classify: Classifier,
  opts: WaitOptions,
): Promise<T> {
  const backoff = opts.backoff ?? new Backoff();
  let last: WaitReason | null = null;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const value = await attempt();
      if (last) {
        opts.log.info(`${describe(last.dependency)} available after ${formatDelay(backoff.elapsedMs)}`, {
          ...dependencyFields(last.dependency),
          waited_ms: backoff.elapsedMs,
        });
      }
      return value;
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const why = classify(err);
      if (!why) throw err;
      last = why;
      const delay = backoff.next();
      if (opts.timeoutMs > 0 && backoff.elapsedMs + delay > opts.timeoutMs) {
        throw new DependencyTimeoutError(
          `${describe(why.dependency)} ${why.state} (${why.reason}) for ${formatDelay(backoff.elapsedMs)}; ` +
            `gave up (CLP_INGESTOR_DEPENDENCY_WAIT_SEC=${opts.timeoutMs / 1000})`,
        );
      }
      opts.log.warn(waitMessage(why, delay), {
        ...dependencyFields(why.dependency),
        reason: why.reason,
        retry_in_ms: delay,
        waited_ms: backoff.elapsedMs,
      });
      await sleep(delay, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
}

export interface WatchOptions {
  log: Logger;
  signal: AbortSignal;
  /** Between checks while the dependency answers. */
  intervalMs?: number;
  /** What the process does meanwhile, for the log ("activities are retried"). */
  meanwhile: string;
}

/**
 * Checks a dependency of a running process until the signal aborts: one log
 * line per failed check (capped backoff between them) and one when it answers
 * again, in place of a line per failed call. Never throws.
 */
export async function watch(
  dependency: Dependency,
  check: () => Promise<unknown>,
  classify: Classifier,
  opts: WatchOptions,
): Promise<void> {
  const backoff = new Backoff();
  while (!opts.signal.aborted) {
    let delay = opts.intervalMs ?? 5_000;
    try {
      await check();
      backoff.recovered(opts.log, dependency);
    } catch (err) {
      if (opts.signal.aborted) return;
      const why = classify(err) ?? {
        dependency,
        state: 'not ready' as const,
        reason: firstLine((err as CodedError)?.message ?? err),
      };
      delay = backoff.next();
      opts.log.warn(
        `${describe(dependency)} ${why.state} (${why.reason}); ${opts.meanwhile}; next check in ${formatDelay(delay)}`,
        {
          ...dependencyFields(dependency),
          reason: why.reason,
          retry_in_ms: delay,
          waited_ms: backoff.elapsedMs,
        },
      );
    }
    await sleep(delay, undefined, { signal: opts.signal }).catch(() => undefined);
  }
}
