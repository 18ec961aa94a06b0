/**
 * Freezes, not kills: MariaDB, Temporal and MinIO are each SIGSTOPped for a
 * while and then SIGCONTed, and one of two workers sharing the task queue is
 * frozen long past its activities' heartbeat timeouts, so the other worker
 * takes its work over and the frozen one wakes as a zombie that finishes
 * stale calls. An S3-scanner job and an SQS-listener job (its queue's
 * visibility timeout shorter than the database freeze) run throughout, with
 * the executor (CLP's clp-s). At the end every file is recorded once and
 * compressed once, and every uploaded log event is found exactly once by
 * searching the job's dataset.
 */
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../src/aws';
import { notification, sendAll } from '../support/sqs';
import { s3ScannerConfig } from '../support/configs';
import { createTestBucket, jsonEvents } from '../support/stack';
import { eventually, sleep } from '../support/wait';
import {
  assertExactlyOnce,
  EVENTS_PER_OBJECT,
  progressMark,
  randomBetween,
  report,
  serverPid,
  startRig,
  stopJob,
  upload,
  waitAllCompressed,
} from './support';

jest.setTimeout(30 * 60_000);

const VISIBILITY_TIMEOUT_SEC = 6;
/** How long each freeze lasts (ms): servers as the operator tried (5-45 s, shortened), a worker past its timeouts. */
const SERVER_FREEZE_MS: [number, number] = [8_000, 20_000];
const WORKER_FREEZE_MS: [number, number] = [35_000, 50_000];
/** After a thaw, each job must move again within this. */
const RECOVERY_BOUND_MS = 90_000;

const body = (key: string) => jsonEvents(key, EVENTS_PER_OBJECT);

/** Freezes a stack server; the returned function thaws it (idempotent, also called on failure). */
function freezeServer(name: 'mariadb' | 'temporal' | 'minio'): () => void {
  const pid = serverPid(name);
  process.kill(pid, 'SIGSTOP');
  let thawed = false;
  return () => {
    if (thawed) return;
    thawed = true;
    process.kill(pid, 'SIGCONT');
  };
}

