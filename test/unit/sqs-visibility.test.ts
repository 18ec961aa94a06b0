/**
 * The visibility extender against an in-memory queue (and, for the error
 * shapes, the real SDK against a local HTTP server that answers as goaws
 * v0.5.4 does): the batch call where the server takes it, single calls where
 * it refuses, remembered per queue, and messages that stay in flight.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  batchRefused,
  describeRefusal,
  SINGLE_CALL_CONCURRENCY,
  sdkVisibilityApi,
  VisibilityExtender,
  type BatchEntryFailure,
  type InFlightMessage,
  type VisibilityApi,
} from '../../src/sources/sqs_listener/visibility';

/** The error the SDK throws for goaws's plain-text "Bad Request" (HTTP 400). */
function goawsRefusal(): Error {
  return Object.assign(new SyntaxError(`Unexpected token 'B', "Bad Request" is not valid JSON`), {
    $metadata: { httpStatusCode: 400 },
  });
}

function awsError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

/** An in-memory queue: in-flight messages with the time each becomes visible again (Date.now() clock). */
class FakeQueue implements VisibilityApi {
  visibleAt = new Map<string, number>();
  batchCalls = 0;
  singleCalls = 0;
  inFlightSingles = 0;
  maxInFlightSingles = 0;
  /** How the batch action behaves. */
  batch: 'ok' | 'refuse' | 'throttle' = 'ok';
  /** Receipt handles whose batch entry fails (with this code). */
  failEntries = new Map<string, string>();
  /** Receipt handles whose single call fails. */
  failSingles = new Set<string>();

  receive(ids: string[], timeoutSec: number): InFlightMessage[] {
    for (const id of ids) this.visibleAt.set(`rh-${id}`, Date.now() + timeoutSec * 1000);
    return ids.map((id) => ({ id, receiptHandle: `rh-${id}` }));
  }

  /** Messages whose visibility timeout has run out (another listener would get them now). */
  redeliverable(): string[] {
    return [...this.visibleAt].filter(([, t]) => t <= Date.now()).map(([rh]) => rh);
  }

  async changeVisibilityBatch(
    _queueUrl: string,
    entries: InFlightMessage[],
    timeoutSec: number,
  ): Promise<BatchEntryFailure[]> {
    this.batchCalls += 1;
    if (this.batch === 'refuse') throw goawsRefusal();
    if (this.batch === 'throttle') throw awsError('RequestThrottled', 403);
    const failed: BatchEntryFailure[] = [];
    entries.forEach((m, index) => {
      const code = this.failEntries.get(m.receiptHandle);
      if (code) failed.push({ index, code });
      else this.set(m.receiptHandle, timeoutSec);
    });
    return failed;
  }

  async changeVisibility(_queueUrl: string, receiptHandle: string, timeoutSec: number): Promise<void> {
    this.singleCalls += 1;
    this.inFlightSingles += 1;
    this.maxInFlightSingles = Math.max(this.maxInFlightSingles, this.inFlightSingles);
    try {
      await Promise.resolve();
      if (this.failSingles.has(receiptHandle)) throw awsError('ReceiptHandleIsInvalid', 400);
      this.set(receiptHandle, timeoutSec);
    } finally {
      this.inFlightSingles -= 1;
    }
  }

  private set(receiptHandle: string, timeoutSec: number): void {
    if (!this.visibleAt.has(receiptHandle)) throw awsError('ReceiptHandleIsInvalid', 400);
    this.visibleAt.set(receiptHandle, Date.now() + timeoutSec * 1000);
  }
}

function recordingLog() {
  const warnings: { message: string; attrs?: Record<string, unknown> }[] = [];
  return {
    warnings,
    log: { warn: (message: string, attrs?: Record<string, unknown>) => warnings.push({ message, attrs }) },
  };
}

const Q1 = 'http://sqs.local/000/q1';
const Q2 = 'http://sqs.local/000/q2';
const ids = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);

test('a server that takes the batch call gets one request per extension and no single calls', async () => {
  const q = new FakeQueue();
  const { warnings, log } = recordingLog();
  const x = new VisibilityExtender(log);
  const r = await x.extend(q, Q1, q.receive(ids(10), 3), 30);
  expect(r).toMatchObject({ mode: 'batch', batchRefused: false, extended: 10, failed: [] });
  expect([q.batchCalls, q.singleCalls]).toEqual([1, 0]);
  expect(warnings).toEqual([]);
});

