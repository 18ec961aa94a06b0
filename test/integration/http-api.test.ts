/**
 * The REST API on the real stack: an in-process worker, a throwaway CLP DB,
 * Temporal and MinIO. Every route, every error status, and the OpenAPI
 * document checked against the routes and against real answers.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import Ajv2020 from 'ajv/dist/2020';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { createSqsClient } from '../../src/aws';
import { ApiTokens } from '../../src/client/http/api-tokens';
import { HEALTH_TEXT, routesOf, type ServerOptions } from '../../src/client/http/server';
import { createPool } from '../../src/store/db';
import { IngestionStore } from '../../src/store/ingestion-store';
import { CompressionJobStatus } from '../../src/store/schema';
import { apiServer } from '../support/http';
import { TEST_API_TOKENS } from '../support/secrets';
import { createTestBucket, putObjects, uniqueName } from '../support/stack';
import { completeCompressionJobs, startHarness, waitForStatus, type Harness } from '../support/worker';
import { eventually } from '../support/wait';
import { s3ScannerConfig, timeoutOnlyBuffer } from '../support/configs';

let h: Harness;
let bucket: string;
let app: FastifyInstance;
let doc: any;
const TOKEN = TEST_API_TOKENS.single;

const server = (extra: Partial<ServerOptions> = {}) => apiServer(h, extra);

beforeAll(async () => {
  h = await startHarness();
  bucket = await createTestBucket(h.s3);
  app = await server();
  doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
});

afterAll(async () => {
  await app?.close();
  await h?.close();
});

async function call(opts: InjectOptions, a: FastifyInstance = app) {
  const res = await a.inject(opts);
  const body = res.headers['content-type']?.toString().includes('json') ? res.json() : res.body;
  return { status: res.statusCode, body, headers: res.headers };
}

const put = (keys: string[]) => putObjects(h.s3, bucket, keys);

const s3Config = (prefix: string, extra: Record<string, unknown> = {}) =>
  s3ScannerConfig(bucket, prefix, { buffer_config: timeoutOnlyBuffer(), ...extra });

async function createS3(prefix: string, extra: Record<string, unknown> = {}): Promise<number> {
  const res = await call({ method: 'POST', url: '/s3_scanner', payload: s3Config(prefix, extra) });
  expect(res.status).toBe(200);
  return res.body.id;
}

/** Waits until the job's workflow answers its status query with `status`. */
async function liveStatus(id: number, status: string) {
  return eventually(
    async () => {
      const res = await call({ method: 'GET', url: `/job/${id}` });
      return res.body.progress?.status === status ? res.body : null;
    },
    30_000,
    `job ${id} live status ${status}`,
  );
}

// ------------------------------------------------------- OpenAPI document --

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
let docRegistered = false;

function openApiPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z_]+)/g, '{$1}');
}

/** Validates an answer against the schema the document gives for (path, method, status). */
function expectDocumented(url: string, method: string, status: number, body: unknown): void {
  if (!docRegistered) {
    ajv.addSchema(doc, 'openapi.json');
    docRegistered = true;
  }
  const response = doc.paths[url]?.[method.toLowerCase()]?.responses?.[status];
  expect(response).toBeDefined();
  const media = Object.keys(response.content ?? {})[0];
  expect(media).toBeDefined();
  const pointer = [
    'paths',
    url,
    method.toLowerCase(),
    'responses',
    String(status),
    'content',
    media,
    'schema',
  ]
    .map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1'))
    .join('/');
  const validate = ajv.compile({ $ref: `openapi.json#/${pointer}` });
  if (!validate(body)) throw new Error(`${method} ${url} ${status}: ${ajv.errorsText(validate.errors)}`);
}

