/** Job configs as tests submit them. */

/**
 * An s3_scanner config: `bucket` under `prefix`, listed every second, a buffer
 * flushed a second after its first file. Fields of `extra` replace these whole
 * (a `buffer_config` given replaces the default one).
 */
export function s3ScannerConfig(bucket: string, prefix: string, extra: Record<string, unknown> = {}) {
  return {
    bucket_name: bucket,
    key_prefix: prefix,
    scanning_interval_sec: 1,
    buffer_config: { timeout_sec: 1 },
    ...extra,
  };
}

/** A buffer_config that flushes a second after its first file, never by size (1 GiB: no test reaches it). */
export const timeoutOnlyBuffer = () => ({ flush_threshold_bytes: 1 << 30, timeout_sec: 1 });

/**
 * An sqs_listener config: notifications from `queueUrl` for `bucket` under
 * `prefix`, long polls of a second, a buffer flushed a second after its first
 * file. Fields of `extra` replace these whole.
 */
export function sqsListenerConfig(
  bucket: string,
  prefix: string,
  queueUrl: string,
  extra: Record<string, unknown> = {},
) {
  return {
    bucket_name: bucket,
    key_prefix: prefix,
    queue_url: queueUrl,
    wait_time_sec: 1,
    buffer_config: { timeout_sec: 1 },
    ...extra,
  };
}
