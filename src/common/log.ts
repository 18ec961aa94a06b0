/**
 * Structured logs, the same shape from every process (worker, executor, REST
 * API, the supervisor in scripts/stack.sh): one JSON object per line with `ts`
 * (ISO 8601, UTC), `level` (debug|info|warn|error), `msg`, then the event's
 * fields (job_id, workflowId, activityType, compression_job_id, ...), so a log
 * shipper, `jq` or an fs job of this ingestor (timestamp key `ts`) takes them as
 * they are. Secrets are never fields: no setting or request header is logged.
 */
import { readSettings } from '../config/env-schema';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
/** Where finished log records go; tests collect them instead of printing. */
export type LogSink = (record: LogFields) => void;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds these fields to every record (e.g. the job id). */
  child(fields: LogFields): Logger;
}

export const stdoutSink: LogSink = (record) => {
  process.stdout.write(JSON.stringify(record) + '\n');
};

/** Errors do not serialise to JSON by themselves; keep what a reader needs. */
export function errorFields(err: unknown): LogFields {
  if (err instanceof Error) return { error: err.message, error_name: err.name };
  return { error: String(err) };
}

/**
 * Node's own diagnostics as our JSON lines too: process warnings (Node prints
 * them as text on stderr by default; the AWS SDK's are among them) and an
 * uncaught error, logged with its stack before the process exits 1 as Node would.
 */
export function logProcessEvents(log: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) =>
    log.warn(w.message, { warning: w.name, code: w.code }),
  );
  process.on('uncaughtException', (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    log.error(`uncaught ${e.name}: ${e.message}`, { ...errorFields(err), stack: e.stack });
    process.exit(1);
  });
}

/**
 * Options for fastify's logger (pino) that give its lines our shape: `ts` as an
 * ISO time instead of epoch milliseconds, `level` as a word instead of a number,
 * no hostname (buildServer adds the redaction of the Authorization header).
 */
export function fastifyLoggerOptions(level: string) {
  return {
    level,
    base: null,
    timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    messageKey: 'msg',
    formatters: { level: (label: string) => ({ level: label }) },
  };
}

export function createLogger(sink: LogSink = stdoutSink, base: LogFields = {}): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields) =>
    sink({ ts: new Date().toISOString(), level, msg, ...base, ...fields });
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger(sink, { ...base, ...fields }),
  };
}

/** The Temporal SDK's log level for its Runtime logger (CLP_INGESTOR_LOG_LEVEL, default INFO). */
export function sdkLogLevel(): 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' {
  const level = readSettings(process.env, ['CLP_INGESTOR_LOG_LEVEL']).CLP_INGESTOR_LOG_LEVEL.toUpperCase();
  return (['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const).find((l) => l === level) ?? 'INFO';
}

const SNAKE_KEYS: Record<string, string> = { jobId: 'job_id', compressionJobId: 'compression_job_id' };

/** A Temporal SDK log entry (its Runtime logger's), as one of our JSON records. */
export function sdkLogRecord(entry: {
  level: string;
  message: string;
  timestampNanos: bigint;
  meta?: Record<string, unknown>;
}): LogFields {
  const fields: LogFields = {};
  for (const [k, v] of Object.entries(entry.meta ?? {})) {
    // An activity's task token completes it for whoever holds it (and is 120 characters of noise).
    if (k === 'taskToken') continue;
    // The workflow's own lines say jobId; every process's lines say job_id (and compression_job_id).
    const key = SNAKE_KEYS[k] ?? k;
    if (v instanceof Error) Object.assign(fields, errorFields(v));
    else if (typeof v === 'bigint') fields[key] = v.toString();
    else fields[key] = v;
  }
  // The SDK's lines name the workflow: a job's (clp-ingestion-job-<id>, lifecycle.ts) gives its id.
  const jobOf = typeof fields.workflowId === 'string' && /^clp-ingestion-job-(\d+)$/.exec(fields.workflowId);
  if (fields.job_id === undefined && jobOf) fields.job_id = Number(jobOf[1]);
  return {
    ts: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
    level: entry.level.toLowerCase(),
    msg: entry.message,
    ...fields,
  };
}
