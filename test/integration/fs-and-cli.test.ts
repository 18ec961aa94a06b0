/** Local-directory jobs (settle delay, exactly once) and the CLI's create commands, on the real stack. */
import { appendFileSync, mkdtempSync, rmSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../src/aws';
import { decodeClpConfig } from '../../src/clp/clp-config';
import { buildCli, runCli } from '../support/cli';
import { compressionJobsOf } from '../support/stack';
import { startHarness, type Harness, stopAndFinish } from '../support/worker';
import { eventually, sleep } from '../support/wait';

let h: Harness;
let dir: string;
/** Completed directory scans by job id: a check that a scan found nothing needs scans to have happened. */
const scans = new Map<number, number>();

/** Waits until `n` more scans of the job have completed. */
async function moreScans(jobId: number, n: number): Promise<void> {
  const target = (scans.get(jobId) ?? 0) + n;
  await eventually(async () => (scans.get(jobId) ?? 0) >= target, 30_000, `${n} more scans`);
}

beforeAll(async () => {
  await buildCli();
  h = await startHarness({
    wrapActivities: (acts) => ({
      ...acts,
      scanFsDirectory: async (...args) => {
        const result = await acts.scanFsDirectory(...args);
        scans.set(args[0], (scans.get(args[0]) ?? 0) + 1);
        return result;
      },
    }),
  });
  dir = mkdtempSync(path.join(os.tmpdir(), 'clp-fs-'));
});

afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function settledFile(rel: string, body: string): string {
  const full = path.join(dir, rel);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, body);
  const past = new Date(Date.now() - 60_000);
  utimesSync(full, past, past);
  return full;
}

async function paths(jobId: number): Promise<string[]> {
  return (await h.store.listFiles(jobId, { limit: 1000 })).map((f) => f.path).sort();
}

test('a file still being appended is not ingested until it settles; each file is recorded once', async () => {
  const settled = [
    settledFile('a.log', 'one\n'),
    settledFile('nested/b.log', 'two\n'),
    settledFile('skip.txt', 'no\n'),
  ];
  const growing = path.join(dir, 'growing.log');
  writeFileSync(growing, 'start\n');
  // Appended to every 0.5 s from the start (it must not settle before the job's first scans, however slow).
  let appending = true;
  let appends = 0;
  const appender = (async () => {
    while (appending) {
      await sleep(500);
      appendFileSync(growing, `line ${appends++}\n`);
    }
  })();
  let jobId: number;
  try {
    jobId = await h.create('fs', {
      directory: dir,
      glob: '**/*.log',
      scanning_interval_sec: 0.5,
      settle_delay_sec: 2,
      buffer_config: { timeout_sec: 1 },
    });
    await eventually(
      async () => {
        const job = await h.store.requireJob(jobId);
        if (job.status === 'failed') throw new Error(`job failed: ${job.errorMsg}`);
        return (await paths(jobId)).length === 2;
      },
      30_000,
      'settled files',
    );
    expect(await paths(jobId)).toEqual(settled.slice(0, 2).sort());

    // Keep appending for a while (and over several scans): never settled, never ingested.
    const [scanTarget, appendTarget] = [(scans.get(jobId) ?? 0) + 3, appends + 8];
    await eventually(
      async () => appends >= appendTarget && (scans.get(jobId) ?? 0) >= scanTarget,
      30_000,
      'appends over several scans',
    );
    expect(await paths(jobId)).not.toContain(growing);
  } finally {
    appending = false;
    await appender;
  }
  // Once it stops changing it settles and is ingested, exactly once over later scans.
  await eventually(async () => (await paths(jobId)).includes(growing), 30_000, 'growing file settled');
  await moreScans(jobId, 4);
  expect(await paths(jobId)).toEqual([...settled.slice(0, 2), growing].sort());
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(3);

  // Compression jobs use CLP's fs input.
  await eventually(async () => (await h.store.countFilesByStatus(jobId)).buffered === 0, 30_000, 'submitted');
  const rows = await compressionJobsOf(h.pool, jobId);
  const inputs = await Promise.all(
    rows.map(async (r) => ((await decodeClpConfig(r.clp_config)) as any).input),
  );
  // As CLP's containers see them: under the mount root of CLP's package.
  const root = h.settings.clp.fsMountRoot;
  expect(root).toBe('/mnt/logs');
  expect(inputs.every((i) => i.type === 'fs' && i.path_prefix_to_remove === root + dir)).toBe(true);
  expect(inputs.flatMap((i) => i.paths_to_compress).sort()).toEqual(
    [...settled.slice(0, 2), growing].map((p) => root + p).sort(),
  );
  await stopAndFinish(h, jobId);
});

test('a missing directory fails the job with a clear message', async () => {
  const jobId = await h.create('fs', {
    directory: path.join(dir, 'does-not-exist'),
    scanning_interval_sec: 1,
  });
  await eventually(async () => (await h.store.requireJob(jobId)).status === 'failed', 30_000, 'failed');
  expect((await h.store.requireJob(jobId)).errorMsg).toMatch(/does-not-exist: ENOENT/);
});

describe('CLI', () => {
  const cli = (args: string[]) => runCli(h, args);

  test('create-fs and create-sqs-listener create jobs that run; errors are one line and a non-zero exit', async () => {
    const fsDir = mkdtempSync(path.join(os.tmpdir(), 'clp-cli-'));
    const created = await cli(['create-fs', '--directory', fsDir, '--settle-delay-sec', '0', '--json']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const fsJob = JSON.parse(created.stdout).id as number;
    await eventually(
      async () => (await h.store.requireJob(fsJob)).status === 'running',
      30_000,
      'fs job running',
    );

    const sqs = createSqsClient(h.settings.aws);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `cli-${Date.now()}` }));
    sqs.destroy();
    const configFile = path.join(fsDir, 'sqs.json');
    writeFileSync(
      configFile,
      JSON.stringify({ bucket_name: 'cli-bucket', key_prefix: 'p/', queue_url: QueueUrl }),
    );
    const sqsCreated = await cli(['create-sqs-listener', '--config', configFile, '--wait-time-sec', '1']);
    expect(sqsCreated.code).toBe(0);
    const sqsJob = Number(sqsCreated.stdout.trim());
    const row = await eventually(async () => {
      const j = await h.store.requireJob(sqsJob);
      return j.status === 'running' ? j : null;
    });
    expect(row.config.kind === 'sqs_listener' && row.config.config.wait_time_sec).toBe(1);

    const listed = await cli(['list', '--json']);
    expect(JSON.parse(listed.stdout).map((j: { id: number }) => j.id)).toEqual(
      expect.arrayContaining([fsJob, sqsJob]),
    );

    const bad = await cli([
      'create-sqs-listener',
      '--bucket',
      'cli-bucket',
      '--prefix',
      'p/',
      '--queue-url',
      'not a url',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/queue_url/);

    const conflict = await cli(['create-sqs-listener', '--config', configFile]);
    expect(conflict.code).toBe(4);
    expect(conflict.stderr).toMatch(/conflicts with active ingestion job/);

    const missing = await cli(['pause', '999999']);
    expect(missing.code).toBe(3);

    for (const id of [fsJob, sqsJob]) expect((await cli(['stop', String(id)])).code).toBe(0);
    await eventually(
      async () => (await h.store.requireJob(sqsJob)).status === 'finished',
      60_000,
      'sqs finished',
    );
    const again = await cli(['stop', String(sqsJob)]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/finished/);
    rmSync(fsDir, { recursive: true, force: true });
  });
});
