/**
 * The bench bucket: `count` tiny log objects under `n<count>/`, uploaded once
 * and reused by every later run (uploading 100k objects takes minutes).
 */
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

export function prefixFor(count: number): string {
  return `n${count}/`;
}

export function keyFor(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(9, '0')}.log`;
}

/** A few realistic log lines; deterministic per index so reruns upload the same bytes. */
export function objectBody(i: number): string {
  const ts = Date.UTC(2026, 0, 1) + i * 137;
  const lines = [];
  for (let j = 0; j < 3; j++) {
    lines.push(
      `${new Date(ts + j).toISOString()} INFO [http-nio-8080-exec-${(i + j) % 32}] c.e.api.Orders - ` +
        `GET /api/v1/orders/${(i * 7919 + j) % 100_000} status=200 latency_ms=${(i + 13 * j) % 900}`,
    );
  }
  return lines.join('\n') + '\n';
}

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Runs `fn` over `items` with `concurrency` at once. */
export async function forEachConcurrent<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/**
 * Makes `n<count>/` hold exactly the objects 0..count-1 (uploading only what is
 * missing); returns how many were uploaded and how long it took.
 */
export async function ensureObjects(
  s3: S3Client,
  bucket: string,
  count: number,
  concurrency: number,
  log: (msg: string) => void,
): Promise<{ prefix: string; uploaded: number; ms: number }> {
  const prefix = prefixFor(count);
  const started = Date.now();
  await ensureBucket(s3, bucket);
  const existing = new Set(await listKeys(s3, bucket, prefix));
  const missing: number[] = [];
  for (let i = 0; i < count; i++) if (!existing.has(keyFor(prefix, i))) missing.push(i);
  const extra = existing.size - (count - missing.length);
  if (extra > 0) throw new Error(`s3://${bucket}/${prefix} holds ${extra} unexpected objects; empty it`);
  if (missing.length > 0) {
    log(`uploading ${missing.length} objects to s3://${bucket}/${prefix} (${concurrency} at once)`);
    let done = 0;
    await forEachConcurrent(missing, concurrency, async (i) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keyFor(prefix, i), Body: objectBody(i) }));
      if (++done % 10_000 === 0) log(`  ${done}/${missing.length} uploaded`);
    });
  }
  return { prefix, uploaded: missing.length, ms: Date.now() - started };
}

export async function deletePrefix(s3: S3Client, bucket: string, prefix: string): Promise<void> {
  const keys = await listKeys(s3, bucket, prefix);
  for (let i = 0; i < keys.length; i += 1000) {
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
  }
}
