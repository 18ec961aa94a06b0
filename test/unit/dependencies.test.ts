/** Waiting for Temporal and the CLP DB: what is waited on, how long between tries, what is logged. */
import { NamespaceNotFoundError } from '@temporalio/common';
import {
  Backoff,
  DependencyTimeoutError,
  dbClassifier,
  dbDependency,
  parseHostPort,
  temporalClassifier,
  temporalConfigError,
  temporalDependency,
  untilAvailable,
  waitMessage,
} from '../../src/dependencies';
import { createLogger, type LogFields } from '../../src/common/log';

const db = dbDependency({ host: '127.0.0.1', port: 3307 });
const temporal = temporalDependency('127.0.0.1:7233');
const coded = (code: string, extra: object = {}) => Object.assign(new Error(`x ${code}`), { code, ...extra });

test('backoff: 0.5 s doubling to 15 s, reset by a success', () => {
  const b = new Backoff();
  expect(Array.from({ length: 8 }, () => b.next())).toEqual([
    500, 1000, 2000, 4000, 8000, 15000, 15000, 15000,
  ]);
  expect(b.failing).toBe(true);
  b.reset();
  expect(b.failing).toBe(false);
  expect(b.next()).toBe(500);
});

test('the DB: network and availability errors are waited on, access and SQL errors are not', () => {
  const c = dbClassifier(db);
  expect(c(coded('ECONNREFUSED'))).toEqual({
    dependency: db,
    state: 'not reachable',
    reason: 'ECONNREFUSED',
  });
  expect(c(coded('PROTOCOL_CONNECTION_LOST'))?.state).toBe('not reachable');
  expect(c(coded('ER_CON_COUNT_ERROR', { sqlMessage: 'Too many connections' }))).toEqual({
    dependency: db,
    state: 'not ready',
    reason: 'ER_CON_COUNT_ERROR: Too many connections',
  });
  expect(c(new Error('wrapped', { cause: coded('ETIMEDOUT') }))?.reason).toBe('ETIMEDOUT');
  expect(c(coded('ER_ACCESS_DENIED_ERROR'))).toBeNull();
  expect(c(coded('ER_BAD_DB_ERROR'))).toBeNull();
  expect(c(coded('ER_PARSE_ERROR'))).toBeNull();
  expect(c(new Error('plain'))).toBeNull();
});

test('Temporal: unreachable and UNAVAILABLE are waited on; a missing namespace or refused credentials are not', () => {
  const c = temporalClassifier(temporal);
  expect(c(coded('ECONNREFUSED'))?.reason).toBe('ECONNREFUSED');
  expect(c(Object.assign(new Error('14 UNAVAILABLE: no'), { code: 14, details: 'no' }))).toEqual({
    dependency: temporal,
    state: 'not ready',
    reason: 'no',
  });
  expect(c(new Error('Failed to connect before the deadline'))?.state).toBe('not reachable');
  const transport = Object.assign(new Error('tcp connect error ... kind: ConnectionRefused'), {
    name: 'TransportError',
  });
  expect(c(transport)?.reason).toBe('ECONNREFUSED');
  const notFound = new Error(
    'Namespace nope was not found or otherwise could not be described: Status { code: NotFound, ... }',
  );
  expect(c(notFound)).toBeNull();
  expect(temporalConfigError(notFound, 'nope', '127.0.0.1:7233')).toBe(
    'Temporal at 127.0.0.1:7233 has no namespace "nope": create it (temporal operator namespace create -n nope) or set TEMPORAL_NAMESPACE',
  );
  expect(c(new NamespaceNotFoundError('nope'))).toBeNull();
  expect(c(Object.assign(new Error('16 UNAUTHENTICATED'), { code: 16 }))).toBeNull();
});

test('the wait is logged as what it is', () => {
  expect(waitMessage({ dependency: temporal, state: 'not reachable', reason: 'ECONNREFUSED' }, 4000)).toBe(
    'Temporal at 127.0.0.1:7233 not reachable (ECONNREFUSED); retrying in 4 s',
  );
  expect(waitMessage({ dependency: db, state: 'not reachable', reason: 'ETIMEDOUT' }, 500)).toBe(
    'CLP DB at 127.0.0.1:3307 not reachable (ETIMEDOUT); retrying in 0.5 s',
  );
});

test('untilAvailable retries until success, logs each wait, and gives up at the deadline', async () => {
  const logs: LogFields[] = [];
  const log = createLogger((r) => logs.push(r));
  let calls = 0;
  const value = await untilAvailable(
    async () => {
      if (++calls < 3) throw coded('ECONNREFUSED');
      return 'ok';
    },
    dbClassifier(db),
    { timeoutMs: 0, log, backoff: new Backoff(1, 4) },
  );
  expect(value).toBe('ok');
  expect(logs.map((r) => r.msg)).toEqual([
    'CLP DB at 127.0.0.1:3307 not reachable (ECONNREFUSED); retrying in 0.0 s',
    'CLP DB at 127.0.0.1:3307 not reachable (ECONNREFUSED); retrying in 0.0 s',
    expect.stringMatching(/^CLP DB at 127\.0\.0\.1:3307 available after [\d.]+ s$/),
  ]);

  await expect(
    untilAvailable(() => Promise.reject(coded('ER_ACCESS_DENIED_ERROR')), dbClassifier(db), {
      timeoutMs: 0,
      log,
    }),
  ).rejects.toMatchObject({ code: 'ER_ACCESS_DENIED_ERROR' });

  await expect(
    untilAvailable(() => Promise.reject(coded('ECONNREFUSED')), dbClassifier(db), {
      timeoutMs: 30,
      log,
      backoff: new Backoff(10, 10),
    }),
  ).rejects.toThrow(DependencyTimeoutError);
});

test('addresses: host:port, [v6]:port, bare host', () => {
  expect(parseHostPort('127.0.0.1:7233')).toEqual({ host: '127.0.0.1', port: 7233 });
  expect(parseHostPort('[::1]:7300')).toEqual({ host: '::1', port: 7300 });
  expect(parseHostPort('temporal.internal')).toEqual({ host: 'temporal.internal', port: 7233 });
});
