/**
 * `stack.sh app-up` keeps the worker and the executor running: each under a
 * supervisor that restarts it when it dies (with backoff, logged), `status`
 * shows them, `app-down` stops supervisors and apps cleanly. Run on a stack
 * directory of its own (CLP_INGESTOR_STACK_DIR: its own PID files and logs),
 * a throwaway database and task queue, against the shared servers, which it
 * never starts or stops.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectClient } from '../../src/temporal';
import { ensureBuilt, ROOT } from '../fault/support';
import { createTestDb, terminateTaskQueueWorkflows, uniqueName, type TestDb } from '../support/stack';
import { configuredSecrets, jsonEvents, notJsonLines, secretsIn } from '../support/logs';
import { eventually } from '../support/wait';

const run = promisify(execFile);
const STACK_SH = path.join(ROOT, 'scripts', 'stack.sh');

let db: TestDb;
let dir: string;
let env: NodeJS.ProcessEnv;
let taskQueue: string;

beforeAll(async () => {
  await ensureBuilt();
  db = await createTestDb();
  dir = mkdtempSync(path.join(os.tmpdir(), 'clp-supervisor-'));
  taskQueue = uniqueName('sup-tq');
  env = {
    ...process.env,
    CLP_INGESTOR_STACK_DIR: dir,
    CLP_DB_NAME: db.settings.db.database,
    CLP_INGESTOR_TASK_QUEUE: taskQueue,
    CLP_ARCHIVE_DIR: path.join(dir, 'archives'),
    // Not the stack's own metrics ports (a running demo may hold them).
    CLP_INGESTOR_METRICS_ADDRESS: '',
    CLP_EXECUTOR_METRICS_ADDRESS: '',
  };
});

afterAll(async () => {
  await stack(['app-down']).catch(() => undefined);
  const client = await connectClient();
  await terminateTaskQueueWorkflows(client, taskQueue);
  await client.connection.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function stack(args: string[], extra: NodeJS.ProcessEnv = {}) {
  return run('bash', [STACK_SH, ...args], { env: { ...env, ...extra }, cwd: ROOT });
}

const file = (name: string) => path.join(dir, name);
const pidOf = (name: string): number | null => {
  const f = file(`run/${name}.pid`);
  return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : null;
};
const isAlive = (pid: number | null) => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const log = (name: string) =>
  existsSync(file(`logs/${name}.log`)) ? readFileSync(file(`logs/${name}.log`), 'utf8') : '';

/** Waits for the app to run under a new PID; returns it. */
async function restartedFrom(name: string, old: number): Promise<number> {
  return eventually(
    async () => {
      const pid = pidOf(name);
      return pid && pid !== old && isAlive(pid) ? pid : null;
    },
    30_000,
    `${name} restarted`,
  );
}

