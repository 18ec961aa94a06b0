import {
  decodeEventKey,
  OUTSIDE_SOURCES,
  parseS3EventMessage,
} from '../../src/sources/sqs_listener/s3-events';
import { dedupKey } from '../../src/store/store-core';

const filter = { bucket: 'logs', prefix: 'app/' };

function event(records: object[]): string {
  return JSON.stringify({ Records: records });
}

function created(key: string, extra: object = {}, bucket = 'logs', eventName = 'ObjectCreated:Put') {
  return {
    eventSource: 'aws:s3',
    eventName,
    eventTime: '2026-11-21T00:00:00.000Z',
    s3: { bucket: { name: bucket }, object: { key, size: 42, sequencer: '0055AED6DCD90281E5', ...extra } },
  };
}

test('S3 notification keys are form-URL-decoded: + is a space, then %XX', () => {
  expect(decodeEventKey('app/a+b%2Bc%26d%3De%C3%BC.log')).toBe('app/a b+c&d=eü.log');
});

test('only ObjectCreated records for the bucket and prefix become files, directory markers excluded', () => {
  const parsed = parseS3EventMessage(
    event([
      created('app/one.log'),
      created('app/two.log', {}, 'other-bucket'),
      created('other/three.log'),
      created('app/dir/'),
      created('app/removed.log', {}, 'logs', 'ObjectRemoved:Delete'),
      created('app/with+space.log', { size: 7 }, 'logs', 'ObjectCreated:CompleteMultipartUpload'),
    ]),
    filter,
  );
  expect(parsed).toEqual({
    kind: 'files',
    files: [
      { s3: { bucket: 'logs', key: 'app/one.log' }, size: 42, version: '0055AED6DCD90281E5' },
      { s3: { bucket: 'logs', key: 'app/with space.log' }, size: 7, version: '0055AED6DCD90281E5' },
    ],
  });
  // The store records them under the same dedup identity as ever: bucket/key, NUL, the sequencer.
  expect(parsed.kind === 'files' && parsed.files.map(dedupKey)).toEqual([
    'logs/app/one.log\u00000055AED6DCD90281E5',
    'logs/app/with space.log\u00000055AED6DCD90281E5',
  ]);
});

test('a later upload of the same key has a different dedup key; a redelivery has the same', () => {
  const a = parseS3EventMessage(event([created('app/x.log', { sequencer: 'A1' })]), filter);
  const again = parseS3EventMessage(event([created('app/x.log', { sequencer: 'A1' })]), filter);
  const later = parseS3EventMessage(event([created('app/x.log', { sequencer: 'B2' })]), filter);
  const key = (p: typeof a) => (p.kind === 'files' ? dedupKey(p.files[0]) : null);
  expect(key(a)).toBe(key(again));
  expect(key(a)).not.toBe(key(later));
});

test('SNS-wrapped notifications are unwrapped', () => {
  const sns = JSON.stringify({ Type: 'Notification', Message: event([created('app/sns.log')]) });
  const parsed = parseS3EventMessage(sns, filter);
  expect(parsed.kind === 'files' && parsed.files.map((f) => f.s3)).toEqual([
    { bucket: 'logs', key: 'app/sns.log' },
  ]);
});

test.each([
  ['not json {', /malformed JSON/],
  [JSON.stringify({ Event: 's3:TestEvent', Bucket: 'logs' }), /test event/],
  [JSON.stringify({ hello: 'world' }), /not an S3 event notification/],
  [JSON.stringify([1, 2]), /not an S3 event notification/],
  [event([{ eventName: 'ObjectCreated:Put' }]), /malformed S3 event record/],
  [event([created('app/%E0%A4%A.log')]), /malformed key encoding/],
  ['\udc80\ud800 invalid surrogates', /malformed JSON/],
])('garbage is ignored with a reason: %s', (body, reason) => {
  const parsed = parseS3EventMessage(body, filter);
  expect(parsed.kind).toBe('ignored');
  expect(parsed.kind === 'ignored' && parsed.reason).toMatch(reason);
});

describe('several (bucket, prefix) sources', () => {
  const sources = [
    { bucket: 'logs', prefix: 'app/' },
    { bucket: 'more-logs', prefix: 'svc/' },
  ];

  test('records in any source become files; a message wholly outside them is ignored with a reason', () => {
    const inBoth = parseS3EventMessage(
      event([created('app/a.log'), created('svc/b.log', {}, 'more-logs')]),
      sources,
      {
        ignoreOutside: true,
      },
    );
    expect(inBoth.kind === 'files' && inBoth.files.map((f) => f.s3)).toEqual([
      { bucket: 'logs', key: 'app/a.log' },
      { bucket: 'more-logs', key: 'svc/b.log' },
    ]);
    for (const outside of [
      created('svc/b.log'),
      created('app/a.log', {}, 'more-logs'),
      created('x.log', {}, 'nobody'),
    ]) {
      expect(parseS3EventMessage(event([outside]), sources, { ignoreOutside: true })).toEqual({
        kind: 'ignored',
        reason: OUTSIDE_SOURCES,
      });
      // CLP's single bucket and prefix form: skipped without counting, as before.
      expect(parseS3EventMessage(event([outside]), sources)).toEqual({ kind: 'files', files: [] });
    }
    // A removal or a directory marker inside a source is not "outside".
    expect(parseS3EventMessage(event([created('app/dir/')]), sources, { ignoreOutside: true })).toEqual({
      kind: 'files',
      files: [],
    });
    const removed = created('app/gone.log', {}, 'logs', 'ObjectRemoved:Delete');
    expect(parseS3EventMessage(event([removed]), sources, { ignoreOutside: true })).toEqual({
      kind: 'files',
      files: [],
    });
  });
});
