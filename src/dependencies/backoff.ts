import type { Logger } from '../common/log';
import { dependencyFields, describe, formatDelay, type Dependency } from './dependency';

const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 15_000;

/** Capped exponential backoff: 0.5 s, 1 s, 2 s, ... 15 s, 15 s, ... */
export class Backoff {
  private attempt = 0;
  private since: number | null = null;
  constructor(
    private readonly initialMs = BACKOFF_INITIAL_MS,
    private readonly maxMs = BACKOFF_MAX_MS,
  ) {}

  /** The delay before the next attempt; the first call starts the outage clock. */
  next(): number {
    this.since ??= Date.now();
    const delay = Math.min(this.initialMs * 2 ** this.attempt, this.maxMs);
    this.attempt += 1;
    return delay;
  }

  /** How long the failures have lasted (0 when there were none). */
  get elapsedMs(): number {
    return this.since === null ? 0 : Date.now() - this.since;
  }

  get failing(): boolean {
    return this.since !== null;
  }

  reset(): void {
    this.attempt = 0;
    this.since = null;
  }

  /** After failures, logs that `dependency` is back and how long it was away, and starts over. */
  recovered(log: Pick<Logger, 'info'>, dependency: Dependency): void {
    if (!this.failing) return;
    log.info(`${describe(dependency)} available again after ${formatDelay(this.elapsedMs)}`, {
      ...dependencyFields(dependency),
      waited_ms: this.elapsedMs,
    });
    this.reset();
  }
}
