/**
 * The endpoint allow-list matcher: every URL is compared as the WHATWG parser
 * normalizes it (scheme, host, port), so no spelling of a refused host gets
 * through, and what is allowed stays allowed. Nothing here connects anywhere.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { ApplicationFailure } from '@temporalio/common';
import { createS3Client, createS3ListerFor, createSqsClient } from '../../src/aws';
import { buildClpConfig } from '../../src/activities/compression';
import { InvalidConfigError, parseJobConfig } from '../../src/config/job-config';
import { loadSettings, SettingsError } from '../../src/config/settings';
import { listUrl } from '../../src/s3-list';
import {
  AWS_ENDPOINTS,
  checkJobEndpoints,
  EndpointAllowList,
  EndpointRefusedError,
} from '../../src/security/endpoints';

/** The local stack's list: AWS's own plus the worker's MinIO and goaws. */
const list = EndpointAllowList.from(undefined, {
  AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
  AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9324',
});

describe('allowed endpoints pass, in any spelling that normalizes to an entry', () => {
  test.each([
    'http://127.0.0.1:9000',
    'http://127.0.0.1:9000/',
    'http://127.0.0.1:9000/some/base/path',
    'HTTP://127.0.0.1:9000',
    'http://2130706433:9000', // decimal 127.0.0.1
    'http://0x7f000001:9000', // hex
    'http://0177.0.0.1:9000', // octal first octet
    'http://127.1:9000', // short form
    'http://127.0.0.1.:9000', // trailing dot
    'http://127.0.0.1:9324/100010001000/queue-name',
    'https://s3.us-east-1.amazonaws.com',
    'https://S3.US-EAST-1.AMAZONAWS.COM.',
    'https://bucket.s3.eu-west-1.amazonaws.com:443/',
    'https://sqs.us-east-1.amazonaws.com/123456789012/my-queue',
    'https://s3.cn-north-1.amazonaws.com.cn',
  ])('%s', (url) => {
    expect(list.refusal(url)).toBeNull();
  });
});

describe('refused: other hosts, ports and schemes, whatever the spelling', () => {
  test.each([
    // cloud metadata, in every spelling
    ['http://169.254.169.254/latest/meta-data/', /not an allowed endpoint/],
    ['http://169.254.169.254:9000/', /not an allowed endpoint/],
    ['http://2852039166/', /\(http:\/\/169\.254\.169\.254\) is not an allowed endpoint/],
    ['http://0xa9fea9fe/', /\(http:\/\/169\.254\.169\.254\)/],
    ['http://0251.0376.0251.0376/', /\(http:\/\/169\.254\.169\.254\)/],
    ['http://[::ffff:169.254.169.254]/', /\(http:\/\/\[::ffff:a9fe:a9fe\]\) is not an allowed endpoint/],
    ['http://[fd00:ec2::254]/', /not an allowed endpoint/],
    ['http://metadata.google.internal/', /not an allowed endpoint/],
    // private and loopback addresses not in the list
    ['http://10.0.0.1:9000', /not an allowed endpoint/],
    ['http://192.168.1.10:9000', /not an allowed endpoint/],
    ['http://172.16.0.5:9000', /not an allowed endpoint/],
    ['http://127.0.0.2:1/', /not an allowed endpoint/],
    ['http://localhost:9000', /not an allowed endpoint/], // a name is not the address it resolves to
    ['http://[::1]:9000', /not an allowed endpoint/],
    ['http://0.0.0.0:9000', /not an allowed endpoint/],
    ['http://127.0.0.1:9001', /not an allowed endpoint/], // right host, wrong port
    ['http://127.0.0.1', /not an allowed endpoint/], // default port 80
    ['https://127.0.0.1:9000', /not an allowed endpoint/], // right host and port, wrong scheme
    // AWS only over https, and only AWS's domains
    ['http://s3.us-east-1.amazonaws.com', /not an allowed endpoint/],
    ['https://s3.us-east-1.amazonaws.com:8443', /not an allowed endpoint/],
    ['https://amazonaws.com', /not an allowed endpoint/],
    ['https://evilamazonaws.com', /not an allowed endpoint/],
    ['https://s3.amazonaws.com.evil.example', /not an allowed endpoint/],
    ['https://amazonaws.com.cn.evil.example', /not an allowed endpoint/],
    // userinfo tricks: refused outright, and never echoed
    ['http://127.0.0.1:9000@evil.example/', /user name or password/],
    ['http://allowed@evil.example/', /user name or password/],
    ['http://user:hunter2@127.0.0.1:9000/', /user name or password/],
    ['http://@127.0.0.1:9000/', /user name or password/],
    ['https://s3.us-east-1.amazonaws.com@169.254.169.254/', /user name or password/],
    // the host is what the parser says, not what a reader sees
    ['http://evil.example#@127.0.0.1:9000', /query or fragment/],
    ['http://evil.example\\@127.0.0.1:9000', /not an allowed endpoint/],
    ['http://evil.example?@127.0.0.1:9000', /query or fragment/],
    ['http://127.0.0.1:9000/?x=1', /query or fragment/],
    ['http://127.0.0.1:9000/#', /query or fragment/],
    ['http://127.0.0.1:9000\t', /whitespace or control/],
    ['http://127.0.0.1:9000\n.evil.example', /whitespace or control/],
    [' http://127.0.0.1:9000', /whitespace or control/],
    // other schemes
    ['file:///etc/passwd', /scheme "file:" is not allowed/],
    ['ftp://127.0.0.1:9000/', /scheme "ftp:" is not allowed/],
    ['gopher://127.0.0.1:9000/_GET', /scheme "gopher:" is not allowed/],
    ['ws://127.0.0.1:9000/', /scheme "ws:" is not allowed/],
    ['data:text/plain,hi', /scheme "data:" is not allowed/],
    ['javascript:alert(1)', /scheme "javascript:" is not allowed/],
    ['not-a-url', /is not a URL/],
  ])('%s', (url, reason) => {
    const why = list.refusal(url);
    expect(why).toMatch(reason);
    expect(why).not.toMatch(/hunter2/);
  });
});

