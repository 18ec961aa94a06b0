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

/** An encoding-type=url key: form-encoded, `+` for a space. */
function decodeKey(s: string): string {
  return decodeURIComponent(unescapeXml(s).replace(/\+/g, ' '));
}

function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? unescapeXml(m[1]) : undefined;
}

/** Parses a ListBucketResult (exported for unit tests). */
export function parseListPage(xml: string): ListPage {
  const objects: ListedObject[] = [];
  const contents = /<Contents>([\s\S]*?)<\/Contents>/g;
  for (let m = contents.exec(xml); m; m = contents.exec(xml)) {
    const body = m[1];
    const key = /<Key>([^<]*)<\/Key>/.exec(body);
    if (!key) throw new Error('ListObjectsV2: an entry without a Key');
    objects.push({
      key: decodeKey(key[1]),
      size: Number(/<Size>(\d+)<\/Size>/.exec(body)?.[1] ?? 0),
      lastModified: Date.parse(/<LastModified>([^<]*)<\/LastModified>/.exec(body)?.[1] ?? '') || 0,
    });
  }
  const isTruncated = tag(xml, 'IsTruncated') === 'true';
  const nextContinuationToken = tag(xml, 'NextContinuationToken');
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
      const code = tag(body, 'Code') ?? `HTTP${status}`;
      throw new S3ListError(code, tag(body, 'Message') ?? `ListObjectsV2 answered HTTP ${status}`, status);
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
): Promise<{ status: number; body: string }> {
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
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('ListObjectsV2: no answer in 60 s')));
    req.on('error', reject);
  });
}
