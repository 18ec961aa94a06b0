/**
 * Ingestion-job configs, with CLP log-ingestor's field names, validated once
 * at the edge. Errors name the field. Configs carry no secrets: credentials
 * come from the worker's settings, so a config may travel through Temporal.
 */
import { z } from 'zod';

export const JOB_KINDS = ['s3_scanner', 'sqs_listener', 'fs', 's3_object_list'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

const GiB = 1024 * 1024 * 1024;

const requiredString = () =>
  z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') });
const nonEmpty = requiredString().trim().min(1, 'must be a non-empty string');
const optionalText = z.string().min(1).optional();

export const bufferConfigSchema = z
  .object({
    flush_threshold_bytes: z
      .number()
      .int()
      .positive()
      .default(4 * GiB),
    timeout_sec: z.number().positive().max(86_400).default(300),
    // CLP's log-ingestor sizes an in-process channel with it; accepted (and checked) so CLP's
    // job configs load unchanged, with no effect here (activities write straight to the buffer).
    channel_capacity: z.number().int().positive().max(1_000_000).default(16),
  })
  .strict();

/** S3 object keys are at most 1,024 bytes of UTF-8. */
const s3Key = nonEmpty.refine(
  (k) => Buffer.byteLength(k, 'utf8') <= 1024,
  'must be at most 1024 bytes (an S3 key)',
);

const bucketName = nonEmpty.regex(
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
  'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)',
);

const s3Base = {
  bucket_name: bucketName,
  key_prefix: s3Key,
  region: optionalText,
  endpoint_url: z.string().url().optional(),
  dataset: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,255}$/, 'must be letters, digits and underscores')
    .default('default'),
  timestamp_key: optionalText,
  unstructured: z.boolean().default(false),
  buffer_config: bufferConfigSchema.default(() => bufferConfigSchema.parse({})),
};

export const s3ScannerConfigSchema = z
  .object({
    ...s3Base,
    scanning_interval_sec: z.number().positive().max(86_400).default(30),
    start_after: s3Key.optional(),
    /** Beyond CLP: the cursor passes only objects at least this old, so concurrent uploads are not skipped. */
    settle_delay_sec: z.number().min(0).max(3600).default(5),
    /**
     * Beyond CLP: order-free scanning. Every this many seconds the whole
     * prefix (up to the cursor) is listed again and every key not yet
     * recorded is recorded, so an object uploaded under a key that sorts
     * before the cursor is still ingested. Off when absent.
     */
    rescan_interval_sec: z
      .number()
      .min(1)
      .max(7 * 86_400)
      .optional(),
    /** Beyond CLP: scan the prefix once to its end, then drain and finish. */
    one_time: z.boolean().optional(),
  })
  .strict();

/** One (bucket, key prefix) pair an SQS listener takes notifications for. */
export const sqsSourceSchema = z.object({ bucket_name: bucketName, key_prefix: s3Key }).strict();
export type SqsSource = z.infer<typeof sqsSourceSchema>;

const MAX_SQS_SOURCES = 100;

export const sqsListenerConfigSchema = z
  .object({
    ...s3Base,
    // Either bucket_name and key_prefix (CLP's form) or sources, never both.
    bucket_name: bucketName.optional(),
    key_prefix: s3Key.optional(),
    /** Beyond CLP: several (bucket, key prefix) pairs; notifications outside all of them are ignored. */
    sources: z
      .array(sqsSourceSchema)
      .min(1, 'must list at least one {bucket_name, key_prefix}')
      .max(MAX_SQS_SOURCES, `must list at most ${MAX_SQS_SOURCES} pairs`)
      .optional(),
    queue_url: z.string().url(),
    num_concurrent_listener_tasks: z.number().int().min(1).max(32).default(1),
    wait_time_sec: z.number().int().min(0).max(20).default(20),
    /** Beyond CLP: what happens to messages that are not S3 notifications. "leave" hands them to the queue's redrive policy. */
    ignored_message_policy: z.enum(['delete', 'leave']).default('delete'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.sources === undefined) {
      for (const field of ['bucket_name', 'key_prefix'] as const) {
        if (c[field] === undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: 'is required (or give sources instead)' });
      }
      return;
    }
    for (const field of ['bucket_name', 'key_prefix'] as const) {
      if (c[field] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: 'cannot be given with sources (give bucket_name and key_prefix, or sources)',
        });
    }
    // Within one bucket no prefix may contain another: each key belongs to one pair.
    c.sources.forEach((s, i) => {
      const j = c.sources!.findIndex(
        (o, k) =>
          k < i &&
          o.bucket_name === s.bucket_name &&
          (o.key_prefix.startsWith(s.key_prefix) || s.key_prefix.startsWith(o.key_prefix)),
      );
      if (j >= 0)
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i],
          message: `overlaps sources[${j}] (same bucket, and one key prefix contains the other)`,
        });
    });
  });

