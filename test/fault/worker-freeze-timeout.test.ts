/**
 * The worker SIGSTOPped for longer than the SDK's workflow isolate execution
 * timeout (5 s), many times, while jobs keep its workflow threads busy.
 * A freeze that catches a workflow thread inside an activation makes the vm
 * watchdog (which counts wall-clock time) terminate the activation at the
 * thaw. On Node 20 that killed the whole worker with "async hook stack has
 * become corrupted" (docs/fault-records.md has the cause); the worker must
 * instead survive every thaw, fail at most that workflow task, and the jobs
 * must end with every file once.
 */
import { s3ScannerConfig } from '../support/configs';
import { createTestBucket } from '../support/stack';
import { eventually, sleep } from '../support/wait';
import {
  assertExactlyOnce,
  progressMark,
  randomBetween,
  startRig,
  stopJob,
  upload,
  waitAllCompressed,
} from './support';

jest.setTimeout(20 * 60_000);

const FREEZES = Number(process.env.FAULT_FREEZES ?? 25);
/** Jobs running at once: more of them keep the workflow threads busier, so more freezes land in an activation. */
const JOBS = Number(process.env.FAULT_FREEZE_JOBS ?? 2);
/** Past the SDK's default isolateExecutionTimeout (5 s). */
const FREEZE_MS: [number, number] = [5_500, 7_000];

test(`the worker frozen ${FREEZES} times past the workflow execution timeout: it never exits, every file once`, async () => {
  const rig = await startRig();
  try {
    const bucket = await createTestBucket(rig.s3);
    const keys = Array.from({ length: JOBS }, () => [] as string[]);
    let batch = 0;
    const feed = async (n: number) => {
      const tag = String(batch++).padStart(3, '0');
      const more = keys.map((_, j) =>
        Array.from({ length: n }, (_, i) => `wf${j}/${tag}-${String(i).padStart(4, '0')}.log`),
      );
      await upload(rig.s3, bucket, more.flat());
      more.forEach((m, j) => keys[j].push(...m));
    };
    await feed(100);
    // Small flushes and a short timeout: many workflow activations, so freezes land inside them.
    const jobIds: number[] = [];
    for (let j = 0; j < JOBS; j++) {
      jobIds.push(
        await rig.create(
          's3_scanner',
          s3ScannerConfig(bucket, `wf${j}/`, {
            buffer_config: { flush_threshold_bytes: 8 * 1024, timeout_sec: 1 },
            dataset: `freeze_timeout_${j}`, // each job's events searched on their own
          }),
        ),
      );
    }
    const progress = async () => {
      let n = 0;
      for (const id of jobIds) n += await progressMark(rig.pool, id);
      return n;
    };
    await eventually(async () => (await progress()) > 0, 60_000, 'jobs started');
    for (let i = 0; i < FREEZES; i++) {
      await feed(20);
      await sleep(randomBetween(300, 1500));
      rig.worker.freeze();
      await sleep(randomBetween(...FREEZE_MS));
      rig.worker.thaw();
      const before = await progress();
      await eventually(
        async () => {
          // A supervisor's restart, so the run goes on and counts every death.
          rig.worker.ensureRunning();
          return (await progress()) > before;
        },
        90_000,
        `progress after thaw ${i + 1}`,
      );
    }
    const exits = rig.worker.exits;
    for (const [j, jobId] of jobIds.entries()) {
      await waitAllCompressed(rig, jobId, keys[j].length, 300_000);
      await assertExactlyOnce(rig, jobId, bucket, keys[j]);
      await stopJob(rig, jobId);
    }
    expect(exits).toBe(0);
  } finally {
    rig.worker.thaw();
    await rig.close();
  }
});