test('MariaDB, Temporal, MinIO and one of two workers frozen and thawed: nothing lost, duplicated or failed', async () => {
  const rig = await startRig({ CLP_SQS_VISIBILITY_TIMEOUT_SEC: String(VISIBILITY_TIMEOUT_SEC) });
  const second = rig.addWorker('worker-b');
  const sqs = createSqsClient(rig.settings.aws);
  const thaws: (() => void)[] = [];
  try {
    const bucket = await createTestBucket(rig.s3);
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: `freeze-${Date.now()}`,
        Attributes: { VisibilityTimeout: String(VISIBILITY_TIMEOUT_SEC) },
      }),
    );
    const scanKeys: string[] = [];
    const sqsKeys: string[] = [];
    let batch = 0;
    // New objects for both jobs; scanner keys sort after the earlier ones (the cursor's order).
    const feed = async (n: number) => {
      const tag = String(batch++).padStart(3, '0');
      const scan = Array.from({ length: n }, (_, i) => `scan/${tag}-${String(i).padStart(4, '0')}.log`);
      const queued = Array.from({ length: n }, (_, i) => `sqs/${tag}-${String(i).padStart(4, '0')}.log`);
      await upload(rig.s3, bucket, [...scan, ...queued]);
      await sendAll(
        sqs,
        QueueUrl!,
        queued.map((key) => notification(bucket, key, { size: Buffer.byteLength(body(key)) })),
      );
      scanKeys.push(...scan);
      sqsKeys.push(...queued);
    };
    await feed(400);
    const buffer = { flush_threshold_bytes: 64 * 1024, timeout_sec: 2 };
    const scanJob = await rig.create(
      's3_scanner',
      s3ScannerConfig(bucket, 'scan/', { buffer_config: buffer, dataset: 'freeze_scan' }),
    );
    const sqsJob = await rig.create('sqs_listener', {
      bucket_name: bucket,
      key_prefix: 'sqs/',
      dataset: 'freeze_sqs',
      queue_url: QueueUrl,
      wait_time_sec: 1,
      num_concurrent_listener_tasks: 2,
      buffer_config: buffer,
    });
    for (const jobId of [scanJob, sqsJob]) {
      await eventually(async () => (await progressMark(rig.pool, jobId)) > 0, 60_000, `job ${jobId} started`);
    }

    const jobs = [scanJob, sqsJob];
    const marks = () => Promise.all(jobs.map((id) => progressMark(rig.pool, id)));
    // Supervised as in production (systemd, stack.sh app-up): a process that exits is started
    // again, so the run goes on to its end state. This test freezes processes, it kills none,
    // so any exit is a failure: a worker once died inside Node with "async hook stack has
    // become corrupted" at a thaw (src/runtime.ts, docs/fault-records.md).
    const processes = [rig.worker, second, rig.executor];
    const supervise = () => processes.forEach((p) => p.ensureRunning());
    const bothMoved = async (before: number[], what: string) => {
      const since = Date.now();
      for (const [i, jobId] of jobs.entries()) {
        await eventually(
          async () => {
            supervise();
            return (await progressMark(rig.pool, jobId)) > before[i];
          },
          RECOVERY_BOUND_MS,
          `job ${jobId} moving ${what}`,
        );
      }
      return Date.now() - since;
    };
    const recoveries: number[] = [];
    // A frozen server: nothing can move until it thaws; then both jobs must move again.
    for (const server of ['mariadb', 'temporal', 'minio'] as const) {
      await feed(60); // work in flight when the freeze comes
      await sleep(randomBetween(200, 1500));
      const thaw = freezeServer(server);
      thaws.push(thaw);
      await sleep(randomBetween(...SERVER_FREEZE_MS));
      thaw();
      const before = await marks();
      await feed(40); // and work that arrives after the thaw
      recoveries.push(await bothMoved(before, `after ${server} thawed`));
    }
    // A frozen worker: the other one must take its work over while it is still frozen;
    // thawed, it finishes its stale calls as a zombie.
    for (const victim of [rig.worker, second]) {
      await feed(60);
      await sleep(randomBetween(200, 1500));
      const frozenAt = Date.now();
      const before = await marks();
      victim.freeze();
      thaws.push(() => victim.thaw());
      await feed(40);
      recoveries.push(await bothMoved(before, `while ${victim.name} is frozen`));
      await sleep(Math.max(0, frozenAt + randomBetween(...WORKER_FREEZE_MS) - Date.now()));
      victim.thaw();
      const thawed = await marks();
      await feed(40);
      await bothMoved(thawed, `after ${victim.name} thawed`);
    }

    await waitAllCompressed(rig, scanJob, scanKeys.length, 300_000);
    await waitAllCompressed(rig, sqsJob, sqsKeys.length, 300_000);
    for (const jobId of [scanJob, sqsJob]) {
      const job = await rig.store.requireJob(jobId);
      expect(job.status).toBe('running');
      expect(job.errorMsg).toBeNull();
    }
    await assertExactlyOnce(rig, scanJob, bucket, scanKeys);
    await assertExactlyOnce(rig, sqsJob, bucket, sqsKeys);
    await stopJob(rig, scanJob);
    await stopJob(rig, sqsJob);
    report('freezes', recoveries, scanKeys.length + sqsKeys.length);
    // Exits nobody caused, by process (their logs are under the stack's logs/fault/).
    expect(Object.fromEntries(processes.map((p) => [p.name, p.exits]))).toEqual(
      Object.fromEntries(processes.map((p) => [p.name, 0])),
    );
  } finally {
    for (const thaw of thaws) thaw();
    sqs.destroy();
    await rig.close();
  }
});