test('app-up supervises the worker and the executor: a killed one is restarted with backoff and logged; app-up again changes nothing and starts only what stopped; app-down stops everything', async () => {
  const up = await stack(['app-up']);
  expect(up.stdout).toMatch(/starting worker \(supervised\)/);
  const worker = pidOf('worker')!;
  const executor = pidOf('executor')!;
  const supervisors = [pidOf('worker-supervisor')!, pidOf('executor-supervisor')!];
  expect([worker, executor, ...supervisors].every(isAlive)).toBe(true);
  await eventually(async () => log('worker').includes('"worker started"'), 60_000, 'worker started');
  await eventually(async () => log('executor').includes('"executor started"'), 60_000, 'executor started');

  const status = (await stack(['status'])).stdout;
  expect(status).toMatch(
    new RegExp(`worker +running +pid ${worker} +supervisor pid ${supervisors[0]}, 0 restarts`),
  );
  expect(status).toMatch(
    new RegExp(`executor +running +pid ${executor} +supervisor pid ${supervisors[1]}, 0 restarts`),
  );

  // SIGKILL the worker twice in a row: restarted after 1 s, then 2 s.
  process.kill(worker, 'SIGKILL');
  const second = await restartedFrom('worker', worker);
  expect(log('worker')).toMatch(/"worker exited on SIGKILL after \d+ s; restarting in 1 s \(restart 1\)"/);
  process.kill(second, 'SIGKILL');
  const third = await restartedFrom('worker', second);
  expect(log('worker')).toMatch(/"worker exited on SIGKILL after \d+ s; restarting in 2 s \(restart 2\)"/);
  await eventually(
    async () => new RegExp(`"worker started".*"pid":${third}\\b`).test(log('worker')),
    60_000,
    'the third worker started',
  );

  // The executor too.
  process.kill(executor, 'SIGKILL');
  const executor2 = await restartedFrom('executor', executor);
  expect(log('executor')).toMatch(
    /"executor exited on SIGKILL after \d+ s; restarting in 1 s \(restart 1\)"/,
  );

  expect((await stack(['status'])).stdout).toMatch(
    new RegExp(`worker +running +pid ${third} +supervisor pid ${supervisors[0]}, 2 restarts`),
  );
  expect(supervisors.every(isAlive)).toBe(true); // the same supervisors throughout

  // app-up again, everything running (the worker restarted twice by its supervisor): nothing changes.
  const again = await stack(['app-up']);
  expect(again.stdout).toMatch(/worker is already supervised/);
  expect(again.stdout).toMatch(/executor is already supervised/);
  expect(again.stdout).not.toMatch(/starting/);
  expect([
    pidOf('worker'),
    pidOf('executor'),
    pidOf('worker-supervisor'),
    pidOf('executor-supervisor'),
  ]).toEqual([third, executor2, ...supervisors]);
  expect([third, executor2, ...supervisors].every(isAlive)).toBe(true);

  // With the executor's supervisor stopped, app-up starts that one only.
  process.kill(supervisors[1], 'SIGTERM');
  await eventually(async () => !isAlive(supervisors[1]) && !isAlive(executor2), 30_000, 'executor stopped');
  const partial = await stack(['app-up']);
  expect(partial.stdout).toMatch(/worker is already supervised/);
  expect(partial.stdout).toMatch(/starting executor \(supervised\)/);
  expect([pidOf('worker'), pidOf('worker-supervisor')]).toEqual([third, supervisors[0]]);
  const executor3 = pidOf('executor')!;
  supervisors[1] = pidOf('executor-supervisor')!;
  expect([executor3, supervisors[1]].every(isAlive)).toBe(true);

  // app-down: supervisors stop their apps (SIGTERM, a clean shutdown) and themselves; nothing restarts.
  await stack(['app-down']);
  expect([third, executor3, ...supervisors].some(isAlive)).toBe(false);
  expect(log('worker')).toMatch(/"worker stopped"/);
  expect(log('worker')).toMatch(/"supervisor stopped"/);
  expect(log('executor')).toMatch(/"executor stopped"/);
  const after = (await stack(['status'])).stdout;
  expect(after).toMatch(/worker +stopped/);
  expect(after).toMatch(/executor +stopped/);

  // Every line of every process (worker, the Temporal SDK and Core inside it, executor, the
  // supervisors' own lines in the apps' logs, and whatever a supervisor's shell printed in its own
  // log) is one JSON event with its time, level and message.
  for (const name of ['worker', 'executor', 'worker-supervisor', 'executor-supervisor']) {
    if (!name.endsWith('supervisor')) expect(log(name).split('\n').length).toBeGreaterThan(5);
    expect([name, notJsonLines(log(name))]).toEqual([name, []]);
  }
  // The SDK's own lines are among them, with the worker's task queue, and the supervisor's, naming the app.
  expect(log('worker')).toMatch(
    new RegExp(`"level":"info","msg":"Worker state changed".*"taskQueue":"${taskQueue}"`),
  );
  expect(jsonEvents(log('executor'))).toContainEqual(
    expect.objectContaining({
      level: 'warn',
      app: 'executor',
      msg: expect.stringMatching(/^executor exited on SIGKILL/),
    }),
  );
  // Each process connected to the DB with its password (and the worker to S3 with its key): none is in a log.
  const secrets = configuredSecrets(env);
  expect(secrets.length).toBeGreaterThanOrEqual(3);
  for (const name of ['worker', 'executor', 'worker-supervisor', 'executor-supervisor']) {
    expect([name, secretsIn(log(name), secrets)]).toEqual([name, []]);
  }
});

test('app-up reports a configuration error before starting anything: migrate runs first and refuses', async () => {
  const err = await stack(['app-up'], { CLP_COMPAT: 'no-such-release' }).then(
    () => null,
    (e: { code: number; stderr: string }) => e,
  );
  expect(err?.code).toBe(1);
  expect(err?.stderr).toMatch(/app-up: clp-ingestor migrate failed \(nothing started\); last log lines:/);
  expect(err?.stderr).toMatch(/invalid setting CLP_COMPAT/);
  for (const name of ['worker', 'executor', 'worker-supervisor', 'executor-supervisor']) {
    expect(isAlive(pidOf(name))).toBe(false);
  }
});

test('app-up reports an app that exits at start and leaves nothing running', async () => {
  // Only the worker talks to Temporal: migrate (the DB) passes, the worker stops at once.
  const err = await stack(['app-up'], { TEMPORAL_NAMESPACE: 'no-such-namespace' }).then(
    () => null,
    (e: { code: number; stderr: string }) => e,
  );
  expect(err?.code).toBe(1);
  expect(err?.stderr).toMatch(/app-up: worker exited at start; last log lines:/);
  // The worker's last line is a JSON event, its message quoted as JSON quotes it.
  expect(err?.stderr).toMatch(/"level":"error","msg":"worker: .* has no namespace \\"no-such-namespace\\"/);
  for (const name of ['worker', 'executor', 'worker-supervisor', 'executor-supervisor']) {
    expect(isAlive(pidOf(name))).toBe(false);
  }
});
