/**
 * What the ingestor writes into clp_config, per CLP's rules: the endpoint the
 * ingestor itself used (and the region only for AWS), file ids or sorted
 * distinct keys, fs paths as CLP's containers see them, the authentication
 * the release knows.
 */
import { buildClpConfig } from '../../src/activities/compression';
import { clpPath } from '../../src/activities/clp-input';
import { clpS3Url } from '../../src/clp/s3-url';
import { parseJobConfig } from '../../src/config/job-config';
import { loadSettings } from '../../src/config/settings';

const env = {
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'secret',
  AWS_REGION: 'eu-west-3',
  AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
};
const s3Job = parseJobConfig('s3_scanner', { bucket_name: 'logs', key_prefix: 'app/' });
const files = [
  { id: 12, path: 'logs/app/b.log', key: 'app/b.log', size: 2 },
  { id: 10, path: 'logs/app/a.log', key: 'app/a.log', size: 1 },
];

test('CLP head: s3_object_metadata with the ids and the worker’s endpoint, no region (the job named neither)', () => {
  const config = buildClpConfig(7, s3Job, files, loadSettings(env));
  expect(config.input).toEqual({
    type: 's3_object_metadata',
    bucket: 'logs',
    key_prefix: 'app/',
    // A custom endpoint: CLP would put a region into its host name.
    region_code: null,
    endpoint_url: 'http://127.0.0.1:9000',
    aws_authentication: { type: 'default' },
    dataset: 'default',
    timestamp_key: null,
    unstructured: false,
    ingestion_job_id: 7,
    s3_object_metadata_ids: [10, 12],
  });
  expect(config.input).not.toHaveProperty('keys');
});

type S3Fields = { endpoint_url: string | null; region_code: string | null; bucket: string };

test('the job’s own endpoint wins over the worker’s; with it, region_code is null even when the job names a region', () => {
  const job = parseJobConfig('s3_scanner', {
    bucket_name: 'logs',
    key_prefix: 'app/',
    endpoint_url: 'http://127.0.0.1:9100',
    region: 'ap-south-1',
  });
  // (an endpoint of its own must be in the allow-list: test/unit/endpoints.test.ts)
  const settings = loadSettings({ ...env, CLP_ALLOWED_ENDPOINTS: 'http://127.0.0.1:9100' });
  const input = buildClpConfig(7, job, files, settings).input as unknown as S3Fields;
  expect(input.endpoint_url).toBe('http://127.0.0.1:9100');
  expect(input.region_code).toBeNull();
});

test('a MinIO job: the URL CLP’s workers build from its endpoint_url and region_code reaches MinIO', () => {
  for (const s3InputType of ['s3_object_metadata', 's3']) {
    const settings = loadSettings({ ...env, CLP_S3_INPUT_TYPE: s3InputType });
    const input = buildClpConfig(7, s3Job, files, settings).input as unknown as S3Fields;
    expect(clpS3Url(input.endpoint_url, input.region_code, input.bucket, 'app/a.log')).toBe(
      'http://127.0.0.1:9000/logs/app/a.log',
    );
  }
});

test('no endpoint anywhere: null, which CLP reads as AWS, with the job’s region or else the worker’s', () => {
  const aws: Record<string, string> = { ...env };
  delete aws.AWS_ENDPOINT_URL_S3;
  const input = buildClpConfig(7, s3Job, files, loadSettings(aws)).input as unknown as S3Fields;
  expect(input.endpoint_url).toBeNull();
  expect(input.region_code).toBe('eu-west-3');
  expect(clpS3Url(input.endpoint_url, input.region_code, input.bucket, 'app/a.log')).toBe(
    'https://logs.s3.eu-west-3.amazonaws.com/app/a.log',
  );
  const own = parseJobConfig('s3_scanner', { bucket_name: 'logs', key_prefix: 'app/', region: 'ap-south-1' });
  const ownInput = buildClpConfig(7, own, files, loadSettings(aws)).input as unknown as S3Fields;
  expect(ownInput.endpoint_url).toBeNull();
  expect(ownInput.region_code).toBe('ap-south-1');
});

