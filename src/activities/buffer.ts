/** When the job's buffer must be flushed, as long ingest calls see it. */
import type { BufferConfig } from '../config/job-config';
import type { BufferSnapshot } from '../store/ingestion-store';

/**
 * The time (ms since epoch) at which the buffer is due for a flush: now when
 * it has reached the size threshold, else `timeout_sec` after its oldest
 * file; Infinity when it is empty. The workflow flushes only when an ingest
 * call returns, so long calls return by this time.
 */
export function flushDueAt(buffer: BufferConfig, s: BufferSnapshot): number {
  if (s.files === 0 || s.oldestTs === null) return Infinity;
  if (s.bytes >= buffer.flush_threshold_bytes) return 0;
  return s.oldestTs + buffer.timeout_sec * 1000;
}
