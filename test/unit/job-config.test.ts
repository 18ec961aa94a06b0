import { conflicts, InvalidConfigError, parseJobConfig, parseObjectUrls } from '../../src/config/job-config';

const base = { bucket_name: 'logs', key_prefix: 'app/' };

test('defaults follow CLP log-ingestor', () => {
  const job = parseJobConfig('s3_scanner', base);
  expect(job.config).toEqual({
    ...base,
    dataset: 'default',
    unstructured: false,
    scanning_interval_sec: 30,
    settle_delay_sec: 5,
    buffer_config: { flush_threshold_bytes: 4 * 1024 ** 3, timeout_sec: 300, channel_capacity: 16 },
  });
});

test.each([
  [{ key_prefix: 'a/' }, /^bucket_name: is required/],
  [{ ...base, key_prefix: '' }, /^key_prefix: must be a non-empty string/],
  [{ ...base, key_prefix: 'x'.repeat(1025) }, /^key_prefix: must be at most 1024 bytes/],
  [
    { ...base, bucket_name: "logs'; DROP TABLE compression_jobs; --" },
    /^bucket_name: must be a valid S3 bucket name/,
  ],
  [{ ...base, dataset: 'a b' }, /^dataset: must be letters, digits and underscores/],
  [{ ...base, dataset: '' }, /^dataset: must be letters, digits and underscores/],
  [{ ...base, dataset: 'données' }, /^dataset: must be letters, digits and underscores/],
  [{ ...base, dataset: 'd'.repeat(45) }, /^dataset: must be at most 44 characters \(CLP's limit/],
  [{ ...base, dataset: 'd'.repeat(255) }, /^dataset: must be at most 44 characters/],
  [{ ...base, buffer_config: { timeout_sec: -1 } }, /^buffer_config\.timeout_sec:/],
  [{ ...base, buffer_config: { flush_threshold_bytes: 'big' } }, /^buffer_config\.flush_threshold_bytes:/],
  [{ ...base, scanning_interval_sec: 0 }, /^scanning_interval_sec:/],
  [{ ...base, endpoint_url: 'not a url' }, /^endpoint_url:/],
  [{ ...base, surprise: 1 }, /unknown field "surprise"/],
  [[1, 2], /must be a JSON object/],
  ['{}', /must be a JSON object/],
  [null, /must be a JSON object/],
])('an invalid S3-scanner config gets an error naming the field: %j', (raw, message) => {
  expect(() => parseJobConfig('s3_scanner', raw)).toThrow(InvalidConfigError);
  expect(() => parseJobConfig('s3_scanner', raw)).toThrow(message);
});

test.each([
  [{ ...base }, /^queue_url: Invalid input/],
  [{ ...base, queue_url: 'http://q', num_concurrent_listener_tasks: 33 }, /^num_concurrent_listener_tasks:/],
  [{ ...base, queue_url: 'http://q', wait_time_sec: 21 }, /^wait_time_sec:/],
])('an invalid SQS-listener config names the field: %j', (raw, message) => {
  expect(() => parseJobConfig('sqs_listener', raw)).toThrow(message);
});

test('fs configs need an absolute directory', () => {
  expect(() => parseJobConfig('fs', { directory: 'relative/logs' })).toThrow(
    /^directory: must be an absolute path/,
  );
  expect(parseJobConfig('fs', { directory: '/var/log' }).config).toMatchObject({ settle_delay_sec: 10 });
});

test('SQL-like text is accepted verbatim where the field allows any text', () => {
  const sql = "'; DROP TABLE log_ingestor_ingested_files; --";
  const job = parseJobConfig('s3_scanner', {
    ...base,
    key_prefix: sql,
    timestamp_key: sql,
    start_after: sql,
  });
  expect(job.config).toMatchObject({ key_prefix: sql, timestamp_key: sql, start_after: sql });
});

test('jobs conflict when bucket, region, endpoint and dataset match and one prefix contains the other', () => {
  const s3 = (extra: object) => parseJobConfig('s3_scanner', { ...base, ...extra });
  expect(conflicts(s3({}), s3({ key_prefix: 'app/sub/' }))).toBe(true);
  expect(conflicts(s3({ key_prefix: 'app/sub/' }), s3({}))).toBe(true);
  expect(conflicts(s3({}), s3({ key_prefix: 'other/' }))).toBe(false);
  expect(conflicts(s3({}), s3({ dataset: 'other' }))).toBe(false);
  expect(conflicts(s3({}), s3({ region: 'eu-west-1' }))).toBe(false);
  expect(conflicts(s3({}), s3({ endpoint_url: 'http://127.0.0.1:9000' }))).toBe(false);
  const sqs = parseJobConfig('sqs_listener', { ...base, queue_url: 'http://q' });
  expect(conflicts(s3({}), sqs)).toBe(true);
  expect(conflicts(s3({}), parseJobConfig('fs', { directory: '/x' }))).toBe(false);
});

describe('SQS listener sources: several (bucket, key prefix) pairs', () => {
  const q = { queue_url: 'http://127.0.0.1:9324/000000000000/q' };
  const sources = [
    { bucket_name: 'logs', key_prefix: 'app/' },
    { bucket_name: 'other-logs', key_prefix: 'svc/' },
  ];

  test('a list of pairs is accepted, and the single bucket_name/key_prefix form still is', () => {
    expect(parseJobConfig('sqs_listener', { ...q, sources }).config).toMatchObject({ sources });
    expect(parseJobConfig('sqs_listener', { ...q, ...base }).config).toMatchObject(base);
  });

  test.each([
    [{ ...q }, /^bucket_name: is required \(or give sources instead\)/],
    [{ ...q, bucket_name: 'logs' }, /^key_prefix: is required/],
    [{ ...q, ...base, sources }, /^bucket_name: cannot be given with sources/],
    [{ ...q, key_prefix: 'a/', sources }, /^key_prefix: cannot be given with sources/],
    [{ ...q, sources: [] }, /^sources: must list at least one/],
    [{ ...q, sources: 'logs' }, /^sources:/],
    [{ ...q, sources: [...sources, { key_prefix: 'x/' }] }, /^sources\[2\]\.bucket_name: is required/],
    [
      { ...q, sources: [...sources, { bucket_name: 'Bad_Bucket', key_prefix: 'x/' }] },
      /^sources\[2\]\.bucket_name: must be a valid S3 bucket name/,
    ],
    [
      { ...q, sources: [{ bucket_name: 'logs', key_prefix: '' }] },
      /^sources\[0\]\.key_prefix: must be a non-empty string/,
    ],
    [{ ...q, sources: [{ ...sources[0], region: 'x' }] }, /unknown field "region"/],
    [
      { ...q, sources: [...sources, { bucket_name: 'logs', key_prefix: 'app/sub/' }] },
      /^sources\[2\]: overlaps sources\[0\]/,
    ],
    [
      {
        ...q,
        sources: Array.from({ length: 101 }, (_, i) => ({ bucket_name: 'logs', key_prefix: `p${i}/` })),
      },
      /^sources: must list at most 100/,
    ],
  ])('bad sources get an error naming the field: %j', (raw, message) => {
    expect(() => parseJobConfig('sqs_listener', raw)).toThrow(InvalidConfigError);
    expect(() => parseJobConfig('sqs_listener', raw)).toThrow(message);
  });

  test('a job with several sources conflicts with a job on any of them', () => {
    const multi = parseJobConfig('sqs_listener', { ...q, sources });
    const scanner = (b: string, p: string) => parseJobConfig('s3_scanner', { bucket_name: b, key_prefix: p });
    expect(conflicts(multi, scanner('other-logs', 'svc/a/'))).toBe(true);
    expect(conflicts(scanner('logs', 'app/'), multi)).toBe(true);
    expect(conflicts(multi, scanner('other-logs', 'app/'))).toBe(false);
    expect(conflicts(multi, scanner('logs', 'svc/'))).toBe(false);
  });
});

describe('S3 scanner rescan_interval_sec', () => {
  test('off by default, a number of seconds when given', () => {
    expect(parseJobConfig('s3_scanner', base).config).not.toHaveProperty('rescan_interval_sec');
    expect(parseJobConfig('s3_scanner', { ...base, rescan_interval_sec: 600 }).config).toMatchObject({
      rescan_interval_sec: 600,
    });
  });

  test.each([0, 0.5, -1, 'often', 8 * 86_400, null])(
    'rescan_interval_sec %j is refused, naming the field',
    (v) => {
      expect(() => parseJobConfig('s3_scanner', { ...base, rescan_interval_sec: v })).toThrow(
        /^rescan_interval_sec: /,
      );
    },
  );
});

describe('s3_object_list', () => {
  const parse = (raw: unknown) => parseJobConfig('s3_object_list', raw);

  test('s3:// URLs give the bucket, no endpoint and the keys’ common prefix; a stored config parses again', () => {
    const job = parse({ urls: ['s3://logs/app/2024/a.log', 's3://logs/app/2025/b.log'] });
    expect(job.config).toMatchObject({ bucket_name: 'logs', key_prefix: 'app/202', dataset: 'default' });
    expect(job.config).not.toHaveProperty('endpoint_url');
    expect(parse(JSON.parse(JSON.stringify(job.config))).config).toEqual(job.config);
  });

  test('path-style endpoint URLs give the endpoint and the percent-decoded key', () => {
    const job = parse({ urls: ['http://127.0.0.1:9000/logs/a%20b.log', 'http://127.0.0.1:9000/logs/c.log'] });
    expect(job.config).toMatchObject({
      bucket_name: 'logs',
      key_prefix: '',
      endpoint_url: 'http://127.0.0.1:9000',
    });
    expect(parseObjectUrls((job.config as { urls: string[] }).urls)).toMatchObject({
      keys: ['a b.log', 'c.log'],
    });
  });

  test.each([
    [{}, /^urls: is required/],
    [{ urls: [] }, /^urls: must name at least one object/],
    [{ urls: 's3://logs/a' }, /^urls: must be an array/],
    [{ urls: ['s3://logs/a', 7] }, /^urls\[1\]: must be a string/],
    [
      {
        urls: ['s3://logs/a', 'logs/b', 's3://Logs/c', 's3://logs/', 'ftp://h/logs/d', 'http://u:p@h/logs/e'],
      },
      /^urls: malformed: #2 "logs\/b" .*#3 "s3:\/\/Logs\/c" bucket "Logs" is not a valid.*#4 "s3:\/\/logs\/" names no key.*#5 "ftp:\/\/h\/logs\/d" scheme.*#6 .*user name or password/,
    ],
    [
      { urls: ['s3://logs/a', 's3://other/b', 'http://127.0.0.1:9000/logs/c'] },
      /^urls: not in the first URL's bucket "logs" .*mixed buckets or endpoints\): #2 "s3:\/\/other\/b" \(bucket "other".*#3 "http:\/\/127.0.0.1:9000\/logs\/c" \(bucket "logs" at http:\/\/127.0.0.1:9000\)/,
    ],
    [
      { urls: ['s3://logs/a', 's3://logs/b', 's3://logs/a', 's3://logs/b'] },
      /^urls: duplicates: #3 "s3:\/\/logs\/a" \(same object as #1\), #4 "s3:\/\/logs\/b" \(same object as #2\)/,
    ],
    [
      { urls: ['http://h:9000/logs/a%2Fb', 'http://H:9000/logs/a/b'] },
      /^urls: duplicates: #2 .*same object as #1/,
    ],
    [{ urls: ['s3://logs/a'], bucket_name: 'other' }, /^bucket_name: must be what urls name \("logs"\)/],
    [{ urls: ['s3://logs/a'], surprise: 1 }, /unknown field "surprise"/],
  ])('an invalid object list is refused naming the entries: %j', (raw, message) => {
    expect(() => parse(raw)).toThrow(InvalidConfigError);
    expect(() => parse(raw)).toThrow(message);
  });

  test('one_time is accepted on s3_scanner and fs and left out by default', () => {
    expect(parseJobConfig('s3_scanner', { ...base, one_time: true }).config).toMatchObject({
      one_time: true,
    });
    expect(parseJobConfig('fs', { directory: '/d', one_time: true }).config).toMatchObject({
      one_time: true,
    });
    expect(parseJobConfig('fs', { directory: '/d' }).config).not.toHaveProperty('one_time');
    expect(() => parseJobConfig('fs', { directory: '/d', one_time: 'yes' })).toThrow(/^one_time:/);
  });
});

test('a dataset name CLP takes is taken by every job kind, up to 44 characters; one character more is refused', () => {
  const name = `Ab_9${'d'.repeat(40)}`;
  expect(name).toHaveLength(44);
  const configs = {
    s3_scanner: base,
    sqs_listener: {
      queue_url: 'http://127.0.0.1:9324/000000000000/q',
      bucket_name: 'logs',
      key_prefix: 'app/',
    },
    fs: { directory: '/var/log' },
    s3_object_list: { urls: ['s3://logs/app/a.log'] },
  } as const;
  for (const [kind, config] of Object.entries(configs)) {
    const k = kind as keyof typeof configs;
    expect(parseJobConfig(k, { ...config, dataset: name }).config).toMatchObject({ dataset: name });
    expect(() => parseJobConfig(k, { ...config, dataset: `${name}x` })).toThrow(
      /^dataset: must be at most 44/,
    );
  }
});
