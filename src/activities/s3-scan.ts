/** The S3 scanner: one activity call lists and records one page. */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3ScannerConfig } from '../config/job-config';
import type { BufferSnapshot } from '../store/ingestion-store';
import type { ActivityDeps } from './deps';
import { classifyAwsError } from './errors';

export interface ScanResult {
  /** Files newly recorded by this call. */
  recorded: number;
  /** True when the listing reached the end of the prefix. */
  exhausted: boolean;
  snapshot: BufferSnapshot;
}

export function s3ScanActivities({ store, s3 }: ActivityDeps) {
  return {
    /**
     * Lists one page after the persisted cursor (or `start_after`) and records
     * it with the advanced cursor in one transaction. The cursor lives in the
     * DB, not in the workflow, so a retry after a commit lists the next page;
     * rows are unique per path, so nothing is ever recorded twice.
     */
    async scanS3Page(jobId: number, config: S3ScannerConfig, pageSize = 1000): Promise<ScanResult> {
      const cursor = await store.getScannerCursor(jobId);
      const client = s3({ region: config.region, endpointUrl: config.endpoint_url });
      const page = await client
        .send(
          new ListObjectsV2Command({
            Bucket: config.bucket_name,
            Prefix: config.key_prefix,
            StartAfter: cursor ?? config.start_after,
            MaxKeys: pageSize,
          }),
        )
        .catch((err) => classifyAwsError(err, `listing s3://${config.bucket_name}/${config.key_prefix}`));
      const objects = page.Contents ?? [];
      const files = objects
        .filter((o) => o.Key !== undefined && !o.Key.endsWith('/'))
        .map((o) => ({
          path: `${config.bucket_name}/${o.Key}`,
          s3: { bucket: config.bucket_name, key: o.Key! },
          size: o.Size ?? 0,
        }));
      // The cursor passes only objects older than the settle delay: a key that
      // is still being uploaded beside a newer, larger key will not be left
      // behind it. Newer objects are recorded now and listed again (deduped).
      const settledBefore = Date.now() - config.settle_delay_sec * 1000;
      let newCursor: string | null = null;
      for (const o of objects) {
        if ((o.LastModified?.getTime() ?? 0) > settledBefore) break;
        newCursor = o.Key ?? newCursor;
      }
      const recorded = objects.length ? await store.recordS3Page(jobId, files, cursor, newCursor) : 0;
      // A page the cursor cannot pass yet counts as the end of the listing for now.
      const heldBack = newCursor !== objects.at(-1)?.Key;
      return {
        recorded,
        exhausted: !page.IsTruncated || heldBack,
        snapshot: await store.bufferSnapshot(jobId),
      };
    },
  };
}
