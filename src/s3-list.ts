/**
 * ListObjectsV2 without the SDK's response deserializer: the scanner's hot
 * path. The AWS SDK spends more CPU per listed key turning the XML into
 * objects than MinIO spends producing it; reading just Key, Size and
 * LastModified from the response costs a fraction of that. Requests are signed by the SDK's own SigV4
 * signer with the S3 client's credential chain and region, so credentials,
 * endpoints and errors behave as the SDK's would (error codes such as
 * NoSuchBucket keep their names for classifyAwsError).
 *
 * Keys are requested URL-encoded (encoding-type=url), so any key, control
 * characters included, survives the XML.
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';

export interface ListedObject {
  key: string;
  size: number;
  /** ms since epoch */
  lastModified: number;
}

export interface ListPage {
  objects: ListedObject[];
  isTruncated: boolean;
  nextContinuationToken?: string;
}

export interface ListRequest {
  bucket: string;
  prefix: string;
  maxKeys: number;
  startAfter?: string;
  continuationToken?: string;
}

/** An S3 error response, named as the SDK names it. */
export class S3ListError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(
    readonly Code: string,
    message: string,
    status: number,
  ) {
    super(message);
    this.name = Code;
    this.$metadata = { httpStatusCode: status };
  }
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): string | Uint8Array =>
  typeof d === 'string'
    ? d
    : d instanceof ArrayBuffer
      ? new Uint8Array(d)
      : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** SHA-256 and HMAC for the signer, from node:crypto. */
class Sha256 {
  private readonly h;
  constructor(secret?: SourceData) {
    this.h = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: SourceData): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/** DNS-compatible bucket names (what job configs accept): nothing that could end a host name or start a path. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A region is one host label. */
const REGION = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * Where a bucket's listing goes: the custom endpoint (path style when asked),
 * else AWS's regional endpoint. The bucket and region become part of the host
 * name, so anything but a DNS-compatible bucket name and a one-label region is
 * refused (as S3 refuses it: InvalidBucketName, non-recoverable) before any
 * URL is built.
 */
export function listUrl(
  bucket: string,
  region: string,
  endpoint: string | undefined,
  pathStyle: boolean,
): URL {
  if (!BUCKET.test(bucket))
    throw new S3ListError(
      'InvalidBucketName',
      `not a DNS-compatible bucket name: ${JSON.stringify(bucket)}`,
      400,
    );
  if (!endpoint && !REGION.test(region))
    throw new S3ListError('InvalidRegion', `not a region name: ${JSON.stringify(region)}`, 400);
  if (endpoint) {
    const base = new URL(endpoint);
    if (pathStyle) return new URL(`${base.origin}${base.pathname.replace(/\/$/, '')}/${bucket}`);
    return new URL(`${base.protocol}//${bucket}.${base.host}${base.pathname}`);
  }
  const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  // Virtual-hosted style, except for names with dots (TLS certificates cover one label).
  return bucket.includes('.')
    ? new URL(`https://s3.${region}.${domain}/${bucket}`)
    : new URL(`https://${bucket}.s3.${region}.${domain}/`);
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, e: string) =>
    e[0] === '#'
      ? String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
      : XML_ENTITIES[e],
  );
}

/** What a key needs decoded for: an XML entity, a `+` or a %-escape (most keys hold none). */
const ENCODED = /[&+%]/;

/** An encoding-type=url key: form-encoded, `+` for a space. */
function decodeKey(s: string): string {
  return ENCODED.test(s) ? decodeURIComponent(unescapeXml(s).replace(/\+/g, ' ')) : s;
}

const TAGS = {
  contents: [Buffer.from('<Contents>'), Buffer.from('</Contents>')],
  key: [Buffer.from('<Key>'), Buffer.from('</Key>')],
  size: [Buffer.from('<Size>'), Buffer.from('</Size>')],
  lastModified: [Buffer.from('<LastModified>'), Buffer.from('</LastModified>')],
  isTruncated: [Buffer.from('<IsTruncated>'), Buffer.from('</IsTruncated>')],
  token: [Buffer.from('<NextContinuationToken>'), Buffer.from('</NextContinuationToken>')],
  code: [Buffer.from('<Code>'), Buffer.from('</Code>')],
  message: [Buffer.from('<Message>'), Buffer.from('</Message>')],
} as const;

