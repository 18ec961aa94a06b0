/**
 * The endpoint allow-list on the real stack: a job naming an endpoint outside
 * it is refused by the REST API (400) and the CLI (exit 2) with the field and
 * endpoint named and nothing recorded; a row that got into the DB another way
 * is refused by the worker before it connects (the job fails, naming the
 * field); allowed endpoints, in any spelling, work.
 *
 * Refused endpoints in this file are either never dialled by anyone (the
 * metadata address and friends are only ever parsed) or are a trap: a TCP
 * listener on 127.0.0.2 (loopback, so even a bug cannot leave the machine)
 * that records every connection and must record none.
 */

import net from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import { reconcileJobs } from '../../src/job-control';
import { parseJobConfig } from '../../src/config/job-config';
import { TABLES } from '../../src/store/schema';
import { workflowIdFor } from '../../src/workflows/messages';
import { buildCli, runCli } from '../support/cli';
import { apiServer } from '../support/http';
import { createTestBucket } from '../support/stack';
import { startHarness, waitForStatus, type Harness } from '../support/worker';
import { eventually } from '../support/wait';

let h: Harness;
let app: FastifyInstance;
let bucket: string;
let trap: net.Server;
let trapUrl: string;
const connections: string[] = [];

/** Proves the trap sees a connection (one probe, then forgotten), so that none recorded means none made. */
async function trapRecords(): Promise<void> {
  const before = connections.length;
  const probe = net.connect((trap.address() as net.AddressInfo).port, '127.0.0.2');
  probe.on('error', () => undefined); // the trap hangs up at once
  await eventually(async () => connections.length > before, 5_000, 'the trap to record a probe');
  probe.destroy();
  connections.splice(before);
}

