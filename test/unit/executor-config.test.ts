/** What the executor accepts in clp_config, how it names things in status messages, and what clp-s reads. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encode } from '@msgpack/msgpack';
import { brotliCompressSync } from 'node:zlib';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createJobS3Client } from '../../src/aws';
import { encodeClpConfig, type ClpConfig } from '../../src/clp/clp-config';
import { clpCompat, type ClpRelease } from '../../src/clp/compat';
import {
  checkS3Keys,
  compareCodePoints,
  InvalidClpConfigError,
  parseClpJobConfig,
} from '../../src/executor/clp-job-config';
import {
  checkObjectMetadata,
  fsInputs,
  hostPathOf,
  InputError,
  JobRejectedError,
  s3Inputs,
} from '../../src/executor/inputs';
import { STATUS_MSG_MAX_CHARS, truncateStatusMsg } from '../../src/executor/job-store';

const HEAD = clpCompat('head');
type S3Input = Extract<ClpConfig['input'], { type: 's3' }>;
const V013 = clpCompat('0.13');

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

test('the ingestor-encoded config (zstd for head, brotli for v0.9-v0.13) is accepted as is', async () => {
  for (const [codec, compat] of [
    ['zstd', HEAD],
    ['brotli', V013],
  ] as const) {
    const parsed = await parseClpJobConfig(await encodeClpConfig(s3Config, codec), compat);
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
    HEAD,
  );
  expect(fs.input).toMatchObject({ type: 'fs', paths_to_compress: ['/x/y.log'] });
});

test('undecodable bytes and wrong shapes are InvalidClpConfigErrors saying why', async () => {
  for (const compat of [HEAD, V013]) {
    await expect(parseClpJobConfig(Buffer.from('not a config at all'), compat)).rejects.toThrow(
      /^clp_config cannot be decoded: /,
    );
  }
  const noBucket = brotliCompressSync(encode({ input: { ...s3Config.input, bucket: undefined }, output }));
  await expect(parseClpJobConfig(noBucket, V013)).rejects.toThrow(/clp_config is invalid at input\.bucket/);
  const badType = brotliCompressSync(encode({ input: { type: 'ftp' }, output }));
  await expect(parseClpJobConfig(badType, V013)).rejects.toThrow(InvalidClpConfigError);
  const noKeys = brotliCompressSync(encode({ input: { ...s3Config.input, keys: [] }, output }));
  await expect(parseClpJobConfig(noKeys, V013)).rejects.toThrow(/input\.keys/);
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
  // A HEAD's error has no body, so the SDK knows it only as "Unknown": its HTTP status says why.
  const head403 = Object.assign(new Error('UnknownError'), {
    name: 'Unknown',
    $metadata: { httpStatusCode: 403 },
  });
  expect(new InputError('s3://b/k', head403).message).toBe('s3://b/k: HTTP 403 Forbidden');
});

/** The same config in the codec of each release line. */
async function encodeFor(config: unknown, release: ClpRelease): Promise<Buffer> {
  return encodeClpConfig(config as ClpConfig, clpCompat(release).codec);
}

test('each release line decodes only its own codec: head refuses brotli, v0.9-v0.13 refuse zstd', async () => {
  const brotli = await encodeClpConfig(s3Config, 'brotli');
  const zstd = await encodeClpConfig(s3Config, 'zstd');
  await expect(parseClpJobConfig(brotli, HEAD)).rejects.toThrow(
    /^clp_config cannot be decoded: it is not a zstd frame, and CLP head \(CLP_COMPAT=head\) decodes only zstd/,
  );
  for (const release of ['0.13', '0.12', '0.11', '0.10', '0.9'] as const) {
    await expect(parseClpJobConfig(zstd, clpCompat(release))).rejects.toThrow(
      new RegExp(
        `^clp_config cannot be decoded: it is zstd-compressed, and CLP v${release.replace('.', '\\.')} `,
      ),
    );
  }
});