/** The text of the first `tag` element within xml[from, to) (escaped, as it stands in the XML), or undefined. */
function text(xml: Buffer, [open, close]: readonly [Buffer, Buffer], from = 0, to = xml.length) {
  const at = xml.indexOf(open, from);
  if (at < 0 || at >= to) return undefined;
  const start = at + open.length;
  const end = xml.indexOf(close, start);
  return end < 0 || end > to ? undefined : xml.toString('utf8', start, end);
}

/**
 * Parses a ListBucketResult (exported for unit tests). Read from the
 * response's bytes: a page's XML (about 250 KB for 1,000 keys) never
 * becomes one string, which V8 would place in its large-object space and
 * free only at a full GC; only each entry's few short strings are made.
 */
export function parseListPage(body: Buffer | string): ListPage {
  const xml = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const objects: ListedObject[] = [];
  const [open, close] = TAGS.contents;
  let end = 0;
  for (let at = xml.indexOf(open); at >= 0; at = xml.indexOf(open, end)) {
    end = xml.indexOf(close, at);
    if (end < 0) throw new Error('ListObjectsV2: an unterminated Contents entry');
    const key = text(xml, TAGS.key, at, end);
    if (key === undefined) throw new Error('ListObjectsV2: an entry without a Key');
    objects.push({
      key: decodeKey(key),
      size: Number(text(xml, TAGS.size, at, end) ?? 0),
      lastModified: Date.parse(text(xml, TAGS.lastModified, at, end) ?? '') || 0,
    });
  }
  const isTruncated = text(xml, TAGS.isTruncated) === 'true';
  const token = text(xml, TAGS.token);
  const nextContinuationToken = token === undefined ? undefined : unescapeXml(token);
  if (isTruncated && !nextContinuationToken)
    throw new Error('ListObjectsV2: truncated without a continuation token');
  return { objects, isTruncated, nextContinuationToken };
}

export type S3Lister = (req: ListRequest, signal?: AbortSignal) => Promise<ListPage>;

/** A lister that signs with `client`'s credentials and region and sends to `endpoint` (AWS when undefined). */
export function createS3Lister(client: S3Client, endpoint: string | undefined, pathStyle: boolean): S3Lister {
  return async (req, signal) => {
    const region = await client.config.region();
    const credentials = await client.config.credentials();
    const url = listUrl(req.bucket, region, endpoint, pathStyle);
    const query: Record<string, string> = {
      'list-type': '2',
      prefix: req.prefix,
      'max-keys': String(req.maxKeys),
      'encoding-type': 'url',
    };
    if (req.continuationToken) query['continuation-token'] = req.continuationToken;
    else if (req.startAfter) query['start-after'] = req.startAfter;
    const signer = new SignatureV4({
      service: 's3',
      region,
      credentials,
      sha256: Sha256,
      uriEscapePath: false,
    });
    const signed = await signer.sign({
      method: 'GET',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query,
      headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    const qs = Object.entries(query)
      .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
      .join('&');
    const { status, body } = await get(url, `${url.pathname}?${qs}`, signed.headers, signal);
    if (status !== 200) {
      // An S3 error document: <Error><Code>…</Code><Message>…</Message>…</Error>.
      const field = (t: readonly [Buffer, Buffer]) => {
        const v = text(body, t);
        return v === undefined ? undefined : unescapeXml(v);
      };
      const code = field(TAGS.code) ?? `HTTP${status}`;
      throw new S3ListError(code, field(TAGS.message) ?? `ListObjectsV2 answered HTTP ${status}`, status);
    }
    return parseListPage(body);
  };
}

/** Percent-encodes all but RFC 3986's unreserved characters, as SigV4 canonicalises. */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function get(
  url: URL,
  path: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<{ status: number; body: Buffer }> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(
      {
        host: url.hostname,
        port: url.port || undefined,
        path,
        headers,
        agent: url.protocol === 'https:' ? agents.https : agents.http,
        signal,
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('ListObjectsV2: no answer in 60 s')));
    req.on('error', reject);
  });
}
