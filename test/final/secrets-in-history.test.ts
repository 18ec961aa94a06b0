/**
 * "Secrets never enter Temporal history", checked: after every other suite
 * (test/support/sequencer.js runs test/final/ last), every run of every
 * workflow in the test namespace (the one the suites use: TEMPORAL_NAMESPACE
 * as test/setup-env.ts sets it) is fetched and scanned, as raw JSON and with
 * every base64 value decoded, for every secret the stack knows: the AWS keys
 * and DB passwords of the env file and environment, and the API tokens.
 *
 * The scanner is first shown to find planted values, in a recorded history
 * and in a live one, so the final scan cannot pass vacuously.
 * CLP_INGESTOR_SECRET_SCAN_NAMESPACES (comma-separated) adds namespaces, e.g.
 * `clp-ingestor` after a demo.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { connectClient } from '../../src/temporal';
import {
  knownSecrets,
  scanHistoryJson,
  scanNamespace,
  type Hit,
  type Secret,
} from '../support/history-secrets';
import { uniqueName } from '../support/stack';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'histories');

let client: Client;
const secrets = knownSecrets();
const probeIds = new Set<string>();

beforeAll(async () => {
  client = await connectClient();
});
afterAll(async () => {
  await client?.connection.close();
});

const describeHit = (h: Hit) =>
  `${h.secret} in workflow ${h.workflowId} run ${h.runId} event ${h.eventId} (${h.eventType}) at ${h.path}`;

test('the stack has secrets to look for: AWS keys, the DB passwords, API tokens', () => {
  const named = (variable: string) => secrets.find((s) => s.name.split(' = ').includes(variable));
  for (const variable of [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'CLP_DB_PASS',
    // the least-privilege users' (config/local.env)
    'CLP_DB_WORKER_PASS',
    'CLP_DB_EXECUTOR_PASS',
    'CLP_DB_API_PASS',
    'test API token',
  ])
    expect([variable, named(variable)?.value]).toEqual([variable, expect.any(String)]);
  expect(named('AWS_SECRET_ACCESS_KEY')!.value).toBe(process.env.AWS_SECRET_ACCESS_KEY);
  expect(named('CLP_DB_PASS')!.value).toBe(process.env.CLP_DB_PASS);
  expect(secrets.every((s) => s.value.length >= 6)).toBe(true);
});

test('the scanner finds a value planted in a recorded history: plain, in a payload, and nested', () => {
  const file = readdirSync(FIXTURES).find((f) => f.endsWith('.json'))!;
  const history = JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8'));
  const planted: Secret[] = [
    { name: 'planted-plain', value: `plain-${randomBytes(8).toString('hex')}` },
    { name: 'planted-payload', value: `payload-${randomBytes(8).toString('hex')}` },
    { name: 'planted-nested', value: `nested-${randomBytes(8).toString('hex')}` },
  ];
  const where = { workflowId: 'fixture', runId: file };
  expect(scanHistoryJson(history, planted, where)).toEqual([]);

  const started = history.events[0].workflowExecutionStartedEventAttributes;
  started.identity = `worker ${planted[0].value}`;
  const payload = started.input.payloads[0];
  const input = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'));
  input.job.config.timestamp_key = planted[1].value;
  // a value base64-encoded inside a payload that is itself base64
  input.extra = Buffer.from(JSON.stringify({ key: planted[2].value })).toString('base64');
  payload.data = Buffer.from(JSON.stringify(input)).toString('base64');

  const hits = scanHistoryJson(history, planted, where);
  expect(hits.map((h) => [h.secret, h.eventId, h.eventType])).toEqual(
    expect.arrayContaining([
      ['planted-plain', '1', 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED'],
      ['planted-payload', '1', 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED'],
      ['planted-nested', '1', 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED'],
    ]),
  );
  expect(hits.find((h) => h.secret === 'planted-payload')!.path).toMatch(
    /input\.payloads\[0\]\.data \(base64\)/,
  );
});

test('the recorded histories committed under test/fixtures hold no secret', () => {
  const hits = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) =>
      scanHistoryJson(JSON.parse(readFileSync(path.join(FIXTURES, f), 'utf8')), secrets, {
        workflowId: 'fixture',
        runId: f,
      }),
    );
  expect(hits.map(describeHit)).toEqual([]);
});

test('the scanner finds values planted in a live history: workflow input, memo and a termination reason', async () => {
  const planted: Secret[] = [
    { name: 'planted-input', value: `input-${randomBytes(8).toString('hex')}` },
    { name: 'planted-memo', value: `memo-${randomBytes(8).toString('hex')}` },
    { name: 'planted-reason', value: `reason-${randomBytes(8).toString('hex')}` },
  ];
  const workflowId = uniqueName('secrets-scan-probe');
  probeIds.add(workflowId);
  // A workflow nobody runs (no worker polls its task queue): its history is what the client wrote.
  const handle = await client.workflow.start('secretsScanProbe', {
    taskQueue: uniqueName('secrets-scan-probe-tq'),
    workflowId,
    args: [{ note: planted[0].value }],
    memo: { note: planted[1].value },
  });
  await handle.terminate(`probe done ${planted[2].value}`);
  const history = JSON.parse(
    (await import('@temporalio/common/lib/proto-utils')).historyToJSON(await handle.fetchHistory()),
  );
  const hits = scanHistoryJson(history, planted, { workflowId, runId: handle.firstExecutionRunId });
  expect(new Set(hits.map((h) => h.secret))).toEqual(new Set(planted.map((p) => p.name)));
  expect(hits.find((h) => h.secret === 'planted-reason')!.eventType).toBe(
    'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED',
  );
});

test('no history of any workflow in the test namespace holds a secret', async () => {
  const namespaces = [
    client.options.namespace,
    ...(process.env.CLP_INGESTOR_SECRET_SCAN_NAMESPACES ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
  const hits: Hit[] = [];
  for (const namespace of new Set(namespaces)) {
    const c = new Client({ connection: client.connection, namespace });
    const report = await scanNamespace(c, secrets, { skipWorkflowIds: probeIds });
    console.log(
      `secrets scan of namespace ${namespace}: ${report.workflows} workflows, ${report.runs} runs, ` +
        `${report.events} events, ${secrets.length} secrets, ${report.hits.length} hits`,
    );
    hits.push(...report.hits);
  }
  expect(hits.map(describeHit)).toEqual([]);
}, 600_000);
