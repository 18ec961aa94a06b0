/**
 * What a job reads and whether it ends by itself: plain functions of a parsed
 * config, without zod, so the workflow bundle may import them too.
 */
import type { JobConfig } from './job-config';

/** What a job reads, for listings: s3://bucket/prefix, the directory, or the object list's bucket and count. */
export function jobSource(job: JobConfig): string {
  if (job.kind === 'fs') return job.config.directory;
  const at = `s3://${job.config.bucket_name}/${job.config.key_prefix}`;
  if (job.kind !== 's3_object_list') return at;
  const n = job.config.urls.length;
  return `${at} (${n} object${n === 1 ? '' : 's'}${job.config.endpoint_url ? ` at ${job.config.endpoint_url}` : ''})`;
}

/** Whether the job scans its input once and then finishes. */
export function isOneTime(job: JobConfig): boolean {
  return (
    job.kind === 's3_object_list' ||
    ((job.kind === 's3_scanner' || job.kind === 'fs') && job.config.one_time === true)
  );
}