export const fsConfigSchema = z
  .object({
    directory: nonEmpty.refine((p) => p.startsWith('/'), 'must be an absolute path'),
    glob: optionalText,
    dataset: s3Base.dataset,
    timestamp_key: optionalText,
    unstructured: z.boolean().default(false),
    buffer_config: s3Base.buffer_config,
    scanning_interval_sec: z.number().positive().max(86_400).default(30),
    settle_delay_sec: z.number().min(0).max(86_400).default(10),
    /** Scan the directory once (until a pass finds every file settled), then drain and finish. */
    one_time: z.boolean().optional(),
  })
  .strict();

/** At most this many objects in one s3_object_list job (its config travels in workflow input). */
export const MAX_OBJECT_URLS = 10_000;

/**
 * A one-time job over an explicit list of objects, all in one bucket at one
 * endpoint. The bucket, endpoint and key prefix (the keys' longest common
 * prefix) are derived from `urls`; a config may repeat them (a stored config
 * does), but they must then be what the URLs say.
 */
export const s3ObjectListConfigSchema = z
  .object({
    urls: z
      .array(requiredString(), {
        error: (iss) => (iss.input === undefined ? 'is required' : 'must be an array'),
      })
      .min(1, 'must name at least one object')
      .max(MAX_OBJECT_URLS, `must name at most ${MAX_OBJECT_URLS} objects`),
    bucket_name: z.string().optional(),
    key_prefix: z.string().optional(),
    endpoint_url: z.string().optional(),
    region: optionalText,
    dataset: s3Base.dataset,
    timestamp_key: optionalText,
    unstructured: z.boolean().default(false),
    buffer_config: s3Base.buffer_config,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.urls.length === 0 || c.urls.length > MAX_OBJECT_URLS) return; // refused above
    const parsed = parseObjectUrls(c.urls);
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', path: ['urls'], message: parsed.error });
      return;
    }
    const derived = {
      bucket_name: parsed.bucket,
      key_prefix: parsed.keyPrefix,
      endpoint_url: parsed.endpoint,
    };
    for (const field of ['bucket_name', 'key_prefix', 'endpoint_url'] as const) {
      if (c[field] !== undefined && c[field] !== derived[field])
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `must be what urls name (${JSON.stringify(derived[field] ?? null)}), or left out`,
        });
    }
  })
  .transform((c) => {
    const parsed = parseObjectUrls(c.urls) as ObjectUrls; // valid: refined above
    const rest = { ...c };
    delete rest.endpoint_url; // a stored s3:// list has none; an endpoint list's is derived again
    return {
      ...rest,
      bucket_name: parsed.bucket,
      key_prefix: parsed.keyPrefix,
      ...(parsed.endpoint !== undefined ? { endpoint_url: parsed.endpoint } : {}),
    };
  });

export type BufferConfig = z.infer<typeof bufferConfigSchema>;
export type S3ScannerConfig = z.infer<typeof s3ScannerConfigSchema>;
export type SqsListenerConfig = z.infer<typeof sqsListenerConfigSchema>;
export type FsConfig = z.infer<typeof fsConfigSchema>;
export type S3ObjectListConfig = z.infer<typeof s3ObjectListConfigSchema>;

