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
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { NamespaceNotFoundError } from '@temporalio/common';
import type { Logger } from './executor/log';

export const BACKOFF_INITIAL_MS = 500;
export const BACKOFF_MAX_MS = 15_000;

/** A service, as logs name it: "Temporal at 127.0.0.1:7233", "CLP DB at 127.0.0.1:3307". */
export interface Dependency {
  name: string;
  address: string;
}

export const describe = (d: Dependency) => `${d.name} at ${d.address}`;

/** Why an attempt failed in a way that waiting may fix. */
export interface WaitReason {
  dependency: Dependency;
  /** "not reachable" (network), "not ready" (it answers, but refuses for now) */
  state: 'not reachable' | 'not ready';
  /** ECONNREFUSED, ER_CON_COUNT_ERROR: Too many connections, ... */
  reason: string;
}

/** Maps an error to a reason to wait, or null when waiting cannot help. */
export type Classifier = (err: unknown) => WaitReason | null;

/** A wait ran past CLP_INGESTOR_DEPENDENCY_WAIT_SEC. */
export class DependencyTimeoutError extends Error {
  override name = 'DependencyTimeoutError';
}

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
      dependency: dependency.name,
      address: dependency.address,
      waited_ms: this.elapsedMs,
    });
    this.reset();
  }
}

export function formatDelay(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** "Temporal at 127.0.0.1:7233 not reachable (ECONNREFUSED); retrying in 4 s" */
export function waitMessage(r: WaitReason, delayMs: number): string {
  return `${describe(r.dependency)} ${r.state} (${r.reason}); retrying in ${formatDelay(delayMs)}`;
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
          dependency: last.dependency.name,
          address: last.dependency.address,
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
        dependency: why.dependency.name,
        address: why.dependency.address,
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
          dependency: dependency.name,
          address: dependency.address,
          reason: why.reason,
          retry_in_ms: delay,
          waited_ms: backoff.elapsedMs,
        },
      );
    }
    await sleep(delay, undefined, { signal: opts.signal }).catch(() => undefined);
  }
}

// ------------------------------------------------------------- the CLP DB ---

/** Network errors: the server is not there (yet), or the connection broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);

/** MariaDB answers but cannot serve us for now (starting, shutting down, full). */
const DB_NOT_READY_CODES = new Set([
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_SHUTDOWN_COMPLETE',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_OPTION_PREVENTS_STATEMENT', // read-only while a replica is promoted
]);

interface CodedError {
  code?: unknown;
  details?: unknown;
  sqlMessage?: unknown;
  message?: unknown;
  cause?: unknown;
}

/** The CLP DB as logs name it. */
export function dbDependency(db: { host: string; port: number }): Dependency {
  return { name: 'CLP DB', address: `${db.host}:${db.port}` };
}

/** Waits on the DB's network and availability errors; SQL, access and schema errors are not waited on. */
export function dbClassifier(dependency: Dependency): Classifier {
  return (err) => {
    for (
      let e = err as CodedError | undefined, depth = 0;
      e && depth < 5;
      e = e.cause as CodedError, depth++
    ) {
      const code = typeof e.code === 'string' ? e.code : undefined;
      if (!code) continue;
      if (NETWORK_CODES.has(code)) return { dependency, state: 'not reachable', reason: code };
      if (DB_NOT_READY_CODES.has(code)) {
        const detail = typeof e.sqlMessage === 'string' ? `: ${e.sqlMessage}` : '';
        return { dependency, state: 'not ready', reason: `${code}${detail}` };
      }
    }
    return null;
  };
}

// -------------------------------------------------------------- Temporal ---

/** gRPC status codes worth waiting on: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED. */
const GRPC_TRANSIENT = new Set([14, 4, 8, 10]);

export function temporalDependency(address: string): Dependency {
  return { name: 'Temporal', address };
}

/**
 * A Temporal answer that waiting cannot fix: a missing namespace, refused
 * credentials. Returns the one line to stop with, or null.
 */
export function temporalConfigError(err: unknown, namespace: string, address: string): string | null {
  const message = String((err as CodedError)?.message ?? err);
  const code = (err as CodedError)?.code;
  if (
    err instanceof NamespaceNotFoundError ||
    /Namespace \S+ (is|was) not found|code: NotFound/.test(message) ||
    code === 5
  ) {
    return (
      `Temporal at ${address} has no namespace "${namespace}": create it ` +
      `(temporal operator namespace create -n ${namespace}) or set TEMPORAL_NAMESPACE`
    );
  }
  if (/code: (Unauthenticated|PermissionDenied)/.test(message) || code === 16 || code === 7) {
    return `Temporal at ${address} refused the credentials: ${firstLine(message)}`;
  }
  return null;
}

/**
 * Waits on Temporal's network errors and UNAVAILABLE answers. A missing
 * namespace or refused credentials are configuration errors, not waited on.
 */
export function temporalClassifier(dependency: Dependency): Classifier {
  return (err) => {
    if (temporalConfigError(err, '', dependency.address)) return null;
    const e = err as CodedError & { name?: unknown };
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
      return { dependency, state: 'not reachable', reason: e.code };
    }
    if (typeof e.code === 'number' && GRPC_TRANSIENT.has(e.code)) {
      return { dependency, state: 'not ready', reason: firstLine(e.details ?? e.message) };
    }
    const message = typeof e.message === 'string' ? e.message : '';
    // The client's "Failed to connect before the deadline", the native
    // connection's TransportError ("tcp connect error", TLS handshake, ...).
    if (
      e.name === 'TransportError' ||
      /Failed to connect before the deadline|transport error/i.test(message)
    ) {
      const os = /ConnectionRefused|Connection refused/.test(message) ? 'ECONNREFUSED' : firstLine(message);
      return { dependency, state: 'not reachable', reason: os };
    }
    return null;
  };
}

/** Either classifier's answer: for steps that need both (reconciliation). */
export function anyOf(...classifiers: Classifier[]): Classifier {
  return (err) => {
    for (const c of classifiers) {
      const r = c(err);
      if (r) return r;
    }
    return null;
  };
}

function firstLine(message: unknown): string {
  const s = typeof message === 'string' ? message : String(message);
  const line = s.split('\n')[0]!.trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

/** host:port, [v6]:port, or a bare host (port 7233, Temporal's). */
export function parseHostPort(address: string, defaultPort = 7233): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!m) return { host: address, port: defaultPort };
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
}

/**
 * Opens and closes a TCP connection: tells "nothing listens" (ECONNREFUSED),
 * "no route" or "no such host" apart before a gRPC client turns them all into
 * "Failed to connect before the deadline" ten seconds later.
 */
export function probeTcp(address: string, timeoutMs = 5_000): Promise<void> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const done = (err?: Error) => {
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () =>
      done(Object.assign(new Error(`connect ETIMEDOUT ${address}`), { code: 'ETIMEDOUT' })),
    );
    socket.once('connect', () => done());
    socket.once('error', done);
  });
}
