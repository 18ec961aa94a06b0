/** What the executor accepts in clp_config, and how it names things in status messages. */
import { encode } from '@msgpack/msgpack';
import { brotliCompressSync } from 'node:zlib';
import { encodeClpConfig, type ClpConfig } from '../../src/clp/clp-config';
import { InvalidClpConfigError, parseClpJobConfig } from '../../src/executor/clp-job-config';
import { InputError, storedName } from '../../src/executor/inputs';
import { STATUS_MSG_MAX_CHARS, truncateStatusMsg } from '../../src/executor/job-store';

const output = {
  target_archive_size: 1,
  target_dictionaries_size: 2,
  target_encoded_file_size: 3,
  target_segment_size: 4,
  compression_level: 3,
};

const s3Config: ClpConfig = {
  input: {
    type: 's3',
    keys: ['logs/a.log'],
    bucket: 'b',
    region_code: 'us-east-1',
    key_prefix: 'logs/',
    endpoint_url: 'http://127.0.0.1:9000',
    aws_authentication: { type: 'credentials', credentials: { access_key_id: 'k', secret_access_key: 's' } },
    dataset: 'default',
    timestamp_key: null,
    unstructured: false,
  },
  output,
};

test('the ingestor-encoded config (zstd and brotli) is accepted as is', async () => {
  for (const codec of ['zstd', 'brotli'] as const) {
    const parsed = await parseClpJobConfig(await encodeClpConfig(s3Config, codec));
    expect(parsed.input).toMatchObject({ type: 's3', bucket: 'b', keys: ['logs/a.log'] });
    expect(parsed.output.compression_level).toBe(3);
  }
  const fs = await parseClpJobConfig(
    await encodeClpConfig(
      {
        input: {
          type: 'fs',
          paths_to_compress: ['/x/y.log'],
          path_prefix_to_remove: '/x',
          dataset: 'd',
          timestamp_key: null,
          unstructured: true,
        },
        output,
      },
      'zstd',
    ),
  );
  expect(fs.input).toMatchObject({ type: 'fs', paths_to_compress: ['/x/y.log'] });
});

test('undecodable bytes and wrong shapes are InvalidClpConfigErrors saying why', async () => {
  await expect(parseClpJobConfig(Buffer.from('not a config at all'))).rejects.toThrow(
    /^clp_config cannot be decoded: /,
  );
  const noBucket = brotliCompressSync(encode({ input: { ...s3Config.input, bucket: undefined }, output }));
  await expect(parseClpJobConfig(noBucket)).rejects.toThrow(/clp_config is invalid at input\.bucket/);
  const badType = brotliCompressSync(encode({ input: { type: 'ftp' }, output }));
  await expect(parseClpJobConfig(badType)).rejects.toThrow(InvalidClpConfigError);
  const noKeys = brotliCompressSync(encode({ input: { ...s3Config.input, keys: [] }, output }));
  await expect(parseClpJobConfig(noKeys)).rejects.toThrow(/input\.keys/);
});

test('status messages are cut to the column width in characters, not bytes', () => {
  expect(truncateStatusMsg('short')).toBe('short');
  const long = 'ü'.repeat(600);
  const cut = truncateStatusMsg(long);
  expect(Array.from(cut)).toHaveLength(STATUS_MSG_MAX_CHARS);
  expect(cut.endsWith('…')).toBe(true);
});

test('input errors lead with the source and the searchable reason', () => {
  const noSuchKey = Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
  expect(new InputError('s3://b/k', noSuchKey).message).toBe(
    's3://b/k: NoSuchKey (The specified key does not exist.)',
  );
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT' });
  expect(new InputError('/x', enoent).message).toBe("/x: ENOENT: no such file or directory, open '/x'");
});

test('stored names drop path_prefix_to_remove and never start with a slash', () => {
  expect(storedName('/data/logs/a.log', '/data')).toBe('logs/a.log');
  expect(storedName('/data/logs/a.log', '/data/')).toBe('logs/a.log');
  expect(storedName('/data/logs/a.log', null)).toBe('data/logs/a.log');
  expect(storedName('/data/logs/a.log', '/other')).toBe('data/logs/a.log');
  expect(storedName('/data/a.log', '/data/a.log')).toBe('a.log');
});
