/**
 * The URL CLP's compression worker hands clp-s for an S3 object, built from a
 * job's endpoint_url and region_code exactly as CLP builds it
 * (clp_py_utils.s3_utils.generate_s3_url): with a custom endpoint, a
 * region_code goes into the host name (`http://us-east-1.127.0.0.1:9000/...`),
 * so jobs for an S3-compatible store must carry a null region_code.
 */
const ENDPOINT = /^(?<scheme>https?):\/\/(?<s3>s3\.)?(?<endpoint>[a-z0-9.-]+(:[0-9]+)?)\/?$/;

export class S3UrlError extends Error {
  override name = 'S3UrlError';
}

export function clpS3Url(
  endpointUrl: string | null | undefined,
  regionCode: string | null | undefined,
  bucket: string,
  key: string,
): string {
  if (!bucket) throw new S3UrlError('Bucket name is not specified');
  if (!key) throw new S3UrlError('Object key is not specified');
  if (endpointUrl == null) {
    return regionCode == null
      ? `https://${bucket}.s3.amazonaws.com/${key}`
      : `https://${bucket}.s3.${regionCode}.amazonaws.com/${key}`;
  }
  const m = ENDPOINT.exec(endpointUrl);
  if (!m?.groups) throw new S3UrlError(`Unsupported endpoint URL format: ${endpointUrl}`);
  const { scheme, s3, endpoint } = m.groups;
  const host = regionCode == null ? endpoint : `${regionCode}.${endpoint}`;
  return `${scheme}://${s3 ?? ''}${host}/${bucket}/${key}`;
}

/**
 * Why CLP's compression worker cannot read the object `key` (null: it can).
 * CLP puts keys into URLs unencoded and curl sends them as they are, so a key
 * with a space, `#` (a fragment), `?` (a query), `%` (read as an escape) or a
 * control character names another object, or none. Measured with clp-s
 * against MinIO: every other printable ASCII character and UTF-8 work.
 */
export function clpUnreadableKeyReason(key: string): string | null {
  // A loop, not a regex: it runs for every recorded object, and control characters are the point.
  let at = -1;
  for (let i = 0; i < key.length && at < 0; i++) {
    const c = key.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x23 || c === 0x3f || c === 0x25) at = i;
  }
  if (at < 0) return null;
  const ch = key[at];
  const shown =
    ch === ' '
      ? 'a space'
      : ch < ' ' || ch === '\u007f'
        ? `control character U+${ch.charCodeAt(0).toString(16).padStart(4, '0')}`
        : `"${ch}"`;
  return `CLP cannot read this object: its key contains ${shown}, and CLP's compression worker puts keys into URLs unencoded (rename the object to ingest it)`;
}
