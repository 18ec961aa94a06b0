/**
 * Structured logs: one JSON object per line, so a log shipper (or `jq`) can
 * follow one compression job across executors by its compression_job_id.
 */
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

/** A Temporal SDK log entry (its Runtime logger's), as one of our JSON records. */
export function sdkLogRecord(entry: {
  level: string;
  message: string;
  timestampNanos: bigint;
  meta?: Record<string, unknown>;
}): LogFields {
  const fields: LogFields = {};
  for (const [k, v] of Object.entries(entry.meta ?? {})) {
    if (v instanceof Error) Object.assign(fields, errorFields(v));
    else if (typeof v === 'bigint') fields[k] = v.toString();
    else fields[k] = v;
  }
  return {
    ts: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
    level: entry.level.toLowerCase(),
    msg: entry.message,
    ...fields,
  };
}