describe('OpenAPI document', () => {
  test('is OpenAPI 3.1 and lists every registered route with its methods, and nothing else', () => {
    expect(doc.openapi).toBe('3.1.0');
    const registered = routesOf(app).map((r) => `${r.method} ${openApiPath(r.url)}`);
    expect(registered.length).toBeGreaterThanOrEqual(16);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops as object)
        .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(documented.sort()).toEqual([...registered].sort());
    for (const route of [
      'GET /',
      'GET /health',
      'POST /s3_scanner',
      'POST /sqs_listener',
      'POST /fs',
      'POST /job/{job_id}/terminate',
      'DELETE /job/{job_id}',
      'GET /jobs',
      'GET /job/{job_id}',
      'GET /job/{job_id}/files',
      'POST /job/{job_id}/pause',
      'POST /job/{job_id}/resume',
      'POST /job/{job_id}/stop',
      'GET /openapi.json',
      'GET /ui',
    ]) {
      expect(registered).toContain(route);
    }
  });

  test('request bodies are the CLP config schemas, from the same definitions the server validates with', () => {
    const body = doc.paths['/s3_scanner'].post.requestBody.content['application/json'].schema;
    const resolved = body.$ref ? doc.components.schemas[body.$ref.split('/').pop()] : body;
    expect(resolved.required).toEqual(['bucket_name', 'key_prefix']);
    expect(resolved.additionalProperties).toBe(false);
    expect(Object.keys(resolved.properties)).toEqual(
      expect.arrayContaining([
        'bucket_name',
        'key_prefix',
        'dataset',
        'buffer_config',
        'scanning_interval_sec',
      ]),
    );
    const sqs = doc.paths['/sqs_listener'].post.requestBody.content['application/json'].schema;
    expect(JSON.stringify(sqs.$ref ? doc.components.schemas[sqs.$ref.split('/').pop()] : sqs)).toContain(
      'queue_url',
    );
    for (const [p, ops] of Object.entries<any>(doc.paths)) {
      for (const [m, op] of Object.entries<any>(ops)) {
        if (p !== '/health' && p !== '/ui' && p !== '/ui/{file}') {
          expect([p, m, op.responses['500']?.description]).toEqual([p, m, expect.any(String)]);
        }
      }
    }
  });
});

// ---------------------------------------------------------- CLP routes --

