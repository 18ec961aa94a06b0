/**
 * Keeping received SQS messages invisible while their batch is slow to
 * commit (a database stall, a lock wait): without it, a stall longer than the
 * visibility timeout hands every in-flight message to another listener.
 *
 * ChangeMessageVisibilityBatch is tried first (one request for up to 10
 * messages, as on AWS). Some SQS stand-ins refuse the batch action outright
 * (goaws v0.5.4 answers "Bad Request", HTTP 400, which the SDK reports as a
 * JSON SyntaxError); then the messages are extended one by one with
 * ChangeMessageVisibility, and the queue is remembered (for the life of the
 * process) so later extensions go to single calls at once. Entries a batch
 * reports as failed are retried singly too. Setting a visibility timeout is
 * idempotent: a repeated or overlapping extension only restarts the timeout.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { ChangeMessageVisibilityBatchCommand, ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';

export interface InFlightMessage {
  /** For logs and per-entry results: the message id (or anything unique within the batch). */
  id: string;
  receiptHandle: string;
}

export interface BatchEntryFailure {
  /** The index of the entry in the request. */
  index: number;
  code: string;
}

/** The two SQS calls the extender makes; the SDK's in production, a fake in unit tests. */
export interface VisibilityApi {
  /** Rejects when the call as a whole fails; resolves with the entries that failed. */
  changeVisibilityBatch(
    queueUrl: string,
    entries: InFlightMessage[],
    timeoutSec: number,
  ): Promise<BatchEntryFailure[]>;
  changeVisibility(queueUrl: string, receiptHandle: string, timeoutSec: number): Promise<void>;
}

export interface VisibilityLog {
  warn(message: string, attrs?: Record<string, unknown>): void;
}

/** What one extension did; tests and logs read it. */
export interface ExtendResult {
  queueUrl: string;
  /** 'batch': one batch call (plus singles for its failed entries); 'single': per-message calls only. */
  mode: 'batch' | 'single';
  /** The batch call was refused by this server in this round (it is not tried again for the queue). */
  batchRefused: boolean;
  extended: number;
  failed: { id: string; code: string }[];
}

/** At most this many single calls at once per extension (a batch holds at most 10 messages). */
export const SINGLE_CALL_CONCURRENCY = 4;

/** The SDK client as a VisibilityApi. */
export function sdkVisibilityApi(client: SQSClient): VisibilityApi {
  return {
    async changeVisibilityBatch(queueUrl, entries, timeoutSec) {
      const r = await client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.receiptHandle,
            VisibilityTimeout: timeoutSec,
          })),
        }),
      );
      return (r.Failed ?? []).map((f) => ({ index: Number(f.Id), code: f.Code ?? 'unknown' }));
    },
    async changeVisibility(queueUrl, receiptHandle, timeoutSec) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: timeoutSec,
        }),
      );
    },
  };
}

interface SdkError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { body?: unknown; reason?: string };
}

/** Error names with which a server says it does not implement an action. */
const UNSUPPORTED_ACTION = new Set([
  'InvalidAction',
  'UnknownOperationException',
  'UnsupportedOperation',
  'AWS.SimpleQueueService.UnsupportedOperation',
  'NotImplemented',
]);

/**
 * Whether a failed batch call means the server refuses the batch action
 * itself (not a throttle, an outage, bad credentials or a missing queue,
 * which single calls would meet as well): an error naming the action as
 * unsupported, HTTP 404/405/501, or a 400 whose body is not an SQS error at
 * all (the SDK then fails to parse it: goaws's plain "Bad Request").
 */
export function batchRefused(err: unknown): boolean {
  const e = (err ?? {}) as SdkError;
  const code = e.Code ?? e.name ?? '';
  if (UNSUPPORTED_ACTION.has(code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === 404 || status === 405 || status === 501) return true;
  return status === 400 && (e.name === 'SyntaxError' || /Deserialization error/.test(e.message ?? ''));
}

/** "HTTP 400: Bad Request": what the server said, not the SDK's parse error. */
export function describeRefusal(err: unknown): string {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const body = e.$response?.body;
  const said =
    typeof body === 'string' && body.trim()
      ? body.trim().slice(0, 120)
      : e.name === 'SyntaxError'
        ? (/"([^"]{1,120})" is not valid JSON/.exec(e.message ?? '')?.[1] ?? e.$response?.reason)
        : (e.Code ?? e.name);
  return [status ? `HTTP ${status}` : null, said].filter(Boolean).join(': ');
}

