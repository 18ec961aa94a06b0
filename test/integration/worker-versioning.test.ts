/**
 * Upgrades without patch branches (docs/upgrades.md), on the real stack: a job
 * runs on version 1 of a worker deployment; version 2 (test/upgrades: a
 * changed command sequence, no patched()) is deployed and made current. The
 * job's run stays pinned to version 1, which goes on serving it without a
 * nondeterminism error, while a new job starts on version 2; on a server that
 * tells pinned runs of a new target version (Temporal >= 1.30) the job moves
 * to version 2 at its next continue-as-new. Version 1 drains once no run is
 * left on it; the job ends with every file recorded once.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { DefaultLogger, makeTelemetryFilterString, Runtime, Worker } from '@temporalio/worker';
import { controlJob } from '../../src/job-control';
import { createWorker } from '../../src/worker';
import { drainageStatus, makeCurrent, type DeploymentVersion } from '../../src/worker-deployment';
import { workflowIdFor } from '../../src/workflows/messages';
import { countersAndRows, createTestDb, uniqueName, type TestDb } from '../support/stack';
import { connectJobHost, completeCompressionJobs, type JobHost } from '../support/worker';
import { eventually } from '../support/wait';

jest.setTimeout(600_000);

let db: TestDb;
let host: JobHost;
let disconnect: () => Promise<void>;
let dir: string;
const running: { worker: Worker; done: Promise<void>; close: () => Promise<void> }[] = [];

// One deployment for every run of this test: a namespace holds at most 100 deployments, and the
// server deletes a deployment's drained versions without pollers once it has 100 versions.
const deploymentName = 'clp-ingestor-upgrade-test';
const taskQueue = uniqueName('upg-tq');
const tag = uniqueName('b');
const v1: DeploymentVersion = { deploymentName, buildId: `v1-${tag}` };
const v2: DeploymentVersion = { deploymentName, buildId: `v2-${tag}` };

/** A worker of version `v` (undefined: an unversioned one). */
async function startVersion(v: DeploymentVersion | undefined, workflowsPath?: string, queue = taskQueue) {
  const settings = {
    ...db.settings,
    deployment: v
      ? { versioning: true, name: v.deploymentName, buildId: v.buildId }
      : { versioning: false, name: deploymentName },
  };
  const { worker, pool, connection } = await createWorker(settings, { taskQueue: queue, workflowsPath });
  const done = worker.run();
  const entry = {
    worker,
    done,
    close: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
      await pool.end();
      await connection.close();
    },
  };
  running.push(entry);
  return entry;
}

beforeAll(async () => {
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  db = await createTestDb();
  ({ host, disconnect } = await connectJobHost(db, taskQueue));
  dir = mkdtempSync(path.join(os.tmpdir(), 'clp-upgrade-'));
}, 120_000);

afterAll(async () => {
  await disconnect?.();
  for (const r of running) await r.close().catch(() => undefined);
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const past = new Date(Date.now() - 60_000);
function writeFiles(sub: string, names: string[]): string[] {
  return names.map((n) => {
    const f = path.join(dir, sub, n);
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, `${n}\n`.repeat(20));
    utimesSync(f, past, past);
    return f;
  });
}

async function ingestedPaths(jobId: number): Promise<string[]> {
  const [rows] = await host.pool.query<any[]>(
    'SELECT path FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY path',
    [jobId],
  );
  return rows.map((r) => r.path as string);
}

/**
 * Every run of the job's workflow: its run id, the build it is pinned to, its history's event types,
 * and the causes of its failed workflow tasks.
 */
async function runsOf(client: Client, jobId: number) {
  const runs: { runId: string; buildId?: string; events: string[]; failedTasks: number[] }[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowIdFor(jobId)}'` })) {
    const handle = client.workflow.getHandle(wf.workflowId, wf.runId);
    const d = await handle.describe();
    const info = d.raw.workflowExecutionInfo?.versioningInfo;
    const history = await handle.fetchHistory();
    runs.push({
      runId: wf.runId,
      buildId: info?.deploymentVersion?.buildId ?? undefined,
      events: (history.events ?? []).map((e) => String(e.eventType)),
      failedTasks: (history.events ?? []).flatMap((e) =>
        e.workflowTaskFailedEventAttributes ? [Number(e.workflowTaskFailedEventAttributes.cause)] : [],
      ),
    });
  }
  return runs;
}

