/**
 * The SQS listener: one activity call runs the job's listener tasks for a
 * while, long-polling the queue. Each received batch is persisted (files and
 * ignored messages, one transaction) before its messages are deleted, so a
 * crash in between only redelivers messages, and redelivered events are
 * recognised and not recorded twice.
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { Context, log } from '@temporalio/activity';
import { createLogger } from '../../common/log';
import { startLongCall } from '../../activities/long-call';
import { GroupCommit } from './group-commit';
import { DeleteQueue } from './delete-queue';
import { sqsSources, type SqsListenerConfig } from './config';
import type {
  BufferSnapshot,
  FileRecords,
  IgnoredMessage,
  ListenerState,
  NewS3File,
} from '../../store/ingestion-store';
import { callStartFor, returnForFlushAt } from '../../activities/buffer';
import type { DepsWith } from '../../activities/deps';
import { classifyAwsError } from '../../activities/errors';
import { parseS3EventMessage } from './s3-events';
import { ThresholdPacer } from './pacing';
import { sdkVisibilityApi, VisibilityExtender, type ExtendResult } from './visibility';

export interface ReceiveResult {
  recorded: number;
  ignored: number;
  snapshot: BufferSnapshot;
}

/** A listener's batch being recorded (it never rejects), and the first failure of its batches. */
interface Listening {
  recording: Promise<void>;
  failure?: { err: unknown };
}

/** What one transaction of batches recorded, and the buffer it left (see recordMessageBatch). */
type BatchResult = { recorded: number; ignored: number; snapshot?: BufferSnapshot };
type BatchCommits = GroupCommit<{ files: NewS3File[]; ignored: IgnoredMessage[] }, BatchResult>;

/** Tests inject faults here (e.g. a delete that fails after the commit) and watch the listener. */
export interface SqsFaults {
  beforeDelete?: (messages: Message[]) => Promise<void>;
  /** Every batch a listener receives, before it is recorded. */
  onReceive?: (queueUrl: string, messages: Message[]) => void;
  /** Every visibility extension of a slow batch. */
  onVisibilityExtended?: (result: ExtendResult) => void;
  /** True: slow batches are not kept invisible (shows what the extension prevents). */
  skipVisibilityExtension?: () => boolean;
}

/** The activity logger, which is only there inside an activity's context. */
const activityLog = {
  warn(message: string, attrs?: Record<string, unknown>) {
    try {
      log.warn(message, attrs);
    } catch {
      createLogger().warn(message, attrs);
    }
  },
};

/** A custom (non-AWS) queue URL brings its own endpoint; AWS ones use the SDK's resolution. */
function queueEndpoint(queueUrl: string): string | undefined {
  const url = new URL(queueUrl);
  return url.hostname.endsWith('.amazonaws.com') ? undefined : url.origin;
}

