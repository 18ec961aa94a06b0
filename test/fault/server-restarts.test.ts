/**
 * The servers themselves crash: the Temporal dev server (persistent SQLite)
 * and MariaDB are each SIGKILLed mid-run and brought back by `stack.sh up`.
 * Activities retry while a server is away; no job is marked failed for it,
 * and the end state is the same as without the crash.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { s3ScannerConfig } from '../support/configs';
import { createTestBucket } from '../support/stack';
import { eventually, sleep } from '../support/wait';
import { expectExactlyOnceThenStop, progressMark, ROOT, serverPid, startRig, upload } from './support';

const run = promisify(execFile);
jest.setTimeout(20 * 60_000);

async function killServer(name: 'temporal' | 'mariadb'): Promise<void> {
  const pid = serverPid(name);
  process.kill(pid, 'SIGKILL');
  await eventually(
    async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    10_000,
    `${name} to die`,
  );
}

async function stackUp(): Promise<void> {
  await run('bash', [path.join(ROOT, 'scripts', 'stack.sh'), 'up'], { cwd: ROOT });
}

test('Temporal and MariaDB each killed and restarted mid-run: nothing lost, duplicated or failed', async () => {
  const rig = await startRig();
  try {
    const bucket = await createTestBucket(rig.s3);
    const keys = Array.from({ length: 1500 }, (_, i) => `srv/${String(i).padStart(5, '0')}.log`);
    await upload(rig.s3, bucket, keys.slice(0, 1000));
    const jobId = await rig.create(
      's3_scanner',
      s3ScannerConfig(bucket, 'srv/', {
        buffer_config: { flush_threshold_bytes: 64 * 1024, timeout_sec: 1 },
      }),
    );
    await eventually(async () => (await progressMark(rig.pool, jobId)) > 0, 60_000, 'first progress');

    for (const server of ['temporal', 'mariadb'] as const) {
      await killServer(server);
      // Work keeps arriving in S3 while the server is down.
      await upload(rig.s3, bucket, server === 'temporal' ? keys.slice(1000, 1250) : keys.slice(1250));
      await sleep(5_000);
      await stackUp(); // restarts only the server that is down
      const before = await progressMark(rig.pool, jobId);
      await eventually(
        async () => {
          rig.worker.ensureRunning(); // a supervisor restarts a worker that gave up
          rig.executor.ensureRunning();
          return (await progressMark(rig.pool, jobId)) > before;
        },
        120_000,
        `progress after ${server} restart`,
      );
      const job = await rig.store.requireJob(jobId);
      expect(job.status).toBe('running');
      expect(job.errorMsg).toBeNull();
    }

    await expectExactlyOnceThenStop(rig, jobId, bucket, keys);
  } finally {
    await stackUp();
    await rig.close();
  }
});
