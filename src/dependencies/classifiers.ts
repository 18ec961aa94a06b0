/**
 * Which errors of the CLP DB and of Temporal waiting may fix (the network,
 * a server starting or full) and which it cannot (access, schema, a missing
 * namespace, refused credentials).
 */
import { NamespaceNotFoundError } from '@temporalio/common';
import { firstLine, type Classifier, type CodedError, type Dependency } from './dependency';

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