test('a refused batch falls back to single calls, says so once per queue, and is not tried again on that queue', async () => {
  const q = new FakeQueue();
  q.batch = 'refuse';
  const { warnings, log } = recordingLog();
  const x = new VisibilityExtender(log);
  const first = await x.extend(q, Q1, q.receive(ids(7), 3), 30);
  expect(first).toMatchObject({ mode: 'batch', batchRefused: true, extended: 7, failed: [] });
  expect([q.batchCalls, q.singleCalls]).toEqual([1, 7]);
  expect(warnings.map((w) => w.message)).toEqual([
    'server refused ChangeMessageVisibilityBatch (HTTP 400: Bad Request); using ChangeMessageVisibility per message for this queue',
  ]);
  expect(warnings[0]!.message).not.toMatch(/SyntaxError|Unexpected token/);
  expect(x.singleCallsOnly(Q1)).toBe(true);

  const second = await x.extend(q, Q1, q.receive(ids(7), 3), 30);
  expect(second).toMatchObject({ mode: 'single', batchRefused: false, extended: 7 });
  expect([q.batchCalls, q.singleCalls]).toEqual([1, 14]);
  expect(warnings).toHaveLength(1);

  // Another queue (perhaps on another server) gets its own first try.
  expect(x.singleCallsOnly(Q2)).toBe(false);
  await x.extend(q, Q2, q.receive(['n0'], 3), 30);
  expect(q.batchCalls).toBe(2);
  expect(warnings).toHaveLength(2);
});

test('entries a batch reports as failed are retried singly; what still fails is reported, not thrown', async () => {
  const q = new FakeQueue();
  const msgs = q.receive(ids(5), 3);
  q.failEntries.set('rh-m1', 'InternalError');
  q.failEntries.set('rh-m3', 'ReceiptHandleIsInvalid');
  q.failSingles.add('rh-m3');
  const { warnings, log } = recordingLog();
  const r = await new VisibilityExtender(log).extend(q, Q1, msgs, 30);
  expect(r).toMatchObject({
    mode: 'batch',
    extended: 4,
    failed: [{ id: 'm3', code: 'ReceiptHandleIsInvalid (HTTP 400)' }],
  });
  expect([q.batchCalls, q.singleCalls]).toEqual([1, 2]);
  expect(warnings.map((w) => w.message)).toEqual([
    expect.stringMatching(/^could not extend the visibility of some messages/),
  ]);
});

test('a batch call that fails for another reason (a throttle) is covered by single calls but tried again next time', async () => {
  const q = new FakeQueue();
  q.batch = 'throttle';
  const { log } = recordingLog();
  const x = new VisibilityExtender(log);
  const r = await x.extend(q, Q1, q.receive(ids(3), 3), 30);
  expect(r).toMatchObject({ batchRefused: false, extended: 3 });
  expect(x.singleCallsOnly(Q1)).toBe(false);
  q.batch = 'ok';
  await x.extend(q, Q1, q.receive(ids(3), 3), 30);
  expect([q.batchCalls, q.singleCalls]).toEqual([2, 3]);
});

test(`single calls run at most ${SINGLE_CALL_CONCURRENCY} at once`, async () => {
  const q = new FakeQueue();
  q.batch = 'refuse';
  const r = await new VisibilityExtender(recordingLog().log).extend(q, Q1, q.receive(ids(10), 3), 30);
  expect(r.extended).toBe(10);
  expect(q.maxInFlightSingles).toBe(SINGLE_CALL_CONCURRENCY);
});