describe('CLP log-ingestor compatible routes', () => {
  test('GET / and GET /health answer that the ingestor is running', async () => {
    for (const url of ['/', '/health']) {
      const res = await call({ method: 'GET', url });
      expect(res.status).toBe(200);
      expect(res.body).toBe(HEALTH_TEXT);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
    }
  });

  test('POST /s3_scanner creates a job that ingests; the answer is {"id"}', async () => {
    await put(['create/a.log', 'create/b.log']);
    const res = await call({ method: 'POST', url: '/s3_scanner', payload: s3Config('create/') });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: expect.any(Number) });
    expectDocumented('/s3_scanner', 'post', 200, res.body);
    const job = await h.store.requireJob(res.body.id);
    expect(job.kind).toBe('s3_scanner');
    await eventually(
      async () => (await h.store.requireJob(res.body.id)).numFilesIngested === 2,
      30_000,
      'ingest',
    );
  });

  test('POST /s3_scanner: an invalid config is 400 naming the field; a prefix conflict is 409', async () => {
    const cases: [unknown, RegExp][] = [
      [{ key_prefix: 'x/' }, /bucket_name: is required/],
      [{ ...s3Config('x/'), bogus: 1 }, /unknown field "bogus"/],
      [{ ...s3Config('x/'), scanning_interval_sec: '5' }, /scanning_interval_sec/],
      [{ ...s3Config('x/'), dataset: 'no spaces' }, /dataset: must be letters/],
      [[], /must be a JSON object/],
    ];
    for (const [payload, message] of cases) {
      const res = await call({ method: 'POST', url: '/s3_scanner', payload: payload as object });
      expect([res.status, res.body.error]).toEqual([400, expect.stringMatching(message)]);
      expectDocumented('/s3_scanner', 'post', 400, res.body);
    }
    const badJson = await call({
      method: 'POST',
      url: '/s3_scanner',
      headers: { 'content-type': 'application/json' },
      payload: '{"bucket_name": ',
    });
    expect(badJson.status).toBe(400);
    expect(badJson.body.error).toEqual(expect.any(String));

    const first = await createS3('conflict/logs/');
    for (const prefix of ['conflict/', 'conflict/logs/deeper/', 'conflict/logs/']) {
      const res = await call({ method: 'POST', url: '/s3_scanner', payload: s3Config(prefix) });
      expect(res.status).toBe(409);
      expect(res.body.error).toMatch(new RegExp(`conflicts with active ingestion job ${first}`));
      expectDocumented('/s3_scanner', 'post', 409, res.body);
    }
    // Another dataset does not conflict.
    const other = await call({
      method: 'POST',
      url: '/s3_scanner',
      payload: s3Config('conflict/', { dataset: 'other' }),
    });
    expect(other.status).toBe(200);
  });

  test("POST /sqs_listener creates a job from CLP's SQS-listener config; invalid ones are 400", async () => {
    const sqs = createSqsClient(h.settings.aws);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('http-api') }));
    sqs.destroy();
    const res = await call({
      method: 'POST',
      url: '/sqs_listener',
      payload: { bucket_name: bucket, key_prefix: 'sqs/', queue_url: QueueUrl, wait_time_sec: 1 },
    });
    expect(res.status).toBe(200);
    expectDocumented('/sqs_listener', 'post', 200, res.body);
    expect((await h.store.requireJob(res.body.id)).kind).toBe('sqs_listener');

    const missing = await call({
      method: 'POST',
      url: '/sqs_listener',
      payload: { bucket_name: bucket, key_prefix: 'sqs2/' },
    });
    expect([missing.status, missing.body.error]).toEqual([400, expect.stringMatching(/queue_url/)]);
    const tooMany = await call({
      method: 'POST',
      url: '/sqs_listener',
      payload: {
        bucket_name: bucket,
        key_prefix: 'sqs3/',
        queue_url: QueueUrl,
        num_concurrent_listener_tasks: 99,
      },
    });
    expect([tooMany.status, tooMany.body.error]).toEqual([
      400,
      expect.stringMatching(/num_concurrent_listener_tasks/),
    ]);

    const term = await call({ method: 'POST', url: `/job/${res.body.id}/terminate` });
    expect(term.status).toBe(200);
    expect(['finished', 'failed']).toContain(term.body.terminal_status);
  });

  test('POST /job/{id}/terminate stops a running job and answers "finished", idempotently', async () => {
    await put(['term/a.log']);
    const id = await createS3('term/', { buffer_config: { timeout_sec: 3600 } });
    await liveStatus(id, 'running');
    await eventually(async () => (await h.store.countFilesByStatus(id)).buffered === 1, 30_000, 'buffered');

    const first = await call({ method: 'POST', url: `/job/${id}/terminate` });
    expect([first.status, first.body]).toEqual([200, { id, terminal_status: 'finished' }]);
    expectDocumented('/job/{job_id}/terminate', 'post', 200, first.body);
    // Still draining (its compression job is pending): terminate again is harmless.
    const again = await call({ method: 'POST', url: `/job/${id}/terminate` });
    expect([again.status, again.body]).toEqual([200, { id, terminal_status: 'finished' }]);
    expect((await liveStatus(id, 'running')).progress.stop_requested).toBe(true);

    await eventually(
      async () =>
        (await completeCompressionJobs(h.pool)) >= 0 && (await h.store.requireJob(id)).status === 'finished',
      60_000,
      'finished',
    );
    const done = await call({ method: 'POST', url: `/job/${id}/terminate` });
    expect([done.status, done.body]).toEqual([200, { id, terminal_status: 'finished' }]);
    const del = await call({ method: 'DELETE', url: `/job/${id}` });
    expect([del.status, del.body]).toEqual([200, { id, terminal_status: 'finished' }]);
    expect((await h.store.requireJob(id)).numFilesCompressed).toBe(1);
  });

  test('terminate a paused job finishes it; a failed job answers "failed"', async () => {
    const paused = await createS3('termpause/');
    await liveStatus(paused, 'running');
    expect((await call({ method: 'POST', url: `/job/${paused}/pause` })).status).toBe(202);
    await waitForStatus(h, paused, 'paused');
    const res = await call({ method: 'POST', url: `/job/${paused}/terminate` });
    expect(res.body).toEqual({ id: paused, terminal_status: 'finished' });
    await waitForStatus(h, paused, 'finished');

    const failed = await call({
      method: 'POST',
      url: '/s3_scanner',
      payload: { ...s3Config('x/'), bucket_name: 'no-such-bucket-http-api' },
    });
    await waitForStatus(h, failed.body.id, 'failed');
    for (const req of [
      { method: 'POST' as const, url: `/job/${failed.body.id}/terminate` },
      { method: 'DELETE' as const, url: `/job/${failed.body.id}` },
    ]) {
      const r = await call(req);
      expect([r.status, r.body]).toEqual([200, { id: failed.body.id, terminal_status: 'failed' }]);
    }
  });

  test('terminate a job whose workflow is gone starts a draining run that finishes it', async () => {
    const id = await createS3('termgone/');
    await liveStatus(id, 'running');
    await h.client.workflow.getHandle(`clp-ingestion-job-${id}`).terminate('test: closed by hand');
    const res = await call({ method: 'POST', url: `/job/${id}/terminate` });
    expect(res.body).toEqual({ id, terminal_status: 'finished' });
    await waitForStatus(h, id, 'finished');
  });

  test('unknown jobs are 404 and malformed ids 400, on every job route', async () => {
    const routes: [InjectOptions['method'], string, string][] = [
      ['POST', '/job/987654/terminate', '/job/{job_id}/terminate'],
      ['DELETE', '/job/987654', '/job/{job_id}'],
      ['GET', '/job/987654', '/job/{job_id}'],
      ['GET', '/job/987654/files', '/job/{job_id}/files'],
      ['POST', '/job/987654/pause', '/job/{job_id}/pause'],
      ['POST', '/job/987654/resume', '/job/{job_id}/resume'],
      ['POST', '/job/987654/stop', '/job/{job_id}/stop'],
    ];
    for (const [method, url, documented] of routes) {
      const res = await call({ method, url });
      expect([method, url, res.status, res.body]).toEqual([
        method,
        url,
        404,
        { error: 'no ingestion job 987654' },
      ]);
      expectDocumented(documented, method!, 404, res.body);
      const bad = await call({ method, url: url.replace('987654', 'abc') });
      expect([url, bad.status, bad.body.error]).toEqual([url, 400, expect.stringMatching(/job_id/)]);
      expectDocumented(documented, method!, 400, bad.body);
    }
    const noRoute = await call({ method: 'GET', url: '/nope' });
    expect([noRoute.status, noRoute.body]).toEqual([404, { error: 'no route GET /nope' }]);
  });
});

