/** A service a process waits for, why it waits, and how the log says so. */

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

/** The fields every log line about a dependency carries. */
export function dependencyFields(d: Dependency): { dependency: string; address: string } {
  return { dependency: d.name, address: d.address };
}

export function formatDelay(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** "Temporal at 127.0.0.1:7233 not reachable (ECONNREFUSED); retrying in 4 s" */
export function waitMessage(r: WaitReason, delayMs: number): string {
  return `${describe(r.dependency)} ${r.state} (${r.reason}); retrying in ${formatDelay(delayMs)}`;
}

/** What an error may carry, from mysql2, gRPC or Node's net. */
export interface CodedError {
  code?: unknown;
  details?: unknown;
  sqlMessage?: unknown;
  message?: unknown;
  cause?: unknown;
}

export function firstLine(message: unknown): string {
  const s = typeof message === 'string' ? message : String(message);
  const line = s.split('\n')[0]!.trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}
