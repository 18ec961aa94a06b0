import { createLogger, fastifyLoggerOptions, sdkLogRecord, type LogFields } from '../../src/common/log';

test('a logger writes one record per event: ts, level, msg, then its own and the event’s fields', () => {
  const out: LogFields[] = [];
  const log = createLogger((r) => out.push(r)).child({ job_id: 7 });
  log.warn('slow', { ms: 12 });
  expect(out).toEqual([{ ts: expect.any(String), level: 'warn', msg: 'slow', job_id: 7, ms: 12 }]);
  expect(new Date(out[0].ts as string).toISOString()).toBe(out[0].ts);
});

test('an SDK entry becomes our record without the task token: level as a word, job_id from the workflow’s jobId or its workflow id', () => {
  const at = 1_700_000_000_123n * 1_000_000n;
  expect(
    sdkLogRecord({
      level: 'INFO',
      message: 'flushed buffer',
      timestampNanos: at,
      meta: { workflowId: 'clp-ingestion-job-42', activityType: 'scanS3', attempt: 2n, taskToken: 'Ci0w' },
    }),
  ).toEqual({
    ts: '2023-11-14T22:13:20.123Z',
    level: 'info',
    msg: 'flushed buffer',
    workflowId: 'clp-ingestion-job-42',
    activityType: 'scanS3',
    attempt: '2',
    job_id: 42,
  });
  expect(
    sdkLogRecord({
      level: 'WARN',
      message: 'x',
      timestampNanos: at,
      meta: { workflowId: 'my-job', jobId: 9, compressionJobId: 3 },
    }),
  ).toMatchObject({ workflowId: 'my-job', job_id: 9, compression_job_id: 3 });
  expect(
    sdkLogRecord({ level: 'ERROR', message: 'x', timestampNanos: at, meta: { error: new TypeError('bad') } }),
  ).toMatchObject({ level: 'error', error: 'bad', error_name: 'TypeError' });
});

test('fastify’s logger options give its lines the same shape', () => {
  const opts = fastifyLoggerOptions('info');
  expect(opts.formatters.level('warn')).toEqual({ level: 'warn' });
  const ts = JSON.parse(`{"a":1${opts.timestamp()}}`).ts;
  expect(new Date(ts).toISOString()).toBe(ts);
  expect([opts.messageKey, opts.base]).toEqual(['msg', null]);
});
