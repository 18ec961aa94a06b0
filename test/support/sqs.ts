/** SQS helpers for tests on goaws: queues, S3 notifications, depth. */
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Db } from '../../src/store/db';
import { uniqueName } from './stack';

/** An S3 ObjectCreated notification for `key` (encoded as S3 encodes keys in events). */
export function notification(
  bucket: string,
  key: string,
  opts: { size?: number; sequencer?: string; event?: string } = {},
): string {
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventName: opts.event ?? 'ObjectCreated:Put',
        eventTime: new Date().toISOString(),
        s3: {
          bucket: { name: bucket },
          object: {
            key: encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/'),
            size: opts.size ?? 100,
            sequencer: opts.sequencer ?? `seq-${key}`,
          },
        },
      },
    ],
  });
}

export async function newQueue(sqs: SQSClient): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('ingest') }));
  return QueueUrl!;
}

export async function deleteQueue(sqs: SQSClient, queueUrl: string): Promise<void> {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
}

export async function sendAll(sqs: SQSClient, queueUrl: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: String(j), MessageBody: b })),
      }),
    );
  }
}

/** Messages visible plus in flight (goaws's counts are approximate, as SQS's are). */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const r = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(r.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(r.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** The job's file rows, one entry per row (a duplicate row shows up twice). */
export async function recordedPaths(pool: Db, jobId: number): Promise<string[]> {
  const [r] = await pool.query<any[]>(
    'SELECT path FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY path, id',
    [jobId],
  );
  return r.map((x) => x.path as string);
}