export function sqsReceiveActivities(
  { store, sqs, settings }: DepsWith<ListenerState & FileRecords, 'sqs' | 'settings'>,
  faults: SqsFaults = {},
) {
  // Per worker process: which queues refuse ChangeMessageVisibilityBatch.
  const visibility = new VisibilityExtender(activityLog, faults.onVisibilityExtended);
  // Per job: the mean size of its buffered files when its last call here ended (for the pacer).
  const meanFileBytes = new Map<number, number>();
  /** A call's batches, committed together when they arrive during another's commit (group-commit.ts). */
  const batchCommits = (jobId: number): BatchCommits =>
    new GroupCommit((batches) =>
      store.recordMessageBatch(
        jobId,
        batches.flatMap((b) => b.files),
        batches.flatMap((b) => b.ignored),
      ),
    );
  async function handleBatch(
    client: SQSClient,
    jobId: number,
    commits: BatchCommits,
    config: SqsListenerConfig,
    messages: Message[],
    deletes: DeleteQueue,
  ): Promise<BatchResult> {
    const files: NewS3File[] = [];
    const ignored: IgnoredMessage[] = [];
    // CLP's single bucket and prefix, or the sources form (whose outsiders are counted as ignored).
    const filters = sqsSources(config).map((s) => ({ bucket: s.bucket_name, prefix: s.key_prefix }));
    for (const m of messages) {
      const parsed = parseS3EventMessage(m.Body ?? '', filters, {
        ignoreOutside: config.sources !== undefined,
      });
      if (parsed.kind === 'files') files.push(...parsed.files);
      else
        ignored.push({
          messageId: m.MessageId ?? m.ReceiptHandle ?? '',
          reason: parsed.reason,
          body: m.Body ?? '',
        });
    }
    // A slow commit (a database stall, a lock wait) keeps its messages invisible.
    const extender = faults.skipVisibilityExtension?.()
      ? { stop: () => undefined }
      : visibility.keepInvisible(
          sdkVisibilityApi(client),
          config.queue_url,
          messages.map((m) => ({ id: m.MessageId ?? '', receiptHandle: m.ReceiptHandle! })),
          settings.sqsVisibilityTimeoutSec,
        );
    try {
      const { result, first } = await commits.add({ files, ignored });
      const ignoredIds = new Set(ignored.map((m) => m.messageId));
      const toDelete =
        config.ignored_message_policy === 'leave'
          ? messages.filter((m) => !ignoredIds.has(m.MessageId ?? ''))
          : messages;
      await faults.beforeDelete?.(toDelete);
      // The delete runs while this listener receives its next batch (see DeleteQueue).
      await deletes.add(() => deleteMessages(client, config.queue_url, toDelete, jobId));
      // A transaction's counts are its first batch's, so the call's totals count each file once.
      return first ? result : { recorded: 0, ignored: 0, snapshot: result.snapshot };
    } finally {
      extender.stop();
    }
  }

  return {
    async receiveSqsMessages(
      jobId: number,
      config: SqsListenerConfig,
      maxDurationMs: number,
    ): Promise<ReceiveResult> {
      const ctx = Context.current();
      const client = sqs({
        region: config.region,
        endpointUrl: settings.aws.sqsEndpoint ? undefined : queueEndpoint(config.queue_url),
      });
      const deadline = Date.now() + maxDurationMs;
      const totals = { recorded: 0, ignored: 0 };
      const commits = batchCommits(jobId);
      // `stop` also ends the call's other listeners when one fails, so none records after the call ends.
      // Each listener's long poll listens on its signal at once: up to 32 by design.
      const { stop, finish } = startLongCall(ctx, () => totals, 64);
      try {
        // Return when the workflow must flush files it learns of only from this
        // call (see buffer.ts); long polls are shortened to end by then.
        const atStart = await store.bufferSnapshot(jobId);
        const callStart = callStartFor(ctx.info, atStart);
        let flushAt = returnForFlushAt(config.buffer_config, atStart, callStart);
        const until = () => Math.min(deadline, flushAt);
        // A file recorded during a long poll (by another listener, or by this one's
        // batch before, which it polls beside) is due timeout_sec later, and the call
        // returns only when every poll has ended: so no poll outlasts timeout_sec
        // (rounded up to whole seconds, as SQS takes them).
        const maxWaitSec = Math.min(config.wait_time_sec, Math.ceil(config.buffer_config.timeout_sec));
        // Near the size threshold, listeners take turns (see sqs-pacing.ts).
        const pacer = new ThresholdPacer(
          config.buffer_config.flush_threshold_bytes,
          config.num_concurrent_listener_tasks,
          atStart,
          meanFileBytes.get(jobId),
        );
        // A listener polls for its next batch while its last one is recorded, so the queue is
        // polled while the database commits: at most two of a listener's batches are being
        // recorded, and two only until the older one is done, which the next poll waits for.
        // Near the size threshold the pacer's turns make it one batch at a time again.
        const listener = async () => {
          const deletes = new DeleteQueue();
          const state: Listening = { recording: Promise.resolve() };
          try {
            await listen(deletes, state);
          } finally {
            await state.recording;
            await deletes.drain();
          }
          if (state.failure) throw state.failure.err;
        };
        /** Records a batch, then lets the pacer's next turn go; a failure ends the call's listeners. */
        const record = (messages: Message[], deletes: DeleteQueue, state: Listening, release: () => void) =>
          handleBatch(client, jobId, commits, config, messages, deletes)
            .then(async (r) => {
              totals.recorded += r.recorded;
              totals.ignored += r.ignored;
              if (r.recorded > 0) {
                const s = r.snapshot ?? (await store.bufferSnapshot(jobId));
                pacer.update(s);
                flushAt = returnForFlushAt(config.buffer_config, s, callStart);
              }
            })
            .catch((err: unknown) => {
              state.failure ??= { err };
              stop.abort();
            })
            .finally(release);
        const listen = async (deletes: DeleteQueue, state: Listening) => {
          for (;;) {
            const release = await pacer.take();
            let handedOver = false;
            try {
              if (stop.signal.aborted || Date.now() >= until()) return;
              const waitSec = Math.max(0, Math.min(maxWaitSec, Math.ceil((until() - Date.now()) / 1000)));
              let messages: Message[];
              try {
                const r = await client.send(
                  new ReceiveMessageCommand({
                    QueueUrl: config.queue_url,
                    MaxNumberOfMessages: pacer.maxMessages(),
                    WaitTimeSeconds: waitSec,
                    VisibilityTimeout: settings.sqsVisibilityTimeoutSec,
                  }),
                  { abortSignal: stop.signal },
                );
                messages = r.Messages ?? [];
              } catch (err) {
                if (stop.signal.aborted) return;
                stop.abort();
                classifyAwsError(err, `receiving from ${config.queue_url}`);
              }
              if (messages.length === 0) continue;
              faults.onReceive?.(config.queue_url, messages);
              const older = state.recording;
              state.recording = record(messages, deletes, state, release);
              handedOver = true;
              await older;
            } finally {
              if (!handedOver) release();
            }
          }
        };
        try {
          await Promise.all(Array.from({ length: config.num_concurrent_listener_tasks }, listener));
        } finally {
          const mean = pacer.averageFileBytes;
          if (mean !== undefined) meanFileBytes.set(jobId, mean);
        }
      } finally {
        finish();
      }
      return { ...totals, snapshot: await store.bufferSnapshot(jobId) };
    },
  };
}

/** Deletes after the commit. A failed delete only means a redelivery, which dedup absorbs. */
async function deleteMessages(
  client: SQSClient,
  queueUrl: string,
  messages: Message[],
  jobId: number,
): Promise<void> {
  if (messages.length === 0) return;
  try {
    const r = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    if (r.Failed?.length)
      log.warn('some deletes failed; those messages will be redelivered', { jobId, failed: r.Failed.length });
  } catch (err) {
    log.warn('delete failed; the messages will be redelivered', { jobId, error: String(err) });
  }
}