test("head refuses a zstd frame that does not carry its content size (CLP's scheduler cannot decode it)", async () => {
  const packed = Buffer.from(encode(s3Config));
  expect(packed.length).toBeLessThan(1 << 20);
  // A frame of one raw block: no Frame_Content_Size (descriptor 0), a window descriptor instead.
  const block = Buffer.alloc(3);
  block.writeUIntLE((packed.length << 3) | 1, 0, 3); // last block, raw
  const noSize = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]), block, packed]);
  await expect(parseClpJobConfig(noSize, HEAD)).rejects.toThrow(/does not carry the content size/);
  // The same block with the size in the header (single segment, 4-byte Frame_Content_Size) is fine.
  const size = Buffer.alloc(4);
  size.writeUInt32LE(packed.length);
  const withSize = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0]), size, block, packed]);
  expect((await parseClpJobConfig(withSize, HEAD)).input).toMatchObject({ type: 's3', bucket: 'b' });
});

test('input and authentication types the release line lacks fail the job', async () => {
  const metadata = {
    input: {
      ...s3Config.input,
      type: 's3_object_metadata',
      keys: undefined,
      ingestion_job_id: 1,
      s3_object_metadata_ids: [1],
    },
    output,
  };
  // The schedulers of head and v0.11-v0.13 take s3_object_metadata; v0.9 and v0.10 know only s3 and fs.
  for (const release of ['head', '0.13', '0.12', '0.11'] as const) {
    const parsed = await parseClpJobConfig(await encodeFor(metadata, release), clpCompat(release));
    expect(parsed.input.type).toBe('s3_object_metadata');
  }
  for (const release of ['0.10', '0.9'] as const) {
    await expect(parseClpJobConfig(await encodeFor(metadata, release), clpCompat(release))).rejects.toThrow(
      /^clp_config is invalid at input\.type: CLP v0\.\d+ \(CLP_COMPAT=0\.\d+\) has no "s3_object_metadata" input/,
    );
  }
  const withAuth = (auth: unknown) => ({ input: { ...s3Config.input, aws_authentication: auth }, output });
  for (const release of ['0.10', '0.9'] as const) {
    await expect(
      parseClpJobConfig(await encodeFor(withAuth({ type: 'default' }), release), clpCompat(release)),
    ).rejects.toThrow(
      /^clp_config is invalid at input\.aws_authentication\.type: .* does not know "default"/,
    );
  }
  for (const release of ['head', '0.13', '0.12', '0.11', '0.10', '0.9'] as const) {
    for (const auth of [
      { type: 'profile', profile: 'archive-reader' },
      { type: 'env_vars' },
      { type: 'credentials', credentials: { access_key_id: 'k', secret_access_key: 's' } },
      ...(release === '0.10' || release === '0.9' ? [{ type: 'ec2' }] : [{ type: 'default' }]),
    ]) {
      const parsed = await parseClpJobConfig(await encodeFor(withAuth(auth), release), clpCompat(release));
      expect(parsed.input.type === 's3' && parsed.input.aws_authentication).toEqual(auth);
    }
  }
  // ec2 is v0.9/v0.10's only.
  for (const release of ['head', '0.13', '0.12', '0.11'] as const) {
    await expect(
      parseClpJobConfig(await encodeFor(withAuth({ type: 'ec2' }), release), clpCompat(release)),
    ).rejects.toThrow(/does not know "ec2"/);
  }
  // A profile needs its name.
  await expect(
    parseClpJobConfig(await encodeFor(withAuth({ type: 'profile' }), 'head'), HEAD),
  ).rejects.toThrow(/input\.aws_authentication\.profile/);
});

