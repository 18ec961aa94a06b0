/**
 * S3 event notifications as they arrive on SQS (directly, or wrapped in an
 * SNS envelope): which records name a file the job should ingest. Pure, so
 * every odd message shape is unit-tested without a queue.
 */
import type { NewS3File } from '../../store/ingestion-store';

export interface EventFilter {
  bucket: string;
  prefix: string;
}

export interface ParseOptions {
  /**
   * A message whose ObjectCreated records all fall outside every filter is
   * ignored (counted, with a reason) rather than accepted with no files.
   */
  ignoreOutside?: boolean;
}

export const OUTSIDE_SOURCES = "S3 notification outside the job's sources (bucket and key prefix pairs)";

export type ParsedMessage =
  | { kind: 'files'; files: NewS3File[] } // a notification; files may be empty (irrelevant records)
  | { kind: 'ignored'; reason: string }; // not something this listener understands

interface S3Record {
  eventSource?: unknown;
  eventName?: unknown;
  eventTime?: unknown;
  s3?: {
    bucket?: { name?: unknown };
    object?: { key?: unknown; size?: unknown; sequencer?: unknown; eTag?: unknown };
  };
}

/** S3 notification keys are form-URL-encoded: `+` is a space, then %XX escapes. */
export function decodeEventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

export function parseS3EventMessage(
  body: string,
  filters: EventFilter | EventFilter[],
  opts: ParseOptions = {},
): ParsedMessage {
  const list = Array.isArray(filters) ? filters : [filters];
  let msg: unknown;
  try {
    msg = JSON.parse(body);
  } catch {
    return { kind: 'ignored', reason: 'malformed JSON' };
  }
  // SNS fan-out wraps the notification in {"Type":"Notification","Message":"..."}.
  if (isObject(msg) && msg.Type === 'Notification' && typeof msg.Message === 'string') {
    return parseS3EventMessage(msg.Message, list, opts);
  }
  if (isObject(msg) && msg.Event === 's3:TestEvent') return { kind: 'ignored', reason: 'S3 test event' };
  if (!isObject(msg) || !Array.isArray(msg.Records)) {
    return { kind: 'ignored', reason: 'not an S3 event notification (no Records array)' };
  }
  const files: NewS3File[] = [];
  let outside = 0;
  let inside = 0;
  for (const r of msg.Records as S3Record[]) {
    if (!isObject(r) || typeof r.eventName !== 'string' || !isObject(r.s3)) {
      return { kind: 'ignored', reason: 'malformed S3 event record' };
    }
    if (!r.eventName.startsWith('ObjectCreated:')) continue;
    const s3 = r.s3 as NonNullable<S3Record['s3']>;
    const bucket = s3.bucket?.name;
    const rawKey = s3.object?.key;
    if (typeof bucket !== 'string' || typeof rawKey !== 'string') {
      return { kind: 'ignored', reason: 'S3 event record without bucket name or object key' };
    }
    if (!list.some((f) => f.bucket === bucket)) {
      outside += 1;
      continue;
    }
    let key: string;
    try {
      key = decodeEventKey(rawKey);
    } catch {
      return {
        kind: 'ignored',
        reason: `S3 event record with a malformed key encoding: ${rawKey.slice(0, 100)}`,
      };
    }
    if (!list.some((f) => f.bucket === bucket && key.startsWith(f.prefix))) {
      outside += 1;
      continue;
    }
    inside += 1;
    if (key.endsWith('/')) continue;
    const o = s3.object ?? {};
    const size = typeof o.size === 'number' && Number.isSafeInteger(o.size) && o.size >= 0 ? o.size : 0;
    // The sequencer orders events of one key: a later upload of the same key
    // is a new file; a redelivery of the same event is not.
    const version =
      typeof o.sequencer === 'string' ? o.sequencer : `${String(r.eventTime ?? '')}|${String(o.eTag ?? '')}`;
    files.push({ s3: { bucket, key }, size, version });
  }
  if (opts.ignoreOutside && outside > 0 && inside === 0) return { kind: 'ignored', reason: OUTSIDE_SOURCES };
  return { kind: 'files', files };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