function codeOf(err: unknown): string {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const code = e.Code ?? e.name ?? 'Error';
  return status ? `${code} (HTTP ${status})` : code;
}

/** Runs fn over items with at most `limit` calls at once. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export interface KeepInvisible {
  /** Stops extending; an extension in flight finishes, and nothing new starts. */
  stop(): void;
}

/**
 * One per worker process (per activities object): remembers, per queue URL,
 * that the server refused the batch call.
 */
export class VisibilityExtender {
  private readonly batchUnsupported = new Set<string>();

  constructor(
    private readonly log: VisibilityLog,
    private readonly observe?: (r: ExtendResult) => void,
  ) {}

  /** Whether extensions on this queue go straight to single calls. */
  singleCallsOnly(queueUrl: string): boolean {
    return this.batchUnsupported.has(queueUrl);
  }

  /**
   * Sets the visibility timeout of `messages` to `timeoutSec` from now: one
   * batch call (where the server takes it), singles for what is left. Never
   * rejects; what failed is in the result (and logged).
   */
  async extend(
    api: VisibilityApi,
    queueUrl: string,
    messages: InFlightMessage[],
    timeoutSec: number,
    stopped: () => boolean = () => false,
  ): Promise<ExtendResult> {
    const result: ExtendResult = {
      queueUrl,
      mode: 'single',
      batchRefused: false,
      extended: 0,
      failed: [],
    };
    let singles = messages;
    if (!this.batchUnsupported.has(queueUrl) && messages.length > 0) {
      result.mode = 'batch';
      try {
        const failed = await api.changeVisibilityBatch(queueUrl, messages, timeoutSec);
        const failedIdx = new Set(failed.map((f) => f.index));
        singles = messages.filter((_, i) => failedIdx.has(i));
        result.extended = messages.length - singles.length;
      } catch (err) {
        if (batchRefused(err)) {
          result.batchRefused = true;
          if (!this.batchUnsupported.has(queueUrl)) {
            this.batchUnsupported.add(queueUrl);
            this.log.warn(
              `server refused ChangeMessageVisibilityBatch (${describeRefusal(err)}); ` +
                'using ChangeMessageVisibility per message for this queue',
              { queueUrl },
            );
          }
        } else {
          // A throttle or a glitch: the extension is due now, so try the messages singly.
          this.log.warn('ChangeMessageVisibilityBatch failed; extending the messages one by one', {
            queueUrl,
            error: codeOf(err),
          });
        }
      }
    }
    await eachLimited(singles, SINGLE_CALL_CONCURRENCY, async (m) => {
      if (stopped()) return;
      try {
        await api.changeVisibility(queueUrl, m.receiptHandle, timeoutSec);
        result.extended += 1;
      } catch (err) {
        result.failed.push({ id: m.id, code: codeOf(err) });
      }
    });
    // After stop() the batch has been deleted: failures then are expected, not news.
    if (result.failed.length > 0 && !stopped()) {
      this.log.warn(
        'could not extend the visibility of some messages; they may be redelivered (dedup absorbs it)',
        {
          queueUrl,
          failed: result.failed,
        },
      );
    }
    this.observe?.(result);
    return result;
  }

  /**
   * Extends `messages` every half of `timeoutSec` (as Filebeat does) until
   * stop(); a round still running when the next is due is not doubled.
   */
  keepInvisible(
    api: VisibilityApi,
    queueUrl: string,
    messages: InFlightMessage[],
    timeoutSec: number,
  ): KeepInvisible {
    let stopped = false;
    let running = false;
    const timer = setInterval(
      () => {
        if (running || stopped) return;
        running = true;
        void this.extend(api, queueUrl, messages, timeoutSec, () => stopped).finally(() => (running = false));
      },
      (timeoutSec * 1000) / 2,
    );
    return {
      stop: () => {
        stopped = true;
        clearInterval(timer);
      },
    };
  }
}
