/** When a long ingest call must return so that the workflow flushes. */
import type { BufferConfig } from '../config/job-config';
import type { BufferSnapshot } from '../store/ingestion-store';

/**
 * The workflow flushes on its own timers for every file it knows is
 * buffered: those recorded before the current ingest call began (earlier
 * calls and flushes returned them in their snapshots). It learns of files
 * recorded during a long call (an S3 scan pass, an SQS receive period) only
 * when the call returns, so the call returns by:
 *  - `timeout_sec` after the oldest buffered file, when that file was
 *    recorded during this call (`callStart` or later), and
 *  - at once when this call pushed the buffer over the size threshold.
 * Returns that time (ms since epoch), or Infinity.
 */
export function returnForFlushAt(
  buffer: BufferConfig,
  s: BufferSnapshot,
  callStart: { ts: number; bytes: number },
): number {
  if (s.files === 0 || s.oldestTs === null) return Infinity;
  if (s.bytes >= buffer.flush_threshold_bytes && callStart.bytes < buffer.flush_threshold_bytes) return 0;
  return s.oldestTs >= callStart.ts ? s.oldestTs + buffer.timeout_sec * 1000 : Infinity;
}

/**
 * What the workflow knew of the buffer when it scheduled this call, as the
 * `callStart` of returnForFlushAt. A first attempt begins from the snapshot
 * the workflow holds: files recorded before it were returned by earlier
 * calls. A retry may follow an attempt that recorded files (and perhaps
 * crossed the threshold) but never returned (it timed out, failed, or its
 * worker died): the workflow may know of nothing in the buffer, so every
 * buffered file counts as recorded during this call.
 */
export function callStartFor(
  info: { attempt: number },
  atStart: BufferSnapshot,
  now: number = Date.now(),
): { ts: number; bytes: number } {
  return info.attempt > 1 ? { ts: -Infinity, bytes: 0 } : { ts: now, bytes: atStart.bytes };
}
