/** Smoke tests: each server of the local stack answers the client this project uses. */
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  ChangeMessageVisibilityCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Worker } from '@temporalio/worker';
import { createS3Client, createSqsClient } from '../../src/aws';
import { loadSettings } from '../../src/config/settings';
import { connectClient, connectWorker } from '../../src/temporal';
import { MIGRATIONS, TABLES, migrate } from '../../src/store/schema';
import { createTestBucket, createTestDb, uniqueName } from '../support/stack';

const settings = loadSettings();

test('a trivial workflow runs on a real worker against the Temporal dev server', async () => {
  const { connection, namespace } = await connectWorker();
  const taskQueue = uniqueName('smoke');
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowsPath: path.join(__dirname, 'smoke-workflows.ts'),
    activities: { shout: async (s: string) => s.toUpperCase() },
  });
  const client = await connectClient();
  try {
    const result = await worker.runUntil(
      client.workflow.execute('smokeWorkflow', { taskQueue, workflowId: taskQueue, args: ['hello'] }),
    );
    expect(result).toBe('HELLO!');
  } finally {
    await client.connection.close();
    await connection.close();
  }
});

test('MariaDB round trip through mysql2, with idempotent migrations', async () => {
  const { pool, drop } = await createTestDb();
  try {
    // createTestDb migrated once already; a second run applies nothing.
    expect(await migrate(pool)).toEqual([]);
    const [tables] = await pool.query<any[]>('SHOW TABLES');
    const names = tables.map((r) => Object.values(r)[0]);
    for (const t of Object.values(TABLES)) expect(names).toContain(t);
    const [versions] = await pool.query<any[]>(`SELECT version FROM ${TABLES.migrations} ORDER BY version`);
    expect(versions.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));

    const [ins] = await pool.query<any>('INSERT INTO compression_jobs (clp_config) VALUES (?)', [
      Buffer.from([1, 2, 3]),
    ]);
    const [[row]] = await pool.query<any[]>('SELECT status, clp_config FROM compression_jobs WHERE id = ?', [
      ins.insertId,
    ]);
    expect(row.status).toBe(0);
    expect(Buffer.compare(row.clp_config, Buffer.from([1, 2, 3]))).toBe(0);
  } finally {
    await drop();
  }
});

test('MinIO put, list and get through @aws-sdk/client-s3', async () => {
  const s3: S3Client = createS3Client(settings.aws);
  const bucket = await createTestBucket(s3);
  const keys = ['logs/a.log', 'logs/b c+d.log', 'logs/ünï.log'];
  for (const key of keys) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `content of ${key}` }));
  }
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'logs/' }));
  expect(listed.Contents?.map((o) => o.Key).sort()).toEqual([...keys].sort());
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: keys[1] }));
  expect(await got.Body!.transformToString()).toBe(`content of ${keys[1]}`);
  s3.destroy();
});

test('SQS send, long-poll receive, change visibility and delete-batch through @aws-sdk/client-sqs', async () => {
  const sqs: SQSClient = createSqsClient(settings.aws);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('smoke') }));
  try {
    for (let i = 0; i < 3; i++) await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `m${i}` }));
    const received: { Body?: string; ReceiptHandle?: string }[] = [];
    const started = Date.now();
    while (received.length < 3 && Date.now() - started < 15_000) {
      const r = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 2,
          VisibilityTimeout: 30,
        }),
      );
      received.push(...(r.Messages ?? []));
    }
    expect(received.map((m) => m.Body).sort()).toEqual(['m0', 'm1', 'm2']);
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl,
        ReceiptHandle: received[0].ReceiptHandle!,
        VisibilityTimeout: 60,
      }),
    );
    const del = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl,
        Entries: received.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    expect(del.Successful).toHaveLength(3);
    expect(del.Failed ?? []).toHaveLength(0);
    // A long poll on the now-empty queue waits and returns nothing.
    const t0 = Date.now();
    const empty = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
    expect(empty.Messages ?? []).toHaveLength(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    sqs.destroy();
  }
});
