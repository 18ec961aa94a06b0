/**
 * Crash loops while data flows (the replay seeds' test): processes are
 * SIGKILLed at random moments, FAULT_CYCLES times (default 15), and restarted.
 * Every cycle must recover within RECOVERY_BOUND_MS; at the end every object
 * is recorded exactly once and compressed, and compression jobs partition it.
 */
import { createSqsClient } from '../../src/aws';
import { s3ScannerConfig } from '../support/configs';
import { newQueue, notification, sendAll } from '../support/sqs';
import { createTestBucket } from '../support/stack';
import { eventually, sleep } from '../support/wait';
import {
  assertExactlyOnce,
  CYCLES,
  expectExactlyOnceThenStop,
  type Proc,
  progressMark,
  randomBetween,
  report,
  type Rig,
  startRig,
  stopJob,
  upload,
  waitAllCompressed,
} from './support';

/** Worst case: an activity lost with its worker is retried after its 30 s timeout. */
// Late keys sort after every earlier key: the S3 scanner, like CLP's, resumes
// after the last ingested key, so objects must arrive in key order (as
// timestamped log keys do) to be seen.
const RECOVERY_BOUND_MS = 60_000;
const INITIAL_OBJECTS = Number(process.env.FAULT_OBJECTS ?? 2000);
const PER_CYCLE = 40;

jest.setTimeout(30 * 60_000);

/**
 * Kills `victim` CYCLES times while `feed()` adds work; after each restart
 * waits until the job makes progress again and records how long that took.
 */
async function crashLoop(
  rig: Rig,
  victim: Proc,
  jobId: number,
  feed: (cycle: number) => Promise<void>,
  mark: () => Promise<number> = () => progressMark(rig.pool, jobId),
) {
  const recoveries: number[] = [];
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    await sleep(randomBetween(500, 3000));
    await victim.kill('SIGKILL');
    await feed(cycle); // new work arrives while the victim is down
    const before = await mark();
    const restarted = Date.now();
    victim.start();
    await eventually(
      async () => {
        rig.worker.ensureRunning();
        rig.executor.ensureRunning();
        return (await mark()) > before;
      },
      RECOVERY_BOUND_MS,
      `progress after restart ${cycle + 1} of ${victim.name}`,
    );
    recoveries.push(Date.now() - restarted);
  }
  return recoveries;
}

test(`S3 scanner: the worker is SIGKILLed ${CYCLES} times while objects are uploaded and compressed`, async () => {
  const rig = await startRig();
  try {
    const bucket = await createTestBucket(rig.s3);
    const keys = Array.from({ length: INITIAL_OBJECTS }, (_, i) => `crash/${String(i).padStart(6, '0')}.log`);
    await upload(rig.s3, bucket, keys);
    const jobId = await rig.create(
      's3_scanner',
      s3ScannerConfig(bucket, 'crash/', {
        buffer_config: { flush_threshold_bytes: 256 * 1024, timeout_sec: 2 },
      }),
    );
    const recoveries = await crashLoop(rig, rig.worker, jobId, async (cycle) => {
      const more = Array.from(
        { length: PER_CYCLE },
        (_, i) => `crash/late-${String(cycle).padStart(3, '0')}-${String(i).padStart(3, '0')}.log`,
      );
      await upload(rig.s3, bucket, more);
      keys.push(...more);
    });
    await expectExactlyOnceThenStop(rig, jobId, bucket, keys);
    const r = report('s3-scanner-worker-crash-loop', recoveries, keys.length);
    expect(r.maxMs).toBeLessThan(RECOVERY_BOUND_MS);
  } finally {
    await rig.close();
  }
});

test(`one-time URL list: the worker is SIGKILLed up to ${CYCLES} times mid-way; every file once, the job finishes`, async () => {
  const rig = await startRig();
  try {
    const bucket = await createTestBucket(rig.s3);
    const keys = Array.from({ length: INITIAL_OBJECTS }, (_, i) => `list/${String(i).padStart(6, '0')}.log`);
    await upload(rig.s3, bucket, keys);
    const jobId = await rig.create('s3_object_list', {
      urls: keys.map((k) => `s3://${bucket}/${k}`),
      buffer_config: { flush_threshold_bytes: 16 * 1024, timeout_sec: 2 },
    });
    const finished = async () => {
      const job = await rig.store.requireJob(jobId);
      if (job.status === 'failed') throw new Error(`job failed: ${job.errorMsg}`);
      return job.status === 'finished';
    };
    // Killed at random moments while it records the list, flushes and awaits compression;
    // no new work arrives (the list is fixed), so the loop ends early once the job is done.
    const recoveries: number[] = [];
    for (let cycle = 0; cycle < CYCLES && !(await finished()); cycle++) {
      await sleep(randomBetween(500, 3000));
      await rig.worker.kill('SIGKILL');
      const before = await progressMark(rig.pool, jobId);
      const restarted = Date.now();
      rig.worker.start();
      await eventually(
        async () => {
          rig.worker.ensureRunning();
          rig.executor.ensureRunning();
          return (await progressMark(rig.pool, jobId)) > before || (await finished());
        },
        RECOVERY_BOUND_MS,
        `progress after restart ${cycle + 1}`,
      );
      recoveries.push(Date.now() - restarted);
    }
    expect(recoveries.length).toBeGreaterThan(0); // killed mid-way at least once
    await waitAllCompressed(rig, jobId, keys.length);
    // Finished on its own: no stop was sent.
    await eventually(finished, 120_000, 'job finished');
    await assertExactlyOnce(rig, jobId, bucket, keys);
    const r = report('one-time-object-list-worker-crash-loop', recoveries, keys.length);
    expect(r.maxMs).toBeLessThan(RECOVERY_BOUND_MS);
  } finally {
    await rig.close();
  }
});