// ------------------------------------------------------- beyond CLP --

describe('inspection and control', () => {
  test('GET /jobs lists jobs, filtered by status and dataset', async () => {
    const a = await createS3('list/a/', { dataset: 'list_ds' });
    const b = await createS3('list/b/');
    await liveStatus(a, 'running');
    const all = await call({ method: 'GET', url: '/jobs' });
    expect(all.status).toBe(200);
    expectDocumented('/jobs', 'get', 200, all.body);
    const ids = all.body.jobs.map((j: any) => j.id);
    expect(ids).toEqual(expect.arrayContaining([a, b]));
    expect(ids).toEqual([...ids].sort((x: number, y: number) => x - y));

    const jobA = all.body.jobs.find((j: any) => j.id === a);
    expect(jobA).toMatchObject({
      kind: 's3_scanner',
      dataset: 'list_ds',
      source: `s3://${bucket}/list/a/`,
      config: { bucket_name: bucket, key_prefix: 'list/a/', dataset: 'list_ds', unstructured: false },
      workflow_id: `clp-ingestion-job-${a}`,
      workflow_url: `http://127.0.0.1:8233/namespaces/${h.client.options.namespace}/workflows/clp-ingestion-job-${a}`,
    });

    const byDataset = await call({ method: 'GET', url: '/jobs?dataset=list_ds' });
    expect(byDataset.body.jobs.map((j: any) => j.id)).toEqual([a]);
    const byStatus = await call({ method: 'GET', url: '/jobs?status=failed,finished' });
    expect(byStatus.body.jobs.every((j: any) => ['failed', 'finished'].includes(j.status))).toBe(true);
    expect(byStatus.body.jobs.map((j: any) => j.id)).not.toContain(a);
    const running = await call({ method: 'GET', url: '/jobs?status=running&dataset=list_ds' });
    expect(running.body.jobs.map((j: any) => j.id)).toEqual([a]);

    const bad = await call({ method: 'GET', url: '/jobs?status=bogus' });
    expect([bad.status, bad.body.error]).toEqual([400, expect.stringMatching(/unknown job status "bogus"/)]);
    expectDocumented('/jobs', 'get', 400, bad.body);
  });

  test('GET /job/{id} has the record, file counts and live progress; files are paged with compression job ids', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `detail/f${i}.log`);
    await put(keys);
    const id = await createS3('detail/');
    await eventually(async () => (await h.store.countFilesByStatus(id)).submitted === 7, 30_000, 'submitted');
    // Some fail: mark this job's compression job FAILED.
    await completeCompressionJobs(h.pool, CompressionJobStatus.FAILED);
    await eventually(async () => (await h.store.requireJob(id)).numFilesFailed === 7, 30_000, 'failed files');

    const res = await call({ method: 'GET', url: `/job/${id}` });
    expect(res.status).toBe(200);
    expectDocumented('/job/{job_id}', 'get', 200, res.body);
    expect(res.body.job).toMatchObject({ id, status: 'running', num_files_ingested: 7, num_files_failed: 7 });
    expect(res.body.file_counts).toEqual({ buffered: 0, submitted: 0, compressed: 0, failed: 7 });
    expect(res.body.progress).toMatchObject({ status: 'running', stop_requested: false, files_failed: 7 });
    expect(res.body.progress_error).toBeNull();

    const seen: any[] = [];
    let after = 0;
    for (;;) {
      const page = await call({ method: 'GET', url: `/job/${id}/files?limit=3&after=${after}` });
      expect(page.status).toBe(200);
      expectDocumented('/job/{job_id}/files', 'get', 200, page.body);
      seen.push(...page.body.files);
      if (page.body.next_after === null) break;
      expect(page.body.files).toHaveLength(3);
      after = page.body.next_after;
    }
    expect(seen.map((f) => f.path)).toEqual(keys.map((k) => `${bucket}/${k}`));
    expect(seen.every((f) => f.status === 'failed' && Number.isInteger(f.compression_job_id))).toBe(true);

    const failedOnly = await call({ method: 'GET', url: `/job/${id}/files?status=failed` });
    expect(failedOnly.body.files).toHaveLength(7);
    const none = await call({ method: 'GET', url: `/job/${id}/files?status=compressed` });
    expect(none.body).toEqual({ files: [], next_after: null });
    for (const q of ['status=bogus', 'limit=0', 'limit=5000', 'after=-1']) {
      const bad = await call({ method: 'GET', url: `/job/${id}/files?${q}` });
      expect([q, bad.status]).toEqual([q, 400]);
    }
    await call({ method: 'POST', url: `/job/${id}/terminate` });
    await waitForStatus(h, id, 'finished');
    // The row reads finished one workflow task before the workflow closes; live progress ends with the workflow.
    await eventually(
      async () =>
        (await h.client.workflow.getHandle(`clp-ingestion-job-${id}`).describe()).status.name !== 'RUNNING',
      30_000,
      `the workflow of job ${id} closed`,
    );
    const closed = await call({ method: 'GET', url: `/job/${id}` });
    expect([closed.body.job.status, closed.body.progress]).toEqual(['finished', null]);
    expectDocumented('/job/{job_id}', 'get', 200, closed.body);
  });

  test('pause, resume and stop; an illegal request is 409 with the reason', async () => {
    const id = await createS3('control/');
    await liveStatus(id, 'running');
    const resumeRunning = await call({ method: 'POST', url: `/job/${id}/resume` });
    expect([resumeRunning.status, resumeRunning.body.error]).toEqual([
      409,
      `job ${id} is running; only a paused job can be resumed`,
    ]);
    expectDocumented('/job/{job_id}/resume', 'post', 409, resumeRunning.body);

    const pause = await call({ method: 'POST', url: `/job/${id}/pause` });
    expect([pause.status, pause.body]).toEqual([202, { id, requested: 'pause' }]);
    expectDocumented('/job/{job_id}/pause', 'post', 202, pause.body);
    await waitForStatus(h, id, 'paused');
    const pauseAgain = await call({ method: 'POST', url: `/job/${id}/pause` });
    expect([pauseAgain.status, pauseAgain.body.error]).toEqual([
      409,
      `job ${id} is paused; only a running job can be paused`,
    ]);

    const resume = await call({ method: 'POST', url: `/job/${id}/resume` });
    expect([resume.status, resume.body]).toEqual([202, { id, requested: 'resume' }]);
    await waitForStatus(h, id, 'running');

    const stop = await call({ method: 'POST', url: `/job/${id}/stop` });
    expect([stop.status, stop.body]).toEqual([202, { id, requested: 'stop' }]);
    await waitForStatus(h, id, 'finished');
    const stopAgain = await call({ method: 'POST', url: `/job/${id}/stop` });
    expect([stopAgain.status, stopAgain.body.error]).toEqual([
      409,
      `job ${id} is finished; it cannot be stopped`,
    ]);
  });

  test('POST /fs creates a local-directory job; a relative directory is 400', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'http-api-fs-'));
    const res = await call({
      method: 'POST',
      url: '/fs',
      payload: { directory: dir, scanning_interval_sec: 1 },
    });
    expect(res.status).toBe(200);
    expectDocumented('/fs', 'post', 200, res.body);
    const job = await h.store.requireJob(res.body.id);
    expect([job.kind, job.config.config]).toEqual(['fs', expect.objectContaining({ directory: dir })]);
    const listed = await call({ method: 'GET', url: `/jobs` });
    expect(listed.body.jobs.find((j: any) => j.id === res.body.id).source).toBe(dir);

    const bad = await call({ method: 'POST', url: '/fs', payload: { directory: 'relative/dir' } });
    expect([bad.status, bad.body.error]).toEqual([400, 'directory: must be an absolute path']);
    await call({ method: 'POST', url: `/job/${res.body.id}/terminate` });
  });
});