test('CLP v0.13: sorted keys and credentials authentication', () => {
  const settings = loadSettings({ ...env, CLP_COMPAT: '0.13', CLP_S3_AUTH_TYPE: 'credentials' });
  const input = buildClpConfig(7, s3Job, files, settings).input as unknown as Record<string, unknown>;
  expect(input.type).toBe('s3');
  expect(input.keys).toEqual(['app/a.log', 'app/b.log']);
  expect(input.aws_authentication).toEqual({
    type: 'credentials',
    credentials: { access_key_id: 'AKIDEXAMPLE', secret_access_key: 'secret' },
  });
});

test('profile authentication names the profile', () => {
  const settings = loadSettings({ ...env, CLP_S3_AUTH_TYPE: 'profile', CLP_S3_AUTH_PROFILE: 'ingest' });
  const input = buildClpConfig(7, s3Job, files, settings).input as unknown as Record<string, unknown>;
  expect(input.aws_authentication).toEqual({ type: 'profile', profile: 'ingest' });
});

test('fs paths and the prefix to remove are mapped under CLP’s mount root', () => {
  const job = parseJobConfig('fs', { directory: '/var/log/app' });
  const fsFiles = [{ id: 1, path: '/var/log/app/x/a.log', key: null, size: 1 }];
  const input = buildClpConfig(7, job, fsFiles, loadSettings(env)).input as unknown as Record<
    string,
    unknown
  >;
  expect(input.paths_to_compress).toEqual(['/mnt/logs/var/log/app/x/a.log']);
  expect(input.path_prefix_to_remove).toBe('/mnt/logs/var/log/app');
  const local = buildClpConfig(7, job, fsFiles, loadSettings({ ...env, CLP_FS_MOUNT_ROOT: '' }))
    .input as unknown as Record<string, unknown>;
  expect(local.paths_to_compress).toEqual(['/var/log/app/x/a.log']);
  expect(local.path_prefix_to_remove).toBe('/var/log/app');
});

test('clpPath keeps odd names verbatim', () => {
  expect(clpPath('/var/log/ü b+c.log', '/mnt/logs')).toBe('/mnt/logs/var/log/ü b+c.log');
});

test('an SQS job with several sources: each compression job names its files’ one bucket and the prefix common to that bucket’s pairs', () => {
  const job = parseJobConfig('sqs_listener', {
    queue_url: 'http://127.0.0.1:9324/000000000000/q',
    sources: [
      { bucket_name: 'logs', key_prefix: 'app/eu/' },
      { bucket_name: 'more-logs', key_prefix: 'svc/' },
      { bucket_name: 'logs', key_prefix: 'app/us/' },
    ],
  });
  const settings = loadSettings({
    ...env,
    CLP_S3_INPUT_TYPE: 's3',
    CLP_ALLOWED_ENDPOINTS: 'http://127.0.0.1:9324',
  });
  const input = (fs: { id: number; bucket: string; key: string }[]) =>
    buildClpConfig(
      7,
      job,
      fs.map((f) => ({ ...f, path: `${f.bucket}/${f.key}`, size: 1 })),
      settings,
    ).input as unknown as { bucket: string; key_prefix: string; keys: string[] };
  expect(
    input([
      { id: 1, bucket: 'logs', key: 'app/us/b.log' },
      { id: 2, bucket: 'logs', key: 'app/eu/a.log' },
    ]),
  ).toMatchObject({ bucket: 'logs', key_prefix: 'app/', keys: ['app/eu/a.log', 'app/us/b.log'] });
  expect(input([{ id: 3, bucket: 'more-logs', key: 'svc/c.log' }])).toMatchObject({
    bucket: 'more-logs',
    key_prefix: 'svc/',
    keys: ['svc/c.log'],
  });
  // A flush never mixes buckets; were it to, no compression job is built.
  expect(() =>
    input([
      { id: 1, bucket: 'logs', key: 'app/us/b.log' },
      { id: 3, bucket: 'more-logs', key: 'svc/c.log' },
    ]),
  ).toThrow(/must name one bucket/);
});