test('a wildcard takes subdomains only, never the bare domain or an address', () => {
  const l = EndpointAllowList.from('https://*.storage.example,http://10.1.2.3:9000', {});
  expect(l.refusal('https://a.storage.example')).toBeNull();
  expect(l.refusal('https://a.b.storage.example')).toBeNull();
  expect(l.refusal('https://storage.example')).toMatch(/not an allowed endpoint/);
  expect(l.refusal('https://xstorage.example')).toMatch(/not an allowed endpoint/);
  expect(l.refusal('http://10.1.2.3:9000')).toBeNull();
  expect(l.refusal('http://10.1.2.3:9001')).toMatch(/not an allowed endpoint/);
  // AWS is not in an explicit list, and an empty list allows only the worker's own endpoints
  expect(l.refusal('https://s3.us-east-1.amazonaws.com')).toMatch(/not an allowed endpoint/);
  const empty = EndpointAllowList.from('', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' });
  expect(empty.refusal('http://127.0.0.1:9000')).toBeNull();
  expect(empty.refusal('https://s3.us-east-1.amazonaws.com')).toMatch(/not an allowed endpoint/);
  expect(EndpointAllowList.from(undefined).describe()).toEqual(AWS_ENDPOINTS.split(','));
});

test('bad list entries stop start-up with the variable named', () => {
  const env = { CLP_DB_PASS: 'x' };
  for (const [value, message] of [
    ['ftp://files.example', /CLP_ALLOWED_ENDPOINTS: "ftp:\/\/files.example": only http and https/],
    ['https://*.1.2.3', /wildcard needs a domain/],
    ['https://*', /"\*" is not a host name/],
    ['https://*.*.example', /is not a host name/],
    ['https://user@host.example', /not scheme:\/\/host/],
    ['https://host.example/path', /not scheme:\/\/host/],
    ['host.example', /not scheme:\/\/host/],
  ] as const) {
    expect(() => loadSettings({ ...env, CLP_ALLOWED_ENDPOINTS: value })).toThrow(SettingsError);
    expect(() => loadSettings({ ...env, CLP_ALLOWED_ENDPOINTS: value })).toThrow(message);
  }
  expect(() => loadSettings({ ...env, AWS_ENDPOINT_URL_S3: 'ftp://127.0.0.1:21' })).toThrow(
    /AWS_ENDPOINT_URL_S3: .*only http and https/,
  );
  const s = loadSettings({
    ...env,
    AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
    CLP_ALLOWED_ENDPOINTS: 'https://*.r2.cloudflarestorage.com',
  });
  expect(s.aws.allowedEndpoints!.describe()).toEqual([
    'https://*.r2.cloudflarestorage.com',
    'http://127.0.0.1:9000',
  ]);
});

describe('job configs: every host-naming field is checked and named', () => {
  const s3 = (extra: object) =>
    parseJobConfig('s3_scanner', { bucket_name: 'logs', key_prefix: 'a/', ...extra });
  const sqs = (extra: object) =>
    parseJobConfig('sqs_listener', {
      bucket_name: 'logs',
      key_prefix: 'a/',
      queue_url: 'http://127.0.0.1:9324/1/q',
      ...extra,
    });

  test('allowed configs pass', () => {
    expect(() => checkJobEndpoints(s3({}), list)).not.toThrow();
    expect(() => checkJobEndpoints(s3({ endpoint_url: 'http://127.0.0.1:9000' }), list)).not.toThrow();
    expect(() => checkJobEndpoints(sqs({ region: 'eu-west-1' }), list)).not.toThrow();
    expect(() => checkJobEndpoints(parseJobConfig('fs', { directory: '/x' }), list)).not.toThrow();
  });

  test.each([
    [s3({ endpoint_url: 'http://169.254.169.254/' }), 'endpoint_url'],
    [sqs({ queue_url: 'http://169.254.169.254/1/q' }), 'queue_url'],
    [sqs({ endpoint_url: 'http://10.0.0.1:9000' }), 'endpoint_url'],
    [s3({ region: 'x.evil.example/' }), 'region'],
    [s3({ region: 'us-east-1.evil.example' }), 'region'],
    [s3({ region: 'a#' }), 'region'],
  ])('%j is refused naming %s', (job, field) => {
    let err: unknown;
    try {
      checkJobEndpoints(job, list);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EndpointRefusedError);
    expect(err).toBeInstanceOf(InvalidConfigError); // REST 400, CLI exit 2
    expect((err as EndpointRefusedError).field).toBe(field);
    expect((err as Error).message).toMatch(new RegExp(`^${field}: `));
  });
});

describe('the worker refuses before connecting: a non-retryable failure naming the field', () => {
  const aws = loadSettings({
    AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
    AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9324',
  }).aws;

  function failure(fn: () => unknown): ApplicationFailure {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ApplicationFailure);
      return err as ApplicationFailure;
    }
    throw new Error('not refused');
  }

  /** The factories never throw (an activity's clean-up may not be set up yet); the first request fails. */
  async function rejection(request: Promise<unknown>): Promise<ApplicationFailure> {
    const err = await request.then(
      () => new Error('not refused'),
      (e) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }

  const listing = { bucket: 'logs', prefix: '', maxKeys: 1 };

  test('S3 client and lean lister: endpoint_url and region', async () => {
    const refused = createS3Client(aws, { endpointUrl: 'http://127.0.0.2:1/' });
    const f = await rejection(refused.send(new ListObjectsV2Command({ Bucket: 'logs' })));
    expect([f.nonRetryable, f.type]).toEqual([true, 'NonRecoverableIngestionError']);
    expect(f.message).toMatch(/^refused before connecting: endpoint_url: "http:\/\/127\.0\.0\.2:1\/"/);
    const lister = createS3ListerFor(refused, aws, { endpointUrl: 'http://127.0.0.2:1/' });
    expect((await rejection(lister(listing))).message).toMatch(/endpoint_url: "http:\/\/127\.0\.0\.2:1\/"/);
    refused.destroy();

    const ok = createS3Client(aws, { endpointUrl: 'http://127.0.0.1:9000' });
    const metadata = createS3ListerFor(ok, aws, { endpointUrl: 'http://2852039166/' });
    expect((await rejection(metadata(listing))).message).toMatch(/endpoint_url: .*169\.254\.169\.254/);
    ok.destroy();
    const region = createS3Client(aws, { region: 'evil.example/' });
    expect((await rejection(region.send(new ListObjectsV2Command({ Bucket: 'logs' })))).message).toMatch(
      /region: /,
    );
    region.destroy();
    // settings built by hand (no list) still get AWS's own and their endpoints, not everything
    const bare = { ...aws, allowedEndpoints: undefined };
    const lan = createS3Client(bare, { endpointUrl: 'http://10.0.0.1:9000' });
    expect((await rejection(lan.send(new ListObjectsV2Command({ Bucket: 'logs' })))).message).toMatch(
      /endpoint_url/,
    );
    lan.destroy();
  });

  test('SQS client: the queue endpoint and every command QueueUrl', async () => {
    const receive = (QueueUrl: string) => new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 });
    const refused = createSqsClient(aws, { endpointUrl: 'http://127.0.0.2:1' });
    expect((await rejection(refused.send(receive('http://127.0.0.1:9324/1/q')))).message).toMatch(
      /queue_url: "http:\/\/127\.0\.0\.2:1" is not an allowed endpoint/,
    );
    refused.destroy();
    const client = createSqsClient(aws);
    const err = await rejection(client.send(receive('http://127.0.0.2:1/1/q')));
    expect([err.nonRetryable, err.message]).toEqual([
      true,
      expect.stringMatching(/queue_url: "http:\/\/127\.0\.0\.2:1\/1\/q" is not an allowed endpoint/),
    ]);
    client.destroy();
  });

  test('compression jobs never name a refused endpoint (an SQS job whose endpoint_url came another way)', () => {
    const settings = loadSettings({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' });
    const job = parseJobConfig('sqs_listener', {
      bucket_name: 'logs',
      key_prefix: 'a/',
      queue_url: 'http://127.0.0.1:9000/1/q',
      endpoint_url: 'http://169.254.169.254/',
    });
    const f = failure(() =>
      buildClpConfig(1, job, [{ id: 1, path: 'logs/a/x', key: 'a/x', size: 1 }], settings),
    );
    expect([f.nonRetryable, f.message]).toEqual([true, expect.stringMatching(/endpoint_url: /)]);
  });

  test('the lean lister builds no URL from a bucket or region that could end a host name', () => {
    expect(() => listUrl('evil.example/x', 'us-east-1', undefined, false)).toThrow(
      /InvalidBucketName|bucket/,
    );
    expect(() => listUrl('logs', 'x.evil.example/', undefined, false)).toThrow(/region/);
    expect(listUrl('logs', 'us-east-1', undefined, false).host).toBe('logs.s3.us-east-1.amazonaws.com');
  });
});