test(`SQS listener: the worker dies ${CYCLES} times, often between commit and delete`, async () => {
  const rig = await startRig({
    // Every 4th batch a worker commits, it dies before deleting the batch's messages.
    CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE: '4',
    CLP_SQS_VISIBILITY_TIMEOUT_SEC: '5',
  });
  const sqs = createSqsClient(rig.settings.aws);
  try {
    const bucket = 'fault-sqs-bucket';
    const QueueUrl = await newQueue(sqs);
    const keys: string[] = [];
    const send = async (batch: string[]) => {
      await sendAll(
        sqs,
        QueueUrl,
        batch.map((key) => notification(bucket, key)),
      );
      keys.push(...batch);
    };
    await send(Array.from({ length: 300 }, (_, i) => `q/initial-${String(i).padStart(4, '0')}.log`));
    const jobId = await rig.create('sqs_listener', {
      bucket_name: bucket,
      key_prefix: 'q/',
      queue_url: QueueUrl,
      wait_time_sec: 1,
      num_concurrent_listener_tasks: 4,
      buffer_config: { flush_threshold_bytes: 8 * 1024, timeout_sec: 2 },
    });
    // A death between commit and delete is certain, not left to the loop's timing (its kills
    // come 0.5-3 s after each recovery, often before a fourth batch on a loaded machine): the
    // first worker is left alone with the 300 waiting messages until its fourth batch kills it.
    await eventually(
      async () => rig.worker.exits >= 1,
      RECOVERY_BOUND_MS,
      'the first worker killing itself between commit and delete',
    );
    rig.worker.ensureRunning();
    // The executor cannot fetch these objects (there are none): compression jobs
    // fail, which is still a terminal fate for every file; count those instead.
    const recoveries = await crashLoop(rig, rig.worker, jobId, (cycle) =>
      send(Array.from({ length: PER_CYCLE }, (_, i) => `q/late-${cycle}-${String(i).padStart(3, '0')}.log`)),
    );
    // Deaths between commit and delete: the exits beyond the loop's own kills.
    const exits = rig.worker.exits;
    // The drain: a worker that no longer kills itself (it would die every fourth batch for as long as
    // redelivered messages come, and the drain would take minutes).
    rig.worker.setEnv({ CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE: '0' });
    await rig.worker.kill('SIGKILL');
    rig.worker.ensureRunning();
    await eventually(
      async () => {
        rig.worker.ensureRunning();
        const job = await rig.store.requireJob(jobId);
        return job.numFilesCompressed + job.numFilesFailed === keys.length;
      },
      240_000,
      'every message recorded and every file given its fate',
    );
    const [rows] = await rig.pool.query<any[]>(
      'SELECT path FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY path',
      [jobId],
    );
    expect(rows.map((r) => r.path)).toEqual(keys.map((k) => `${bucket}/${k}`).sort());
    const job = await rig.store.requireJob(jobId);
    expect(job.numFilesIngested).toBe(keys.length);
    expect(exits).toBeGreaterThan(CYCLES); // it also died between commit and delete
    await stopJob(rig, jobId);
    report('sqs-listener-worker-crash-loop', recoveries, keys.length);
  } finally {
    sqs.destroy();
    await rig.close();
  }
});

test(`executor: SIGKILLed ${CYCLES} times mid-compression; every file still ends compressed once`, async () => {
  const rig = await startRig();
  try {
    const bucket = await createTestBucket(rig.s3);
    const keys = Array.from({ length: 600 }, (_, i) => `exec/${String(i).padStart(5, '0')}.log`);
    await upload(rig.s3, bucket, keys);
    const jobId = await rig.create(
      's3_scanner',
      s3ScannerConfig(bucket, 'exec/', {
        buffer_config: { flush_threshold_bytes: 16 * 1024, timeout_sec: 1 },
      }),
    );
    // Progress here is the executor's: compression jobs reaching SUCCEEDED.
    const succeeded = async () => {
      const [[r]] = await rig.pool.query<any[]>(
        'SELECT COUNT(*) AS n FROM compression_jobs WHERE status = 2',
      );
      return Number(r.n);
    };
    const recoveries = await crashLoop(
      rig,
      rig.executor,
      jobId,
      async (cycle) => {
        const more = Array.from(
          { length: PER_CYCLE },
          (_, i) => `exec/late-${String(cycle).padStart(3, '0')}-${String(i).padStart(3, '0')}.log`,
        );
        await upload(rig.s3, bucket, more);
        keys.push(...more);
      },
      succeeded,
    );
    await expectExactlyOnceThenStop(rig, jobId, bucket, keys);
    report('executor-crash-loop', recoveries, keys.length);
  } finally {
    await rig.close();
  }
});