test('s3 keys: sorted by code point as CLP sorts them; a duplicate, a key outside key_prefix or ending in / is refused by name', async () => {
  // Python orders str by code point; JS's default sort orders U+FF5E after U+1F600's surrogates.
  const keys = ['logs/😀.log', 'logs/～.log', 'logs/b.log', 'logs/a.log', 'logs/B.log'];
  expect(checkS3Keys({ keys, key_prefix: 'logs/' })).toEqual([
    'logs/B.log',
    'logs/a.log',
    'logs/b.log',
    'logs/～.log',
    'logs/😀.log',
  ]);
  expect([...keys].sort()).not.toEqual(checkS3Keys({ keys, key_prefix: 'logs/' }));
  expect(compareCodePoints('a', 'ab')).toBeLessThan(0);
  expect(compareCodePoints('ab', 'ab')).toBe(0);

  const parse = (k: string[], prefix = 'logs/') =>
    encodeClpConfig(
      { input: { ...s3Config.input, keys: k, key_prefix: prefix }, output } as ClpConfig,
      'zstd',
    ).then((b) => parseClpJobConfig(b, HEAD));
  expect((await parse(keys)).input).toMatchObject({ keys: checkS3Keys({ keys, key_prefix: 'logs/' }) });
  await expect(parse(['logs/a.log', 'logs/b.log', 'logs/a.log'])).rejects.toThrow(
    'clp_config is invalid at input.keys: duplicate key logs/a.log',
  );
  await expect(parse(['logs/a.log', 'other/b.log'])).rejects.toThrow(
    'clp_config is invalid at input.keys: key other/b.log does not start with key_prefix "logs/"',
  );
  await expect(parse(['logs/a.log', 'logs/dir/'])).rejects.toThrow(
    'clp_config is invalid at input.keys: key logs/dir/ ends with "/"',
  );
  await expect(parse(['a.log'], '')).resolves.toBeDefined();
});

test('s3_object_metadata: ids non-empty and unique; every id found; every key under key_prefix', async () => {
  const input = {
    ...s3Config.input,
    type: 's3_object_metadata',
    keys: undefined,
    ingestion_job_id: 7,
    s3_object_metadata_ids: [3, 1, 2],
  };
  const parse = (i: unknown) =>
    encodeClpConfig({ input: i, output } as ClpConfig, 'zstd').then((b) => parseClpJobConfig(b, HEAD));
  const parsed = await parse(input);
  expect(parsed.input).toMatchObject({ ingestion_job_id: 7, s3_object_metadata_ids: [3, 1, 2] });
  await expect(parse({ ...input, s3_object_metadata_ids: [] })).rejects.toThrow(
    /input\.s3_object_metadata_ids/,
  );
  await expect(parse({ ...input, s3_object_metadata_ids: [1, 2, 1] })).rejects.toThrow(
    /input\.s3_object_metadata_ids: duplicate id 1/,
  );
  await expect(parse({ ...input, ingestion_job_id: undefined })).rejects.toThrow(/input\.ingestion_job_id/);

  const meta = parsed.input;
  if (meta.type !== 's3_object_metadata') throw new Error('unreachable');
  const rows = [
    { id: 3, key: 'logs/c.log', size: 1 },
    { id: 1, key: 'logs/a.log', size: 1 },
    { id: 2, key: 'logs/b.log', size: 1 },
  ];
  const sized = rows.map((r) => ({ ...r, size: r.id * 10 }));
  expect(checkObjectMetadata(meta, sized)).toEqual({
    keys: ['logs/a.log', 'logs/b.log', 'logs/c.log'],
    sizes: [10, 20, 30],
  });
  expect(() => checkObjectMetadata(meta, rows.slice(1))).toThrow(
    'ingested_s3_object_metadata has no row for s3_object_metadata_ids 3 with ingestion_job_id 7',
  );
  expect(() => checkObjectMetadata(meta, [...rows.slice(1), { id: 3, key: 'other/c.log', size: 1 }])).toThrow(
    's3_object_metadata id 3: key other/c.log does not start with key_prefix "logs/"',
  );
});

/** Where a job's S3 requests would go, captured before anything is sent. */
async function requestTarget(client: ReturnType<typeof createJobS3Client>): Promise<string> {
  const capture: Parameters<typeof client.middlewareStack.add>[0] = () => async (args) => {
    const req = (args as { request: { protocol: string; hostname: string; port?: number; path: string } })
      .request;
    throw Object.assign(new Error('captured'), {
      target: `${req.protocol}//${req.hostname}${req.port ? `:${req.port}` : ''}${req.path}`,
    });
  };
  client.middlewareStack.add(capture, { step: 'finalizeRequest', priority: 'high' } as never);
  try {
    await client.send(new ListObjectsV2Command({ Bucket: 'bucket-x' }));
    throw new Error('sent');
  } catch (err) {
    return (err as { target?: string }).target ?? String(err);
  } finally {
    client.destroy();
  }
}

