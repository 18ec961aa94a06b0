/**
 * clpS3Url: the URL CLP's compression workers hand clp-s for an object, from a
 * job's endpoint_url and region_code (CLP's generate_s3_url, the same from
 * v0.9.0 to head).
 */
import { clpS3Url, S3UrlError, clpUnreadableKeyReason } from '../../src/clp/s3-url';

describe('no endpoint_url: AWS, virtual-hosted style', () => {
  test('with a region, the region is in the host', () => {
    expect(clpS3Url(null, 'eu-west-3', 'logs', 'app/a.log')).toBe(
      'https://logs.s3.eu-west-3.amazonaws.com/app/a.log',
    );
  });

  test('without a region, the global endpoint', () => {
    expect(clpS3Url(null, null, 'logs', 'app/a.log')).toBe('https://logs.s3.amazonaws.com/app/a.log');
    expect(clpS3Url(undefined, undefined, 'logs', 'app/a.log')).toBe(
      'https://logs.s3.amazonaws.com/app/a.log',
    );
  });
});

describe('a custom endpoint_url: path style', () => {
  test('with a port and no region: the endpoint as it is', () => {
    expect(clpS3Url('http://127.0.0.1:9000', null, 'logs', 'app/a.log')).toBe(
      'http://127.0.0.1:9000/logs/app/a.log',
    );
  });

  test('with a region, the region goes in front of the host (which breaks MinIO)', () => {
    expect(clpS3Url('http://127.0.0.1:9000', 'us-east-1', 'logs', 'app/a.log')).toBe(
      'http://us-east-1.127.0.0.1:9000/logs/app/a.log',
    );
  });

  test('an s3. prefix stays in front, the region goes after it', () => {
    expect(clpS3Url('https://s3.example.com', null, 'logs', 'k')).toBe('https://s3.example.com/logs/k');
    expect(clpS3Url('https://s3.example.com', 'eu-1', 'logs', 'k')).toBe(
      'https://s3.eu-1.example.com/logs/k',
    );
  });

  test('one trailing slash is dropped', () => {
    expect(clpS3Url('http://minio.local:9000/', null, 'logs', 'k')).toBe('http://minio.local:9000/logs/k');
  });

  test('the key is used verbatim (CLP does not encode it)', () => {
    expect(clpS3Url('http://127.0.0.1:9000', null, 'logs', 'a/ü b+c.log')).toBe(
      'http://127.0.0.1:9000/logs/a/ü b+c.log',
    );
  });
});

describe('what CLP refuses', () => {
  test.each([
    ['ftp://127.0.0.1:9000'], // only http and https
    ['127.0.0.1:9000'], // no scheme
    ['http://127.0.0.1:9000/path'], // a path
    ['http://127.0.0.1:9000//'], // more than one trailing slash
    ['http://MinIO:9000'], // upper case
    ['http://user@host:9000'], // user info
    ['http://host:port'], // a port that is no number
  ])('unsupported endpoint URL format: %s', (endpoint) => {
    expect(() => clpS3Url(endpoint, null, 'logs', 'k')).toThrow(S3UrlError);
    expect(() => clpS3Url(endpoint, null, 'logs', 'k')).toThrow(
      `Unsupported endpoint URL format: ${endpoint}`,
    );
  });

  test('an empty bucket or key', () => {
    expect(() => clpS3Url(null, null, '', 'k')).toThrow('Bucket name is not specified');
    expect(() => clpS3Url('http://127.0.0.1:9000', null, 'logs', '')).toThrow('Object key is not specified');
  });
});

test('keys CLP cannot read by its unencoded URL are named with the character; every other printable key passes', () => {
  expect(clpUnreadableKeyReason('a b.log')).toMatch(/contains a space/);
  expect(clpUnreadableKeyReason('a#b.log')).toMatch(/contains "#"/);
  expect(clpUnreadableKeyReason('a?b.log')).toMatch(/contains "\?"/);
  expect(clpUnreadableKeyReason('a%41.log')).toMatch(/contains "%"/);
  expect(clpUnreadableKeyReason('a\tb.log')).toMatch(/control character U\+0009/);
  expect(clpUnreadableKeyReason('a\u007fb.log')).toMatch(/control character U\+007f/);
  for (const ok of [
    'a+b=c&d.log',
    'ünïcødé/日本.log',
    "x(1)_y-z~!'",
    'a[b]{c}|d^e`f"g<h>.log',
    'a\\b:c,d*e;f.log',
  ])
    expect(clpUnreadableKeyReason(ok)).toBeNull();
});