/**
 * WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND: the server refused a task's completion because a new
 * event (a signal, an update) came in meanwhile, and the worker redoes the task with it. Not the
 * code failing; a nondeterminism error has another cause.
 */
const RACED_NEW_EVENT = 1;
const TIMER_STARTED = '17'; // EVENT_TYPE_TIMER_STARTED: version 2's first command

test('a job pinned to version 1 keeps running while version 2 is current; version 1 drains; every file once', async () => {
  const { client } = host;
  const system = await client.workflowService.getSystemInfo({});
  const [major, minor] = (system.serverVersion ?? '0.0').split('.').map(Number);
  const upgradesOnContinueAsNew = major > 1 || (major === 1 && minor >= 30);

  // Version 1: the ingestor's own workflow code.
  await startVersion(v1);
  expect(await makeCurrent(client, v1)).toMatchObject({ changed: true });
  expect(await makeCurrent(client, v1)).toEqual({ changed: false, previous: v1.buildId });

  const first = writeFiles('a', ['a1.log', 'a2.log', 'a3.log', 'a4.log']);
  const jobA = await host.create('fs', {
    directory: path.join(dir, 'a'),
    settle_delay_sec: 0,
    scanning_interval_sec: 0.5,
    buffer_config: { flush_threshold_bytes: 1_000_000, timeout_sec: 1 },
  });
  await eventually(
    async () => {
      await completeCompressionJobs(host.pool);
      return (await ingestedPaths(jobA)).length === first.length || null;
    },
    60_000,
    'job A ingested its first files on version 1',
  );
  expect((await runsOf(client, jobA)).map((r) => r.buildId)).toEqual([v1.buildId]);

  // Version 2 deployed beside it, then made current.
  await startVersion(v2, require.resolve('../upgrades/v2-workflows'));
  expect(await makeCurrent(client, v2)).toEqual({ changed: true, previous: v1.buildId });

  // A new job starts on version 2 and runs its changed command sequence.
  const onlyV2 = writeFiles('b', ['b1.log', 'b2.log']);
  const jobB = await host.create('fs', {
    directory: path.join(dir, 'b'),
    one_time: true,
    settle_delay_sec: 0,
    scanning_interval_sec: 0.5,
    buffer_config: { flush_threshold_bytes: 1_000_000, timeout_sec: 1 },
  });

  // Files written after the switch reach job A: on version 1 (pinned), or on
  // version 2 after its continue-as-new where the server offers that.
  const later = writeFiles('a', ['a5.log', 'a6.log', 'a7.log']);
  await eventually(
    async () => {
      await completeCompressionJobs(host.pool);
      const b = await host.store.requireJob(jobB);
      return (
        ((await ingestedPaths(jobA)).length === first.length + later.length && b.status === 'finished') ||
        null
      );
    },
    120_000,
    'job A ingested the later files and job B finished',
  );
  const runsB = await runsOf(client, jobB);
  expect(runsB.map((r) => r.buildId)).toEqual([v2.buildId]);
  expect(runsB[0].events).toContain(TIMER_STARTED);

  const runsA = await runsOf(client, jobA);
  if (upgradesOnContinueAsNew) {
    // The v1 run ended at a continue-as-new; the next one runs version 2's code.
    expect(runsA.map((r) => r.buildId).sort()).toEqual([v1.buildId, v2.buildId]);
    expect(runsA.find((r) => r.buildId === v2.buildId)?.events).toContain(TIMER_STARTED);
  } else {
    // The run stays on version 1, which still serves it: version 1 is draining, not drained.
    expect(runsA.map((r) => r.buildId)).toEqual([v1.buildId]);
    expect(await drainageStatus(client, v1)).toBe('DRAINING');
  }

  // Job A stops and finishes; then no run is left on version 1.
  await controlJob(host.store, client, jobA, 'stop');
  await eventually(
    async () => {
      await completeCompressionJobs(host.pool);
      return (await host.store.requireJob(jobA)).status === 'finished' || null;
    },
    120_000,
    'job A finished',
  );
  // The server refreshes drainage every matching.wv.VersionDrainageStatusRefreshInterval (temporal-config).
  await eventually(
    async () => (await drainageStatus(client, v1)) === 'DRAINED' || null,
    480_000,
    'v1 drained',
  );
  await running[0].close(); // version 1 retired

  // No run failed a workflow task (a nondeterminism error would): each ran the code it started on.
  for (const r of [...(await runsOf(client, jobA)), ...runsB])
    expect(r.failedTasks.filter((cause) => cause !== RACED_NEW_EVENT)).toEqual([]);
  // What pinning spared the job: its version-1 history does not replay on version 2's code.
  const v1Run = (await runsOf(client, jobA)).find((r) => r.buildId === v1.buildId)!;
  const v1History = await client.workflow.getHandle(workflowIdFor(jobA), v1Run.runId).fetchHistory();
  await expect(
    Worker.runReplayHistory({ workflowsPath: require.resolve('../upgrades/v2-workflows') }, v1History),
  ).rejects.toThrow(/[Nn]ondetermin/);
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows') }, v1History);

  expect(await ingestedPaths(jobA)).toEqual([...first, ...later].sort());
  expect(await ingestedPaths(jobB)).toEqual([...onlyV2].sort());
  for (const id of [jobA, jobB]) {
    const { counters, rows } = await countersAndRows(host.pool, id);
    expect(counters).toEqual(rows);
    expect(await host.store.requireJob(id)).toMatchObject({ status: 'finished', numFilesFailed: 0 });
  }
});

