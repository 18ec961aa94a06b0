/**
 * Every process logs JSON lines of one shape (src/common/log.ts) and never a
 * secret: the REST API as a process (fastify's request lines, with a job's id on
 * its requests; bearer tokens presented on logged requests, never in the log),
 * and the worker and the executor refused by the DB for a wrong password (the
 * error is logged, the password is not). stack-supervisor.test.ts checks the
 * worker's, executor's and supervisors' logs of a normal run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connectClient } from '../../src/temporal';
import { ROOT } from '../fault/support';
import { configuredSecrets, jsonEvents, notJsonLines, secretsIn } from '../support/logs';
import { createTestDb, terminateTaskQueueWorkflows, uniqueName, type TestDb } from '../support/stack';
import { eventually } from '../support/wait';

let db: TestDb;
let dir: string;
let taskQueue: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDb();
  dir = mkdtempSync(path.join(os.tmpdir(), 'clp-process-logs-'));
  taskQueue = uniqueName('logs-tq');
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  const client = await connectClient();
  await terminateTaskQueueWorkflows(client, taskQueue);
  await client.connection.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `node dist/<script>` from the build, stdout and stderr into one log file, as stack.sh runs the apps. */
function start(script: string, args: string[], logFile: string, env: NodeJS.ProcessEnv) {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', script), ...args], {
    cwd: ROOT,
    env: { ...process.env, CLP_DB_NAME: db.settings.db.database, CLP_INGESTOR_TASK_QUEUE: taskQueue, ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  children.push(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, log: () => readFileSync(logFile, 'utf8') };
}

test('the REST API logs JSON lines with the job id on a job’s requests, and never a bearer token', async () => {
  const port = await freePort();
  const operator = `operator-${uniqueName('tok')}-secret`;
  const reader = `reader-${uniqueName('tok')}-secret`;
  const wrong = `wrong-${uniqueName('tok')}-secret`;
  const api = start('client/http/main.js', [], path.join(dir, 'api.log'), {
    CLP_INGESTOR_HTTP_PORT: String(port),
    CLP_INGESTOR_API_OPERATOR_TOKENS: operator,
    CLP_INGESTOR_API_READ_TOKENS: reader,
  });
  await eventually(async () => api.log().includes('"REST API ready"'), 60_000, 'the API ready');
  const call = async (method: string, url: string, token?: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}${url}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as { id?: number } | null };
  };

  const watched = mkdtempSync(path.join(dir, 'watched-'));
  const created = await call('POST', '/fs', operator, { directory: watched, scanning_interval_sec: 1 });
  expect(created.status).toBe(200);
  const jobId = created.body!.id!;
  expect((await call('GET', `/job/${jobId}/files`, reader)).status).toBe(200);
  expect((await call('GET', '/jobs', wrong)).status).toBe(401);
  expect((await call('GET', '/job/999999999', reader)).status).toBe(404);
  api.child.kill('SIGTERM');
  expect((await api.exited).code).toBe(0);

  const text = api.log();
  expect(notJsonLines(text)).toEqual([]);
  const events = jsonEvents(text);
  expect(events).toContainEqual(
    expect.objectContaining({
      level: 'info',
      msg: 'job created',
      job_id: jobId,
      workflowId: `clp-ingestion-job-${jobId}`,
      kind: 'fs',
    }),
  );
  expect(events).toContainEqual(
    expect.objectContaining({ msg: 'request completed', job_id: jobId, res: { statusCode: 200 } }),
  );
  expect(events).toContainEqual(
    expect.objectContaining({ msg: 'request completed', res: { statusCode: 401 } }),
  );
  expect(events.at(-1)).toMatchObject({ msg: 'shutting down', signal: 'SIGTERM' });
  // Each token was in a header of a request the logger logged: none is in the log, nor a DB password.
  const incoming = events.filter((e) => e.msg === 'incoming request');
  expect(incoming.length).toBe(4);
  expect(secretsIn(text, [operator, reader, wrong, ...configuredSecrets(process.env)])).toEqual([]);
});

test.each([
  ['worker', 'worker.js', [], 'CLP_DB_WORKER_PASS'],
  ['executor', 'executor/main.js', ['run'], 'CLP_DB_EXECUTOR_PASS'],
])(
  'the %s refused by the DB logs the refusal as a JSON line, never the password it tried',
  async (name, script, args, passVar) => {
    const password = `wrong-${uniqueName('pw')}-secret`;
    const proc = start(script, args, path.join(dir, `${name}-denied.log`), {
      [passVar]: password,
      CLP_INGESTOR_METRICS_ADDRESS: '',
      CLP_EXECUTOR_METRICS_ADDRESS: '',
      CLP_ARCHIVE_DIR: path.join(dir, 'archives'),
    });
    // Access denied is a configuration error: the process stops with one line naming the server.
    expect((await proc.exited).code).toBe(1);
    const text = proc.log();
    expect(notJsonLines(text)).toEqual([]);
    expect(jsonEvents(text).at(-1)).toMatchObject({
      level: 'error',
      msg: expect.stringMatching(/Access denied for user/),
    });
    expect(secretsIn(text, [password, ...configuredSecrets(process.env)])).toEqual([]);
  },
);