describe("endpoints: the job's endpoint_url only; null is AWS, never the process's AWS_ENDPOINT_URL*", () => {
  const saved = { ...process.env };
  beforeAll(() => {
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:2';
  });
  afterAll(() => {
    process.env = saved;
  });
  const aws = {
    region: 'us-east-1',
    s3Endpoint: 'http://127.0.0.1:2',
    forcePathStyle: true,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
  };

  test('a job endpoint is used as it is, path-style', async () => {
    const target = await requestTarget(
      createJobS3Client({
        region: 'eu-west-1',
        endpointUrl: 'http://127.0.0.1:9999',
        credentials: aws.credentials,
      }),
    );
    expect(target).toBe('http://127.0.0.1:9999/bucket-x/');
  });

  test("null is AWS's regional endpoint, whatever the environment says", async () => {
    for (const [region, host] of [
      ['eu-west-1', 'bucket-x.s3.eu-west-1.amazonaws.com'],
      ['cn-north-1', 'bucket-x.s3.cn-north-1.amazonaws.com.cn'],
    ]) {
      const target = await requestTarget(
        createJobS3Client({ region, endpointUrl: null, credentials: aws.credentials }),
      );
      expect(target).toBe(`https://${host}/`);
    }
  });

  test('with CLP_EXECUTOR_ALLOW_AWS=false a null endpoint is refused before a client exists', async () => {
    const loc = {
      ...(s3Config.input as S3Input),
      endpoint_url: null,
      aws_authentication: { type: 'default' as const },
    };
    await expect(s3Inputs(loc, ['logs/a.log'], { aws, allowAws: false }, [1])).rejects.toThrow(
      JobRejectedError,
    );
    await expect(s3Inputs(loc, ['logs/a.log'], { aws, allowAws: false }, [1])).rejects.toThrow(
      'endpoint_url is null, so this job would read from AWS S3 (s3://b in us-east-1); this executor may not (CLP_EXECUTOR_ALLOW_AWS=false)',
    );
    // Sizes given (as s3_object_metadata rows give them): nothing is sent.
    const allowed = await s3Inputs(loc, ['logs/a.log'], { aws, allowAws: true }, [1]);
    expect(allowed.files.map((f) => f.source)).toEqual(['s3://b/logs/a.log']);
    allowed.close();
  });

  test('env_vars authentication needs the two variables CLP reads', async () => {
    const loc = { ...(s3Config.input as S3Input), aws_authentication: { type: 'env_vars' as const } };
    await expect(
      s3Inputs(loc, ['logs/a.log'], { aws: { ...aws, credentials: undefined }, allowAws: false }, [1]),
    ).rejects.toThrow(/env_vars, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set/);
  });
});