// ---------------------------------------------------- auth, limits, 500 --

describe('auth, body limit and internal errors', () => {
  test('with a token, every route but /health (and the static dashboard) answers 401 without it', async () => {
    const secured = await server({ authToken: TOKEN });
    try {
      const probes: InjectOptions[] = [
        { method: 'GET', url: '/' },
        { method: 'GET', url: '/jobs' },
        { method: 'GET', url: '/job/1' },
        { method: 'GET', url: '/job/1/files' },
        { method: 'POST', url: '/s3_scanner', payload: s3Config('auth/') },
        { method: 'POST', url: '/sqs_listener', payload: {} },
        { method: 'POST', url: '/fs', payload: {} },
        { method: 'POST', url: '/job/1/terminate' },
        { method: 'DELETE', url: '/job/1' },
        { method: 'POST', url: '/job/1/pause' },
        { method: 'POST', url: '/job/1/resume' },
        { method: 'POST', url: '/job/1/stop' },
        { method: 'GET', url: '/openapi.json' },
        { method: 'GET', url: '/no-such-route' },
      ];
      for (const probe of probes) {
        const missing = await call(probe, secured);
        expect([probe.url, missing.status, missing.body]).toEqual([
          probe.url,
          401,
          { error: 'missing bearer token' },
        ]);
        expect(missing.headers['www-authenticate']).toBe('Bearer');
        const wrong = await call({ ...probe, headers: { authorization: 'Bearer nope' } }, secured);
        expect([probe.url, wrong.status, wrong.body]).toEqual([
          probe.url,
          401,
          { error: 'invalid bearer token' },
        ]);
        const basic = await call({ ...probe, headers: { authorization: `Basic ${TOKEN}` } }, secured);
        expect(basic.status).toBe(401);
      }
      expectDocumented('/jobs', 'get', 401, { error: 'missing bearer token' });

      const health = await call({ method: 'GET', url: '/health' }, secured);
      expect([health.status, health.body]).toEqual([200, HEALTH_TEXT]);
      expect((await call({ method: 'GET', url: '/ui' }, secured)).status).toBe(200);
      const ok = await call(
        { method: 'GET', url: '/jobs', headers: { authorization: `Bearer ${TOKEN}` } },
        secured,
      );
      expect(ok.status).toBe(200);
      const securedDoc = await call(
        { method: 'GET', url: '/openapi.json', headers: { authorization: `Bearer ${TOKEN}` } },
        secured,
      );
      expect(securedDoc.body.components.securitySchemes.bearerAuth).toEqual({
        type: 'http',
        scheme: 'bearer',
      });
      expect(securedDoc.body.security).toEqual([{ bearerAuth: [] }]);
      expect(securedDoc.body.paths['/health'].get.security).toEqual([]);
    } finally {
      await secured.close();
    }
  });

  test('a body over the limit is 413', async () => {
    const small = await server({ bodyLimit: 1024 });
    try {
      const res = await call(
        {
          method: 'POST',
          url: '/s3_scanner',
          payload: s3Config('big/', { timestamp_key: 'k'.repeat(2000) }),
        },
        small,
      );
      expect([res.status, res.body]).toEqual([413, { error: 'Request body is too large' }]);
      expectDocumented('/s3_scanner', 'post', 413, res.body);
      // The default limit (1 MiB) takes the same body.
      const fine = await call({
        method: 'POST',
        url: '/s3_scanner',
        payload: s3Config('big/', { timestamp_key: 'k'.repeat(2000) }),
      });
      expect(fine.status).toBe(200);
      await call({ method: 'POST', url: `/job/${fine.body.id}/terminate` });
    } finally {
      await small.close();
    }
  });

  test('internal failures are 500 with a generic message: a closed DB pool, a throwing dependency', async () => {
    const pool = createPool(h.settings.db);
    await pool.end();
    const closed = await server({ store: new IngestionStore(pool) });
    const throwing = new IngestionStore(h.pool);
    throwing.createJob = async () => {
      throw new Error('db exploded with secret details');
    };
    const broken = await server({ store: throwing });
    try {
      for (const [a, req, documented] of [
        [closed, { method: 'GET', url: '/jobs' }, '/jobs'],
        [closed, { method: 'GET', url: '/job/1' }, '/job/{job_id}'],
        [closed, { method: 'POST', url: '/job/1/terminate' }, '/job/{job_id}/terminate'],
        [broken, { method: 'POST', url: '/s3_scanner', payload: s3Config('boom/') }, '/s3_scanner'],
      ] as const) {
        const res = await call(req as InjectOptions, a);
        expect([req.url, res.status, res.body.error]).toEqual([
          req.url,
          500,
          expect.stringMatching(/^Internal server error \(request .+\)$/),
        ]);
        expect(res.body.error).not.toMatch(/secret|closed/);
        expectDocumented(documented, req.method, 500, res.body);
      }
    } finally {
      await closed.close();
      await broken.close();
    }
  });
});

