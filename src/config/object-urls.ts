/**
 * The object URLs of an s3_object_list job: `s3://bucket/key` or path-style
 * `http(s)://host[:port]/bucket/key`, all in one bucket at one endpoint.
 */

/** An S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens. */
export const BUCKET_NAME_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

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

/** One object URL, parsed. */
interface ObjectUrl {
  bucket: string;
  key: string;
  endpoint: string | undefined;
}

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
function parseObjectUrl(raw: string): ObjectUrl | string {
  if (hasControl(raw) || raw !== raw.trim()) return 'has whitespace or control characters';
  if (raw.startsWith('s3://')) {
    const m = /^s3:\/\/([^/]*)\/(.*)$/s.exec(raw);
    if (!m) return 'is not s3://bucket/key';
    const [, bucket, key] = m;
    if (!BUCKET_NAME_RE.test(bucket)) return `bucket "${bucket}" is not a valid S3 bucket name`;
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
  if (!BUCKET_NAME_RE.test(bucket)) return `bucket "${bucket}" is not a valid S3 bucket name`;
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
  const parsed: (ObjectUrl | null)[] = urls.map((u, i) => {
    const p = parseObjectUrl(u);
    if (typeof p === 'string') {
      malformed.push(`#${i + 1} ${show(u)} ${p}`);
      return null;
    }
    return p;
  });
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