describe("what clp-s reads: each object's URL by CLP's rule (generate_s3_url)", () => {
  const aws = {
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
  };
  /** The files of an s3 job at `loc` (sizes given, so nothing is sent). */
  async function files(loc: Partial<S3Input>, keys: string[], allowAws = false) {
    const inputs = await s3Inputs({ ...(s3Config.input as S3Input), ...loc }, keys, { aws, allowAws }, [
      ...keys.map((_, i) => 100 + i),
    ]);
    inputs.close();
    return inputs.files.map(({ clpPath, location, source, size }) => ({ clpPath, location, source, size }));
  }

  test('MinIO (endpoint_url set, region_code null): path-style under the endpoint, keys unencoded as CLP puts them', async () => {
    expect(
      await files({ endpoint_url: 'http://127.0.0.1:9000', region_code: null as never }, [
        'logs/a.log',
        'logs/ü b+c.log',
      ]),
    ).toEqual([
      {
        clpPath: 'logs/a.log',
        location: 'http://127.0.0.1:9000/b/logs/a.log',
        source: 's3://b/logs/a.log',
        size: 100,
      },
      {
        clpPath: 'logs/ü b+c.log',
        // Not percent-encoded: clp-s (libcurl) fails on the space, as it does under CLP.
        location: 'http://127.0.0.1:9000/b/logs/ü b+c.log',
        source: 's3://b/logs/ü b+c.log',
        size: 101,
      },
    ]);
    // An `s3.` host prefix and a trailing slash are CLP's endpoint form too.
    expect(
      (
        await files({ endpoint_url: 'https://s3.minio.example:9000/', region_code: null as never }, [
          'logs/a.log',
        ])
      )[0].location,
    ).toBe('https://s3.minio.example:9000/b/logs/a.log');
  });

  test('a custom endpoint with a region_code puts the region into the host, as CLP does (that host does not resolve)', async () => {
    expect(
      (await files({ endpoint_url: 'http://127.0.0.1:9000', region_code: 'us-east-1' }, ['logs/a.log']))[0]
        .location,
    ).toBe('http://us-east-1.127.0.0.1:9000/b/logs/a.log');
  });

  test('AWS (endpoint_url null): virtual-hosted style, with the region when the job has one', async () => {
    expect(await files({ endpoint_url: null, region_code: 'eu-west-1' }, ['logs/a.log'], true)).toEqual([
      {
        clpPath: 'logs/a.log',
        location: 'https://b.s3.eu-west-1.amazonaws.com/logs/a.log',
        source: 's3://b/logs/a.log',
        size: 100,
      },
    ]);
    expect(
      (await files({ endpoint_url: null, region_code: null as never }, ['logs/a.log'], true))[0].location,
    ).toBe('https://b.s3.amazonaws.com/logs/a.log');
  });

  test('an endpoint CLP cannot turn into a URL fails the job with its message', async () => {
    await expect(files({ endpoint_url: 'http://user@127.0.0.1:9000' }, ['logs/a.log'])).rejects.toThrow(
      new JobRejectedError('Unsupported endpoint URL format: http://user@127.0.0.1:9000'),
    );
  });
});

test("an fs job's files: CLP's path in the task, the host path for clp-s, in name order", async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'fs-inputs-'));
  try {
    await mkdir(path.join(root, 'd', 'sub'), { recursive: true });
    await writeFile(path.join(root, 'd', 'b.log'), 'bb');
    await writeFile(path.join(root, 'd', 'a.log'), 'a');
    await writeFile(path.join(root, 'd', 'sub', 'c.log'), 'ccc');
    const inputs = await fsInputs(
      {
        type: 'fs',
        paths_to_compress: [`/mnt/logs${root}/d`],
        path_prefix_to_remove: null,
        dataset: 'default',
        unstructured: false,
      },
      '/mnt/logs',
    );
    expect(
      inputs.files.map(({ clpPath, location, source, size }) => ({ clpPath, location, source, size })),
    ).toEqual(
      [
        ['a.log', 1],
        ['b.log', 2],
        ['sub/c.log', 3],
      ].map(([name, size]) => ({
        clpPath: `/mnt/logs${root}/d/${name}`,
        location: path.join(root, 'd', String(name)),
        source: `/mnt/logs${root}/d/${name}`,
        size,
      })),
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("fs paths are as CLP's containers see them: under the mount root, mapped back to host paths", () => {
  expect(hostPathOf('/mnt/logs/var/log/a.log', '/mnt/logs')).toBe('/var/log/a.log');
  expect(hostPathOf('/mnt/logs', '/mnt/logs')).toBe('/');
  expect(hostPathOf('/mnt/logs/', '/mnt/logs')).toBe('/');
  expect(hostPathOf('/var/log/a.log', '/mnt/logs')).toBeNull();
  expect(hostPathOf('/mnt/logsx/a.log', '/mnt/logs')).toBeNull();
  // As the container resolves it: .. cannot climb out of the mount.
  expect(hostPathOf('/mnt/logs/../etc/passwd', '/mnt/logs')).toBeNull();
  expect(hostPathOf('relative/a.log', '/mnt/logs')).toBeNull();
  expect(hostPathOf('/var/log/a.log', '')).toBe('/var/log/a.log');
});