// --------------------------------------------------------- scoped tokens --

describe('scoped tokens: read and operator, several of each', () => {
  const [R1, R2] = TEST_API_TOKENS.read;
  const [O1, O2] = TEST_API_TOKENS.operator;
  let scoped: FastifyInstance;
  const as = (token?: string) => (token ? { authorization: `Bearer ${token}` } : {});
  const asCall = (token: string | undefined, opts: InjectOptions) =>
    call({ ...opts, headers: { ...as(token), ...(opts.headers ?? {}) } }, scoped);

  beforeAll(async () => {
    scoped = await server({ tokens: ApiTokens.of({ read: [R1, R2], operator: [O1, O2] }) });
  });
  afterAll(async () => {
    await scoped?.close();
  });

  test('read routes: 401 without a token or with a wrong one; read and operator tokens read', async () => {
    const id = (await asCall(O1, { method: 'POST', url: '/s3_scanner', payload: s3Config('scoped-read/') }))
      .body.id as number;
    const reads: [string, number][] = [
      ['/', 200],
      ['/jobs', 200],
      [`/job/${id}`, 200],
      [`/job/${id}/files`, 200],
      ['/openapi.json', 200],
      ['/auth/scope', 200],
      ['/job/999999999', 404], // past auth: the job does not exist
    ];
    for (const [url, status] of reads) {
      const missing = await asCall(undefined, { method: 'GET', url });
      expect([url, missing.status, missing.body]).toEqual([url, 401, { error: 'missing bearer token' }]);
      const wrong = await asCall(`${R1}x`, { method: 'GET', url });
      expect([url, wrong.status, wrong.body]).toEqual([url, 401, { error: 'invalid bearer token' }]);
      for (const token of [R1, R2, O1, O2]) {
        const res = await asCall(token, { method: 'GET', url });
        expect([url, token.slice(0, 9), res.status]).toEqual([url, token.slice(0, 9), status]);
      }
    }
    const listed = await asCall(R2, { method: 'GET', url: '/jobs' });
    expect(listed.body.jobs.map((j: any) => j.id)).toContain(id);
    await asCall(O2, { method: 'POST', url: `/job/${id}/terminate` });
  });

  test('operator routes: 401 without a valid token, 403 with a read token (nothing happens), done with an operator token', async () => {
    const id = (await asCall(O1, { method: 'POST', url: '/s3_scanner', payload: s3Config('scoped-op/') }))
      .body.id as number;
    await liveStatus(id, 'running');
    const jobsBefore = (await h.store.listJobs()).length;
    const dir = mkdtempSync(path.join(tmpdir(), 'http-api-scoped-'));
    const operatorRoutes: InjectOptions[] = [
      { method: 'POST', url: '/s3_scanner', payload: s3Config('scoped-refused/') },
      { method: 'POST', url: '/sqs_listener', payload: { bucket_name: bucket, key_prefix: 'q/' } },
      { method: 'POST', url: '/fs', payload: { directory: dir } },
      { method: 'POST', url: `/job/${id}/pause` },
      { method: 'POST', url: `/job/${id}/resume` },
      { method: 'POST', url: `/job/${id}/stop` },
      { method: 'POST', url: `/job/${id}/terminate` },
      { method: 'DELETE', url: `/job/${id}` },
    ];
    for (const probe of operatorRoutes) {
      const route = `${probe.method} ${probe.url}`;
      expect([route, (await asCall(undefined, probe)).status]).toEqual([route, 401]);
      expect([route, (await asCall('operator-token-guess-xxxxxxxxx', probe)).status]).toEqual([route, 401]);
      for (const token of [R1, R2]) {
        const res = await asCall(token, probe);
        expect([route, res.status, res.body.error]).toEqual([
          route,
          403,
          expect.stringMatching(/^this token may only read; (POST|DELETE) \/.* needs an operator token$/),
        ]);
        expect(res.headers['www-authenticate']).toMatch(/insufficient_scope/);
      }
    }
    // The read tokens changed nothing.
    expect((await h.store.listJobs()).length).toBe(jobsBefore);
    expect((await liveStatus(id, 'running')).job.status).toBe('running');
    expectDocumented('/job/{job_id}/pause', 'post', 403, {
      error: 'this token may only read; POST /job/:job_id/pause needs an operator token',
    });

    // Operator tokens (either one) do each of them.
    const pause = await asCall(O2, { method: 'POST', url: `/job/${id}/pause` });
    expect([pause.status, pause.body]).toEqual([202, { id, requested: 'pause' }]);
    await waitForStatus(h, id, 'paused');
    const resume = await asCall(O1, { method: 'POST', url: `/job/${id}/resume` });
    expect(resume.status).toBe(202);
    await waitForStatus(h, id, 'running');
    const stop = await asCall(O2, { method: 'POST', url: `/job/${id}/stop` });
    expect(stop.status).toBe(202);
    const terminate = await asCall(O1, { method: 'POST', url: `/job/${id}/terminate` });
    expect([terminate.status, terminate.body]).toEqual([200, { id, terminal_status: 'finished' }]);
    const del = await asCall(O2, { method: 'DELETE', url: `/job/${id}` });
    expect(del.status).toBe(200);
    const fs = await asCall(O1, { method: 'POST', url: '/fs', payload: { directory: dir } });
    expect(fs.status).toBe(200);
    const sqsBad = await asCall(O2, {
      method: 'POST',
      url: '/sqs_listener',
      payload: { bucket_name: bucket },
    });
    expect([sqsBad.status, sqsBad.body.error]).toEqual([400, expect.stringMatching(/key_prefix|queue_url/)]);
    await asCall(O1, { method: 'POST', url: `/job/${fs.body.id}/terminate` });
  });

  test('GET /auth/scope tells the dashboard what the token may do', async () => {
    expect((await asCall(R1, { method: 'GET', url: '/auth/scope' })).body).toEqual({
      auth: true,
      scope: 'read',
    });
    expect((await asCall(O2, { method: 'GET', url: '/auth/scope' })).body).toEqual({
      auth: true,
      scope: 'operator',
    });
    const open = await call({ method: 'GET', url: '/auth/scope' });
    expect(open.body).toEqual({ auth: false, scope: 'operator' });
    expectDocumented('/auth/scope', 'get', 200, open.body);
    // The older single token is an operator token.
    const single = await server({ authToken: TOKEN });
    try {
      expect((await call({ method: 'GET', url: '/auth/scope', headers: as(TOKEN) }, single)).body).toEqual({
        auth: true,
        scope: 'operator',
      });
    } finally {
      await single.close();
    }
  });

  test('tokens never reach the log: requests are logged without headers, and Authorization is redacted', async () => {
    const lines: string[] = [];
    const logged = await server({
      tokens: ApiTokens.of({ read: [R1], operator: [O1] }),
      logger: { level: 'trace', stream: { write: (line: string) => void lines.push(line) } },
    });
    try {
      for (const [token, url, method] of [
        [R1, '/jobs', 'GET'],
        [O1, '/jobs', 'GET'],
        [R1, '/job/1/pause', 'POST'],
        [`${O1}-wrong`, '/jobs', 'GET'],
        [O1, '/job/999999999/files', 'GET'],
      ] as const) {
        await call({ method, url, headers: as(token) }, logged);
      }
      // The request serializer drops headers; anything else that logs them gets Authorization redacted.
      logged.log.info({ req: { headers: { authorization: `Bearer ${O1}` } } }, 'request headers');
      logged.log.info({ headers: { authorization: `Bearer ${O1}`, host: 'h' } }, 'headers');
      expect(lines.length).toBeGreaterThan(10); // the requests were logged
      const all = lines.join('');
      expect(all).toContain('[redacted]');
      for (const t of [R1, O1]) expect(all).not.toContain(t);
    } finally {
      await logged.close();
    }
  });
});