test('the first versioned build takes over an open job of an unversioned worker once it is current', async () => {
  const queue = uniqueName('upg0-tq');
  const { host: h0, disconnect: disconnect0 } = await connectJobHost(db, queue);
  try {
    const unversioned = await startVersion(undefined, undefined, queue);
    const before = writeFiles('c', ['c1.log', 'c2.log']);
    const jobC = await h0.create('fs', {
      directory: path.join(dir, 'c'),
      settle_delay_sec: 0,
      scanning_interval_sec: 0.5,
      buffer_config: { flush_threshold_bytes: 1_000_000, timeout_sec: 1 },
    });
    await eventually(
      async () => (await ingestedPaths(jobC)).length === before.length || null,
      60_000,
      'job C ingested its first files unversioned',
    );
    expect((await runsOf(h0.client, jobC)).map((r) => r.buildId)).toEqual([undefined]);

    // The same workflow code as a versioned build, made current; the unversioned worker retired.
    const first: DeploymentVersion = { deploymentName, buildId: `first-${tag}` };
    await startVersion(first, undefined, queue);
    expect(await makeCurrent(h0.client, first)).toMatchObject({ changed: true });
    await unversioned.close();

    const after = writeFiles('c', ['c3.log', 'c4.log']);
    await eventually(
      async () => (await ingestedPaths(jobC)).length === before.length + after.length || null,
      60_000,
      'job C ingested the later files on the versioned build',
    );
    const runs = await runsOf(h0.client, jobC);
    expect(runs.map((r) => r.buildId)).toEqual([first.buildId]);
    for (const r of runs) expect(r.failedTasks.filter((cause) => cause !== RACED_NEW_EVENT)).toEqual([]);
    await controlJob(h0.store, h0.client, jobC, 'stop');
    await eventually(
      async () => {
        await completeCompressionJobs(host.pool);
        return (await h0.store.requireJob(jobC)).status === 'finished' || null;
      },
      120_000,
      'job C finished',
    );
    expect(await ingestedPaths(jobC)).toEqual([...before, ...after].sort());
    const { counters, rows } = await countersAndRows(host.pool, jobC);
    expect(counters).toEqual(rows);
  } finally {
    await disconnect0();
  }
});