describe('keepInvisible', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  async function advance(ms: number) {
    await jest.advanceTimersByTimeAsync(ms);
  }

  test.each(['ok', 'refuse'] as const)(
    'keeps a slow batch in flight for 3x the timeout (batch %s), and stops when told',
    async (batch) => {
      const q = new FakeQueue();
      q.batch = batch;
      const results: unknown[] = [];
      const x = new VisibilityExtender(recordingLog().log, (r) => results.push(r));
      const keep = x.keepInvisible(q, Q1, q.receive(ids(10), 4), 4);
      for (let t = 0; t < 12_000; t += 500) {
        await advance(500);
        expect(q.redeliverable()).toEqual([]);
      }
      keep.stop();
      const calls = q.batchCalls + q.singleCalls;
      expect(results).toHaveLength(6); // every 2 s
      await advance(10_000);
      expect(q.batchCalls + q.singleCalls).toBe(calls);
      expect(q.redeliverable()).toHaveLength(10); // nobody extends them now
    },
  );

  test('without it the same batch would be redelivered after the timeout', async () => {
    const q = new FakeQueue();
    q.receive(ids(10), 4);
    await advance(4_000);
    expect(q.redeliverable()).toHaveLength(10);
  });

  test('a round still running when the next is due is not doubled', async () => {
    const q = new FakeQueue();
    let release!: () => void;
    q.changeVisibilityBatch = () => new Promise<BatchEntryFailure[]>((r) => (release = () => r([])));
    const results: unknown[] = [];
    const keep = new VisibilityExtender(recordingLog().log, (r) => results.push(r)).keepInvisible(
      q,
      Q1,
      q.receive(ids(2), 2),
      2,
    );
    await advance(5_000); // ticks at 1, 2, 3, 4, 5 s; the first round hangs
    release();
    await advance(0);
    expect(results).toHaveLength(1);
    keep.stop();
  });
});

describe('the SDK against a server that answers like goaws v0.5.4', () => {
  let server: Server;
  let client: SQSClient;
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      seen.push(target);
      req.resume();
      req.on('end', () => {
        if (target.endsWith('.ChangeMessageVisibilityBatch')) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('Bad Request');
        } else {
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new SQSClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      maxAttempts: 3,
    });
  });
  afterAll(async () => {
    client.destroy();
    await new Promise((r) => server.close(r));
  });

  test('the refusal is recognised as such and the messages are extended one by one', async () => {
    const api = sdkVisibilityApi(client);
    const err = await api.changeVisibilityBatch(Q1, [{ id: 'a', receiptHandle: 'rh' }], 30).catch((e) => e);
    expect(String(err)).toMatch(/SyntaxError/); // what the SDK makes of it
    expect(batchRefused(err)).toBe(true);
    expect(describeRefusal(err)).toBe('HTTP 400: Bad Request');

    seen.length = 0;
    const { warnings, log } = recordingLog();
    const r = await new VisibilityExtender(log).extend(
      api,
      Q1,
      [
        { id: 'a', receiptHandle: 'rh-a' },
        { id: 'b', receiptHandle: 'rh-b' },
      ],
      30,
    );
    expect(r).toMatchObject({ batchRefused: true, extended: 2, failed: [] });
    expect(seen).toEqual([
      'AmazonSQS.ChangeMessageVisibilityBatch',
      'AmazonSQS.ChangeMessageVisibility',
      'AmazonSQS.ChangeMessageVisibility',
    ]);
    expect(warnings[0]!.message).toMatch(
      /^server refused ChangeMessageVisibilityBatch \(HTTP 400: Bad Request\)/,
    );
  });
});

test('what counts as the server refusing the batch action, and what does not', () => {
  expect(batchRefused(goawsRefusal())).toBe(true);
  expect(batchRefused(awsError('InvalidAction', 400))).toBe(true);
  expect(batchRefused(awsError('UnknownOperationException', 400))).toBe(true);
  expect(batchRefused(awsError('NotFound', 404))).toBe(true);
  expect(batchRefused(awsError('NotImplemented', 501))).toBe(true);
  // Single calls would meet these as well: not a reason to give up on the batch action.
  expect(batchRefused(awsError('RequestThrottled', 403))).toBe(false);
  expect(batchRefused(awsError('ThrottlingException', 400))).toBe(false);
  expect(batchRefused(awsError('QueueDoesNotExist', 400))).toBe(false);
  expect(batchRefused(awsError('AccessDenied', 403))).toBe(false);
  expect(batchRefused(awsError('InternalError', 500))).toBe(false);
  expect(batchRefused(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(false);
});
