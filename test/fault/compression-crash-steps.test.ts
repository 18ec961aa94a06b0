/**
 * The compression worker SIGKILLed at each step of a task (src/executor/task-steps.ts, the fault harness in test/support/fault-harness):
 * clp-s running, archives written to staging, archives placed, the task
 * registered. Whatever the step, no half archive is ever registered, a task's
 * archives are registered once or not at all, the ingestor resubmits only the
 * files of tasks that did not succeed, and every uploaded event is found by
 * search exactly once. Each crashed job is KILLED by the next worker (as CLP
 * kills every RUNNING job when it starts), never run twice.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { datasetTables } from '../../src/clp/metadata';
import { DirectoryArchiveStore, sweepUnregistered } from '../../src/executor/archive-store';
import { TASK_STEPS } from '../../src/executor/task-steps';
import { CompressionJobStatus, CompressionTaskStatus } from '../../src/store/tables';
import { s3ScannerConfig } from '../support/configs';
import { createTestBucket, jsonEvents } from '../support/stack';
import { eventually } from '../support/wait';
import {
  assertEventsOnce,
  assertExactlyOnce,
  EVENTS_PER_OBJECT,
  startRig,
  stopJob,
  upload,
  waitAllCompressed,
  type Rig,
} from './support';

jest.setTimeout(15 * 60_000);

/** Objects per job, and how many fill one task: each compression job is two tasks. */
const OBJECTS = 40;
const OBJECT_BYTES = Buffer.byteLength(jsonEvents('steps/step-name/0000.jsonl', EVENTS_PER_OBJECT));

let rig: Rig;
beforeAll(async () => {
  // Half the job's bytes fill a task: two tasks, so a crash after the first leaves one SUCCEEDED.
  rig = await startRig({ CLP_TARGET_ARCHIVE_SIZE: String(Math.floor((OBJECTS / 2) * OBJECT_BYTES) - 1) });
  await rig.executor.kill('SIGTERM');
});
afterAll(async () => {
  await rig?.close();
});

const tasksOf = async (compressionJobId: number) =>
  (
    await rig.pool.query<any[]>('SELECT id, status FROM compression_tasks WHERE job_id = ? ORDER BY id', [
      compressionJobId,
    ])
  )[0];

test.each(TASK_STEPS)(
  'SIGKILLed at "%s": nothing half-registered, every event found exactly once',
  async (step) => {
    const bucket = await createTestBucket(rig.s3);
    const dataset = `crash_${step.replace(/-/g, '_')}`;
    const keys = Array.from(
      { length: OBJECTS },
      (_, i) => `steps/${step}/${String(i).padStart(4, '0')}.jsonl`,
    );
    await upload(rig.s3, bucket, keys);
    const jobId = await rig.create(
      's3_scanner',
      s3ScannerConfig(bucket, `steps/${step}/`, { dataset, buffer_config: { timeout_sec: 1 } }),
    );
    await eventually(
      async () => (await rig.store.countFilesByStatus(jobId)).submitted === OBJECTS,
      60_000,
      'submitted',
    );

    // A worker that kills itself at this step of the first task it reaches.
    const crashing = rig.executor.derive(`${rig.executor.name}-crash-${step}`, {
      CLP_EXECUTOR_CRASH_AT: step,
    });
    crashing.start();
    await eventually(async () => !crashing.alive, 120_000, `worker killed at ${step}`);
    const [[cj]] = await rig.pool.query<any[]>(
      'SELECT id, status FROM compression_jobs WHERE id = (SELECT MIN(compression_job_id) FROM log_ingestor_ingested_files WHERE ingestion_job_id = ?)',
      [jobId],
    );
    expect(cj.status).toBe(CompressionJobStatus.RUNNING); // it died holding the job
    const tasks = await tasksOf(cj.id);
    const [registered] = await rig.pool.query<any[]>(`SELECT id FROM ${datasetTables(dataset).archives}`);
    const dir = path.join(rig.archivesDir, dataset);
    const onDisk = await readdir(dir).catch(() => [] as string[]);
    if (step === 'task-committed') {
      // The first task's archives are registered with its success, and in place.
      expect(tasks.map((t) => t.status)).toEqual([CompressionTaskStatus.SUCCEEDED]);
      expect(registered.length).toBeGreaterThan(0);
      expect(onDisk.sort()).toEqual(registered.map((r) => r.id).sort());
    } else {
      expect(tasks.map((t) => t.status)).toEqual([CompressionTaskStatus.RUNNING]);
      expect(registered).toEqual([]);
      // Only a crash after placing leaves an archive in place, and no table names it.
      expect(onDisk.length > 0).toBe(step === 'archives-placed');
    }

    // The next worker finds the job RUNNING with a dead lease: KILLED, never re-run; the ingestor
    // resubmits the files of the tasks that did not succeed.
    rig.executor.start();
    await waitAllCompressed(rig, jobId, OBJECTS);
    const [[after]] = await rig.pool.query<any[]>('SELECT status FROM compression_jobs WHERE id = ?', [
      cj.id,
    ]);
    expect(after.status).toBe(CompressionJobStatus.KILLED);
    await assertExactlyOnce(rig, jobId, bucket, keys);

    if (step === 'archives-placed') {
      // The leftover is never searched (only registered archives are) and is swept once stale.
      const leftovers = onDisk;
      const removed = await sweepUnregistered(rig.pool, new DirectoryArchiveStore(rig.archivesDir), 0);
      expect(removed.map((p) => path.basename(p)).sort()).toEqual(leftovers.sort());
      await assertEventsOnce(rig, dataset, keys);
    }
    await rig.executor.kill('SIGTERM');
    await stopJob(rig, jobId);
  },
);