export type JobConfig =
  | { kind: 's3_scanner'; config: S3ScannerConfig }
  | { kind: 'sqs_listener'; config: SqsListenerConfig }
  | { kind: 'fs'; config: FsConfig }
  | { kind: 's3_object_list'; config: S3ObjectListConfig };

/** The objects an s3_object_list job names. */
export interface ObjectUrls {
  bucket: string;
  /** The normalized scheme://host[:port] of endpoint URLs; undefined for s3:// URLs (the worker's S3). */
  endpoint: string | undefined;
  /** The keys, in the order given. */
  keys: string[];
  /** The keys' longest common prefix. */
  keyPrefix: string;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const MAX_NAMED = 10;

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * One object URL: `s3://bucket/key` (the key as written, like the AWS CLI)
 * or a path-style endpoint URL `http(s)://host[:port]/bucket/key` (the key
 * percent-decoded). Returns the reason when it is neither.
 */
export function parseObjectUrl(
  raw: string,
): { bucket: string; key: string; endpoint: string | undefined } | string {
  if (hasControl(raw) || raw !== raw.trim()) return 'has whitespace or control characters';
  if (raw.startsWith('s3://')) {
    const m = /^s3:\/\/([^/]*)\/(.*)$/s.exec(raw);
    if (!m) return 'is not s3://bucket/key';
    const [, bucket, key] = m;
    if (!BUCKET_RE.test(bucket)) return `bucket "${bucket}" is not a valid S3 bucket name`;
    if (!key) return 'names no key';
    if (Buffer.byteLength(key, 'utf8') > 1024) return 'key is over 1024 bytes';
    return { bucket, key, endpoint: undefined };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not s3://bucket/key or an http(s) endpoint URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `scheme "${url.protocol}" is not s3, http or https`;
  const authority = raw.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:[\\/]*/, '').split(/[/\\?#]/, 1)[0];
  if (url.username || url.password || authority.includes('@')) return 'has a user name or password';
  if (url.search || url.hash || /[?#]/.test(raw)) return 'has a query or fragment';
  const m = /^\/([^/]*)\/(.*)$/s.exec(url.pathname);
  if (!m) return 'is not http(s)://host[:port]/bucket/key (path-style)';
  const [, bucket, encodedKey] = m;
  if (!BUCKET_RE.test(bucket)) return `bucket "${bucket}" is not a valid S3 bucket name`;
  let key: string;
  try {
    key = decodeURIComponent(encodedKey);
  } catch {
    return 'key is not valid percent-encoding';
  }
  if (!key) return 'names no key';
  if (Buffer.byteLength(key, 'utf8') > 1024) return 'key is over 1024 bytes';
  return { bucket, key, endpoint: `${url.protocol}//${url.host}` };
}

function named(entries: string[]): string {
  const shown = entries.slice(0, MAX_NAMED).join(', ');
  return entries.length > MAX_NAMED ? `${shown} and ${entries.length - MAX_NAMED} more` : shown;
}

const show = (s: string) => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);

/**
 * Parses an s3_object_list's URLs. Refuses malformed URLs, duplicates (the
 * same object twice, however spelled) and objects outside the first URL's
 * bucket and endpoint, naming every offending entry (by position, from 1).
 */
export function parseObjectUrls(urls: string[]): ObjectUrls | { error: string } {
  if (urls.length === 0) return { error: 'must name at least one object' };
  const problems: string[] = [];
  const malformed: string[] = [];
  const parsed: ({ bucket: string; key: string; endpoint: string | undefined } | null)[] = urls.map(
    (u, i) => {
      const p = parseObjectUrl(u);
      if (typeof p === 'string') {
        malformed.push(`#${i + 1} ${show(u)} ${p}`);
        return null;
      }
      return p;
    },
  );
  if (malformed.length) problems.push(`malformed: ${named(malformed)}`);
  const first = parsed.find((p) => p !== null);
  const where = (p: { bucket: string; endpoint: string | undefined }) =>
    `bucket "${p.bucket}" at ${p.endpoint ?? "the worker's S3 endpoint (s3://)"}`;
  if (first) {
    const mixed: string[] = [];
    const seen = new Map<string, number>();
    const dups: string[] = [];
    parsed.forEach((p, i) => {
      if (!p) return;
      if (p.bucket !== first.bucket || p.endpoint !== first.endpoint) {
        mixed.push(`#${i + 1} ${show(urls[i])} (${where(p)})`);
        return;
      }
      const earlier = seen.get(p.key);
      if (earlier !== undefined) dups.push(`#${i + 1} ${show(urls[i])} (same object as #${earlier + 1})`);
      else seen.set(p.key, i);
    });
    if (mixed.length)
      problems.push(`not in the first URL's ${where(first)} (mixed buckets or endpoints): ${named(mixed)}`);
    if (dups.length) problems.push(`duplicates: ${named(dups)}`);
  }
  if (problems.length) return { error: problems.join('; ') };
  const keys = parsed.map((p) => p!.key);
  let keyPrefix = keys[0];
  for (const k of keys) {
    let n = 0;
    while (n < keyPrefix.length && n < k.length && keyPrefix[n] === k[n]) n++;
    keyPrefix = keyPrefix.slice(0, n);
  }
  // Never end inside a UTF-16 surrogate pair.
  const last = keyPrefix.charCodeAt(keyPrefix.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) keyPrefix = keyPrefix.slice(0, -1);
  return { bucket: first!.bucket, endpoint: first!.endpoint, keys, keyPrefix };
}

export { isOneTime, jobSource } from './job-source';

export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError';
}

const schemas = {
  s3_scanner: s3ScannerConfigSchema,
  sqs_listener: sqsListenerConfigSchema,
  fs: fsConfigSchema,
  s3_object_list: s3ObjectListConfigSchema,
};

/** Validates a raw config; throws InvalidConfigError naming the first bad field. */
export function parseJobConfig(kind: JobKind, raw: unknown): JobConfig {
  if (!(JOB_KINDS as readonly unknown[]).includes(kind)) {
    throw new InvalidConfigError(`kind: unknown job kind "${String(kind)}" (one of ${JOB_KINDS.join(', ')})`);
  }
  const schema = schemas[kind];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidConfigError('config: must be a JSON object');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path
      .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`))
      .join('');
    const unknown =
      issue.code === 'unrecognized_keys' ? `unknown field "${issue.keys.join('", "')}"` : undefined;
    throw new InvalidConfigError(unknown ?? `${field || 'config'}: ${issue.message}`);
  }
  return { kind, config: parsed.data } as JobConfig;
}

/** The (bucket, key prefix) pairs an SQS listener takes notifications for. */
export function sqsSources(c: SqsListenerConfig): SqsSource[] {
  return c.sources ?? [{ bucket_name: c.bucket_name!, key_prefix: c.key_prefix! }];
}

export interface S3Location {
  bucket: string;
  prefix: string;
  region: string | null;
  endpoint: string | null;
  dataset: string;
}

/** The S3 locations a job reads, for conflict detection; empty for fs jobs. */
export function s3Sources(job: JobConfig): S3Location[] {
  if (job.kind === 'fs') return [];
  const c = job.config;
  const pairs =
    job.kind === 'sqs_listener'
      ? sqsSources(job.config)
      : [{ bucket_name: job.config.bucket_name, key_prefix: job.config.key_prefix }];
  return pairs.map((p) => ({
    bucket: p.bucket_name,
    prefix: p.key_prefix,
    region: c.region ?? null,
    endpoint: c.endpoint_url ?? null,
    dataset: c.dataset,
  }));
}

/** The first S3 location a job reads (its only one unless an SQS job lists several sources). */
export function s3Source(job: JobConfig): S3Location | undefined {
  return s3Sources(job)[0];
}

/** Two S3 jobs conflict when they would ingest the same objects into the same dataset. */
export function conflicts(a: JobConfig, b: JobConfig): boolean {
  const ys = s3Sources(b);
  return s3Sources(a).some((x) =>
    ys.some(
      (y) =>
        x.bucket === y.bucket &&
        x.region === y.region &&
        x.endpoint === y.endpoint &&
        x.dataset === y.dataset &&
        (x.prefix.startsWith(y.prefix) || y.prefix.startsWith(x.prefix)),
    ),
  );
}
