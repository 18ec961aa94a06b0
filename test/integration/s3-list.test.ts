/**
 * The scanner's lean ListObjectsV2 (src/s3-list.ts) against MinIO, next to
 * the AWS SDK's own: the same keys (odd ones included), sizes, timestamps and
 * paging, and S3's error codes under the SDK's names.
 */
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, createS3ListerFor } from '../../src/aws';
import { loadSettings } from '../../src/config/settings';
import { parseListPage, S3ListError, type ListedObject } from '../../src/s3-list';
import { createTestBucket } from '../support/stack';

const settings = loadSettings();
let s3: S3Client;
let bucket: string;
const ODD = [
  'odd/plain.log',
  'odd/with space.log',
  'odd/plus+sign.log',
  'odd/percent%20literal.log',
  'odd/amp&lt;gt>"quote\'.log',
  'odd/ünïcødé/日本語.log',
  'odd/emoji-🪵.log',
  'odd/control-\u0001-char.log',
  'odd/tab\there.log',
  'odd/tilde~star*paren(1).log',
  'odd/dir/',
];

beforeAll(async () => {
  s3 = createS3Client(settings.aws);
  bucket = await createTestBucket(s3);
  await Promise.all(
    ODD.map((Key, i) =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.from('x'.repeat(i)) })),
    ),
  );
  const many = Array.from({ length: 2500 }, (_, i) => `many/${String(i).padStart(5, '0')}.log`);
  for (let i = 0; i < many.length; i += 100) {
    await Promise.all(
      many.slice(i, i + 100).map((Key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'y' }))),
    );
  }
});
afterAll(() => s3?.destroy());

async function sdkList(prefix: string, startAfter?: string): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ContinuationToken: token,
        StartAfter: token ? undefined : startAfter,
      }),
    );
    for (const o of r.Contents ?? [])
      out.push({ key: o.Key!, size: o.Size!, lastModified: o.LastModified!.getTime() });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function leanList(
  prefix: string,
  startAfter?: string,
  maxKeys = 1000,
): Promise<{ objects: ListedObject[]; pages: number }> {
  const list = createS3ListerFor(s3, settings.aws);
  const objects: ListedObject[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await list({
      bucket,
      prefix,
      maxKeys,
      continuationToken: token,
      startAfter: token ? undefined : startAfter,
    });
    objects.push(...page.objects);
    pages += 1;
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  return { objects, pages };
}

test('odd keys come back exactly as the SDK lists them', async () => {
  const lean = await leanList('odd/');
  expect(lean.objects.map((o) => o.key).sort()).toEqual([...ODD].sort());
  expect(lean.objects).toEqual(await sdkList('odd/'));
});

test('pages follow by continuation token; StartAfter starts a listing after any key', async () => {
  const { objects, pages } = await leanList('many/', undefined, 1000);
  expect(pages).toBe(3);
  expect(objects).toHaveLength(2500);
  expect(objects).toEqual(await sdkList('many/'));
  const after = await leanList('many/', 'many/01999.log', 700);
  expect(after.objects.map((o) => o.key)).toEqual(objects.slice(2000).map((o) => o.key));
  const odd = await leanList('odd/', 'odd/plus+sign.log');
  expect(odd.objects).toEqual(await sdkList('odd/', 'odd/plus+sign.log'));
});

test('S3 errors keep their codes (a missing bucket is NoSuchBucket) and bad credentials are refused', async () => {
  const list = createS3ListerFor(s3, settings.aws);
  await expect(list({ bucket: 'no-such-bucket-lean-list', prefix: '', maxKeys: 10 })).rejects.toMatchObject({
    name: 'NoSuchBucket',
    $metadata: { httpStatusCode: 404 },
  });
  const wrong = createS3Client({
    ...settings.aws,
    credentials: { accessKeyId: 'nobody', secretAccessKey: 'wrong' },
  });
  const denied = createS3ListerFor(wrong, settings.aws);
  const err = await denied({ bucket, prefix: '', maxKeys: 10 }).catch((e) => e);
  expect(err).toBeInstanceOf(S3ListError);
  expect(err.name).toBe('InvalidAccessKeyId');
  wrong.destroy();
});

test('parseListPage reads entities, numeric references and URL-encoded keys', () => {
  const xml = `<?xml version="1.0"?><ListBucketResult><IsTruncated>true</IsTruncated>
    <Contents><Key>a%20b%2Bc%26d</Key><LastModified>2026-11-21T00:00:00.000Z</LastModified><Size>7</Size></Contents>
    <Contents><Key>x+y&amp;z</Key><LastModified>2026-11-21T00:00:01.500Z</LastModified><Size>0</Size></Contents>
    <NextContinuationToken>tok&amp;en&#x2F;1</NextContinuationToken></ListBucketResult>`;
  expect(parseListPage(xml)).toEqual({
    objects: [
      { key: 'a b+c&d', size: 7, lastModified: Date.parse('2026-11-21T00:00:00.000Z') },
      { key: 'x y&z', size: 0, lastModified: Date.parse('2026-11-21T00:00:01.500Z') },
    ],
    isTruncated: true,
    nextContinuationToken: 'tok&en/1',
  });
  expect(() => parseListPage('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>')).toThrow(
    /continuation token/,
  );
});

test("parseListPage reads the response's bytes: multi-byte text before and inside an entry, and a cut-off entry", () => {
  const xml = `<ListBucketResult><Prefix>é/</Prefix><IsTruncated>false</IsTruncated>
    <Contents><Key>%C3%A9/caf%C3%A9</Key><LastModified>2026-11-21T00:00:00.000Z</LastModified><Size>12</Size></Contents>
    <Contents><Key>%C3%A9/%F0%9F%93%9C+log</Key><LastModified>2026-11-21T00:00:02.000Z</LastModified><Size>3</Size></Contents>
    </ListBucketResult>`;
  const page = {
    objects: [
      { key: 'é/café', size: 12, lastModified: Date.parse('2026-11-21T00:00:00.000Z') },
      { key: 'é/📜 log', size: 3, lastModified: Date.parse('2026-11-21T00:00:02.000Z') },
    ],
    isTruncated: false,
    nextContinuationToken: undefined,
  };
  expect(parseListPage(Buffer.from(xml, 'utf8'))).toEqual(page);
  expect(parseListPage(xml)).toEqual(page);
  expect(() => parseListPage('<ListBucketResult><Contents><Key>a</Key><Size>1</Size>')).toThrow(
    /unterminated/,
  );
  expect(() => parseListPage('<ListBucketResult><Contents><Size>1</Size></Contents>')).toThrow(
    /without a Key/,
  );
});