beforeAll(async () => {
  await buildCli();
  h = await startHarness();
  app = await apiServer(h);
  bucket = await createTestBucket(h.s3);
  trap = net.createServer((socket) => {
    connections.push(`${socket.remoteAddress}:${socket.remotePort}`);
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    trap.once('error', reject);
    trap.listen(0, '127.0.0.2', resolve);
  });
  trapUrl = `http://127.0.0.2:${(trap.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await h?.close();
  await new Promise((r) => (trap ? trap.close(r) : r(undefined)));
});

async function jobRows(): Promise<number> {
  const [[r]] = await h.pool.query<any[]>(`SELECT COUNT(*) AS n FROM ${TABLES.ingestionJobs}`);
  return Number(r.n);
}

const s3 = (extra: object = {}) => ({ bucket_name: bucket, key_prefix: 'allow/', ...extra });
const sqs = (extra: object = {}) => ({
  bucket_name: bucket,
  key_prefix: 'allow/',
  queue_url: 'http://127.0.0.1:9324/100010001000/q',
  ...extra,
});

test('the trap records a connection (so "none recorded" below means something)', async () => {
  await new Promise<void>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.2', port: (trap.address() as net.AddressInfo).port });
    s.on('close', () => resolve());
    s.on('error', reject);
  });
  await eventually(async () => connections.length === 1, 5_000, 'the probe connection');
  connections.length = 0;
});

test('REST: refused endpoints are 400 with the field and endpoint named, and nothing is recorded', async () => {
  const before = await jobRows();
  const cases: [string, object, RegExp][] = [
    [
      '/s3_scanner',
      s3({ endpoint_url: 'http://169.254.169.254/' }),
      /^endpoint_url: "http:\/\/169\.254\.169\.254\/" is not an allowed endpoint/,
    ],
    [
      '/s3_scanner',
      s3({ endpoint_url: 'http://2852039166/' }),
      /^endpoint_url: .*\(http:\/\/169\.254\.169\.254\) is not an allowed/,
    ],
    [
      '/s3_scanner',
      s3({ endpoint_url: 'http://[::ffff:169.254.169.254]/' }),
      /^endpoint_url: .*\[::ffff:a9fe:a9fe\]/,
    ],
    [
      '/s3_scanner',
      s3({ endpoint_url: 'http://127.0.0.1:9000@169.254.169.254/' }),
      /^endpoint_url: .*user name or password/,
    ],
    ['/s3_scanner', s3({ endpoint_url: 'http://10.0.0.1:9000' }), /^endpoint_url: .*not an allowed endpoint/],
    ['/s3_scanner', s3({ endpoint_url: 'ftp://127.0.0.1:9000/' }), /^endpoint_url: .*scheme "ftp:"/],
    [
      '/s3_scanner',
      s3({ endpoint_url: `${trapUrl}/` }),
      /^endpoint_url: "http:\/\/127\.0\.0\.2:\d+\/" is not an allowed endpoint/,
    ],
    ['/s3_scanner', s3({ region: 'us-east-1.evil.example' }), /^region: /],
    ['/sqs_listener', sqs({ queue_url: `${trapUrl}/1/q` }), /^queue_url: .*not an allowed endpoint/],
    ['/sqs_listener', sqs({ queue_url: 'http://metadata.google.internal/1/q' }), /^queue_url: /],
    [
      '/sqs_listener',
      sqs({ endpoint_url: 'http://localhost:9000' }),
      /^endpoint_url: "http:\/\/localhost:9000"/,
    ],
  ];
  for (const [url, payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url, payload });
    expect([url, res.statusCode, res.json().error]).toEqual([url, 400, expect.stringMatching(message)]);
  }
  expect(await jobRows()).toBe(before);
  await trapRecords();
  expect(connections).toEqual([]);
});

test('CLI: refused endpoints exit 2 with one line naming the field; CLP_ALLOWED_ENDPOINTS is honoured', async () => {
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(h, args, env);
  const before = await jobRows();
  const s3Args = ['create-s3-scanner', '--bucket', bucket, '--prefix', 'cli-allow/'];
  for (const [args, env, message] of [
    [
      [...s3Args, '--endpoint-url', 'http://169.254.169.254/'],
      {},
      /endpoint_url: "http:\/\/169\.254\.169\.254\/"/,
    ],
    [
      [...s3Args, '--endpoint-url', 'http://0x7f000002:1/'],
      {},
      /endpoint_url: .*\(http:\/\/127\.0\.0\.2:1\)/,
    ],
    [[...s3Args, '--endpoint-url', 'gopher://127.0.0.1:9000/'], {}, /endpoint_url: .*scheme "gopher:"/],
    [[...s3Args, '--region', 'a.evil.example/'], {}, /region: /],
    [
      ['create-sqs-listener', '--bucket', bucket, '--prefix', 'p/', '--queue-url', `${trapUrl}/1/q`],
      {},
      /queue_url: .*not an allowed endpoint/,
    ],
    // An empty list leaves only the worker's own endpoints: AWS is refused too.
    [
      [...s3Args, '--endpoint-url', 'https://s3.us-east-1.amazonaws.com'],
      { CLP_ALLOWED_ENDPOINTS: '' },
      /endpoint_url: .*not an allowed endpoint/,
    ],
  ] as [string[], Record<string, string>, RegExp][]) {
    const r = await cli(args, env);
    expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  }
  // A bad list stops the CLI with the variable named.
  const bad = await cli([...s3Args], { CLP_ALLOWED_ENDPOINTS: 'file:///etc' });
  expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/CLP_ALLOWED_ENDPOINTS/)]);
  expect(await jobRows()).toBe(before);
  await trapRecords();
  expect(connections).toEqual([]);
});

test('the worker refuses rows written another way, before connecting: the job fails naming the field', async () => {
  // store.createJob is the DB write without the creation-time check (another path into the table).
  const rows = [
    {
      kind: 's3_scanner',
      config: s3({ key_prefix: 'row-s3/', endpoint_url: `${trapUrl}/` }),
      field: 'endpoint_url',
    },
    {
      kind: 'sqs_listener',
      config: sqs({ key_prefix: 'row-sqs/', queue_url: `${trapUrl}/1/q` }),
      field: 'queue_url',
    },
    {
      kind: 's3_scanner',
      config: s3({ key_prefix: 'row-region/', region: 'x.evil.example' }),
      field: 'region',
    },
  ] as const;
  const ids: number[] = [];
  for (const r of rows) ids.push(await h.store.createJob(parseJobConfig(r.kind, r.config)));
  const report = await reconcileJobs(h.store, h.client, h.taskQueue);
  expect(report.started).toEqual(expect.arrayContaining(ids));
  for (const [i, r] of rows.entries()) {
    const failed = await waitForStatus(h, ids[i], 'failed', 30_000);
    expect(failed.errorMsg).toMatch(new RegExp(`refused before connecting: ${r.field}: `));
    expect(await h.store.countFilesByStatus(ids[i])).toMatchObject({ buffered: 0, submitted: 0 });
  }
  // The failure is final, not retried: each workflow has closed, so no attempt can follow,
  // and the trap (which records a connection, as a probe shows) saw none.
  for (const id of ids) {
    await eventually(
      async () => (await h.client.workflow.getHandle(workflowIdFor(id)).describe()).status.name !== 'RUNNING',
      30_000,
      `job ${id}'s workflow closed`,
    );
  }
  await trapRecords();
  expect(connections).toEqual([]);
});

test('allowed endpoints work in any spelling that normalizes to one (decimal 127.0.0.1 for MinIO)', async () => {
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'spelled/a.log', Body: 'line\n' }));
  const res = await app.inject({
    method: 'POST',
    url: '/s3_scanner',
    payload: s3({
      key_prefix: 'spelled/',
      endpoint_url: 'http://2130706433:9000',
      scanning_interval_sec: 1,
      settle_delay_sec: 0,
    }),
  });
  expect(res.statusCode).toBe(200);
  const id = res.json().id as number;
  await eventually(
    async () => {
      const job = await h.store.requireJob(id);
      if (job.status === 'failed') throw new Error(`job failed: ${job.errorMsg}`);
      return job.numFilesIngested === 1;
    },
    30_000,
    'the file listed through the allowed endpoint',
  );
  await trapRecords();
  expect(connections).toEqual([]);
});
