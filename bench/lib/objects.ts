/**
 * The bench bucket: `count` small log objects under `j<count>/`, each a few
 * JSON log events (what clp-s compresses), uploaded once and reused by every
 * later run (uploading 100k objects takes minutes). The prefix scheme is `j`
 * because earlier versions kept plain-text objects under `n<count>/`: those
 * are never listed now, so an old bucket cannot pass for a new one.
 */
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** The dataset of every bench job (its archives go to clp_bench_archives). */
export const BENCH_DATASET = 'bench';
/**
 * The dataset of a warm-up job run before the clock (peer and SQS phases): a
 * job into the measured job's dataset would be refused as overlapping while
 * the warm-up job's row is open.
 */
export const WARMUP_DATASET = `${BENCH_DATASET}_warmup`;
/** The field of objectBody's events the compression jobs name as timestamp_key. */
export const BENCH_TIMESTAMP_KEY = 'timestamp';

export function prefixFor(count: number): string {
  return `j${count}/`;
}

export function keyFor(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(9, '0')}.jsonl`;
}

/** A deterministic 32-bit mix of `i` and `salt` (the same on every run, so bodies never change). */
function mix(i: number, salt: number): number {
  let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

const hex = (x: number) => x.toString(16).padStart(8, '0');

const SERVICES = [
  { name: 'orders-api', logger: 'c.e.orders.OrderController', path: '/api/v1/orders' },
  { name: 'payments', logger: 'c.e.payments.ChargeService', path: '/api/v1/charges' },
  { name: 'inventory', logger: 'c.e.inventory.StockResource', path: '/api/v2/stock' },
  { name: 'auth', logger: 'c.e.auth.TokenEndpoint', path: '/oauth/token' },
] as const;
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'] as const;

/**
 * One object's events: 3 to 5 JSON log events of one service and host (an
 * HTTP request log with a trace id, user, status and latency; about one in
 * ten a WARN with a slow-query field, one in thirty an ERROR with an error
 * object), timestamps 137 ms apart per object. Deterministic per index, so
 * reruns upload the same bytes; about 1.1 KB an object.
 */
export function objectBody(i: number): string {
  const svc = SERVICES[i % SERVICES.length];
  const host = `${svc.name}-${mix(i >> 6, 1) % 8}`;
  const start = Date.UTC(2026, 0, 1) + i * 137;
  const events = 3 + (mix(i, 2) % 3);
  let out = '';
  for (let j = 0; j < events; j++) {
    const r = mix(i, 10 + j);
    const method = METHODS[r % METHODS.length];
    const id = mix(i, 20 + j) % 100_000;
    const latency = 2 + ((r >>> 8) % 250);
    const roll = (r >>> 20) % 30;
    const level = roll === 0 ? 'ERROR' : roll < 3 ? 'WARN' : 'INFO';
    const status = level === 'ERROR' ? 500 : method === 'POST' ? 201 : roll === 3 ? 404 : 200;
    const event: Record<string, unknown> = {
      timestamp: new Date(start + j * 7 + (r % 5)).toISOString(),
      level,
      service: svc.name,
      host,
      thread: `http-nio-8080-exec-${(r >>> 4) % 32}`,
      logger: svc.logger,
      trace_id: hex(mix(i, 30)) + hex(mix(i, 31)),
      span_id: hex(mix(i, 40 + j)),
      user_id: `u-${mix(i, 3) % 5000}`,
      http: {
        method,
        path: `${svc.path}/${id}`,
        status,
        latency_ms: level === 'WARN' ? latency + 800 : latency,
      },
      msg:
        level === 'ERROR'
          ? `${method} ${svc.path}/${id} failed: upstream timed out after 3000 ms`
          : level === 'WARN'
            ? `slow request ${method} ${svc.path}/${id} (${latency + 800} ms)`
            : `${method} ${svc.path}/${id} ${status}`,
    };
    if (level === 'WARN') event.db = { statement: 'SELECT * FROM stock WHERE sku = ?', rows: r % 40 };
    if (level === 'ERROR')
      event.error = { type: 'java.net.SocketTimeoutException', message: 'Read timed out', retries: r % 3 };
    out += JSON.stringify(event) + '\n';
  }
  return out;
}

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

/** Every object under `prefix` with its size, in listing order. */
export async function listObjects(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<{ key: string; size: number }[]> {
  const objects: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }),
    );
    for (const o of page.Contents ?? []) if (o.Key) objects.push({ key: o.Key, size: Number(o.Size ?? 0) });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  return (await listObjects(s3, bucket, prefix)).map((o) => o.key);
}

/** The bytes of objects 0..count-1 (what every phase over `j<count>/` reads). */
export function totalBytes(count: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) n += Buffer.byteLength(objectBody(i));
  return n;
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
 * Makes `j<count>/` hold exactly the objects 0..count-1 (uploading only what is
 * missing); returns how many were uploaded and how long it took. An object
 * already there must have its body's size (checked from the listing, no
 * GETs): one uploaded by a bench whose bodies differ is refused, not reused.
 */
export async function ensureObjects(
  s3: S3Client,
  bucket: string,
  count: number,
  concurrency: number,
  log: (msg: string) => void,
): Promise<{ prefix: string; uploaded: number; ms: number; bytes: number }> {
  const prefix = prefixFor(count);
  const started = Date.now();
  await ensureBucket(s3, bucket);
  const existing = new Map((await listObjects(s3, bucket, prefix)).map((o) => [o.key, o.size]));
  const missing: number[] = [];
  let bytes = 0;
  let stale = 0;
  for (let i = 0; i < count; i++) {
    const size = Buffer.byteLength(objectBody(i));
    bytes += size;
    const found = existing.get(keyFor(prefix, i));
    if (found === undefined) missing.push(i);
    else if (found !== size) stale++;
  }
  const extra = existing.size - (count - missing.length);
  if (extra > 0 || stale > 0)
    throw new Error(
      `s3://${bucket}/${prefix} holds ${extra} unexpected objects and ${stale} of another size than this bench uploads; empty it`,
    );
  if (missing.length > 0) {
    log(`uploading ${missing.length} objects to s3://${bucket}/${prefix} (${concurrency} at once)`);
    let done = 0;
    await forEachConcurrent(missing, concurrency, async (i) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keyFor(prefix, i), Body: objectBody(i) }));
      if (++done % 10_000 === 0) log(`  ${done}/${missing.length} uploaded`);
    });
  }
  return { prefix, uploaded: missing.length, ms: Date.now() - started, bytes };
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
