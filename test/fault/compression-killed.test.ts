/**
 * CLP's compression cluster fails (its scheduler restarts and marks RUNNING
 * jobs KILLED) while the ingestor's worker is killed around the moment it
 * notices: the files go into a new compression job each time, none is lost
 * or submitted twice, and every attempt's id stays on record.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { CompressionJobStatus } from '../../src/store/schema';
import { s3ScannerConfig } from '../support/configs';
import { createTestBucket } from '../support/stack';
import { eventually, sleep } from '../support/wait';
import {
  assertExactlyOnce,
  randomBetween,
  startRig,
  stopJob,
  upload,
  waitAllCompressed,
  type Rig,
} from './support';

jest.setTimeout(10 * 60_000);
const KILLS = 4;

let rig: Rig;
beforeAll(async () => {
  rig = await startRig({ CLP_COMPRESSION_MAX_ATTEMPTS: String(KILLS + 1) });
  // CLP's scheduler is played by this test until the end.
  await rig.executor.kill('SIGTERM');
});
afterAll(() => rig?.close());

/** The compression job the job's files are on now (all in one flush here). */
async function currentCompressionJob(jobId: number): Promise<number | null> {
  const [rows] = await rig.pool.query<RowDataPacket[]>(
    `SELECT DISTINCT compression_job_id AS id FROM log_ingestor_ingested_files WHERE ingestion_job_id = ?`,
    [jobId],
  );
  return rows.length === 1 && rows[0].id !== null ? Number(rows[0].id) : null;
}

test(`a compression job KILLED ${KILLS} times, with the worker SIGKILLed around each resubmission, ends compressed once`, async () => {
  const bucket = await createTestBucket(rig.s3);
  const keys = Array.from({ length: 300 }, (_, i) => `killed/${String(i).padStart(4, '0')}.log`);
  await upload(rig.s3, bucket, keys);
  const jobId = await rig.create(
    's3_scanner',
    s3ScannerConfig(bucket, 'killed/', { buffer_config: { timeout_sec: 2 } }),
  );
  let current = await eventually(
    async () => {
      const counts = await rig.store.countFilesByStatus(jobId);
      return counts.submitted === keys.length ? currentCompressionJob(jobId) : null;
    },
    60_000,
    'all files submitted',
  );
  const trail = [current];

  for (let kill = 0; kill < KILLS; kill++) {
    if (kill === 0) {
      // The worker is down when CLP kills the job: the restarted worker resubmits.
      await rig.worker.kill('SIGKILL');
      await rig.pool.query('UPDATE compression_jobs SET status = ? WHERE id = ?', [
        CompressionJobStatus.KILLED,
        current,
      ]);
      rig.worker.start();
    } else {
      // The worker dies at some moment before, during or after it resubmits.
      await rig.pool.query('UPDATE compression_jobs SET status = ? WHERE id = ?', [
        CompressionJobStatus.KILLED,
        current,
      ]);
      await sleep(randomBetween(0, 2_500));
      await rig.worker.kill('SIGKILL');
      rig.worker.start();
    }
    const previous = current;
    current = await eventually(
      async () => {
        const now = await currentCompressionJob(jobId);
        return now !== null && now !== previous ? now : null;
      },
      90_000,
      `resubmission ${kill + 1}`,
    );
    trail.push(current);
  }

  // CLP's cluster is healthy again.
  rig.executor.start();
  await waitAllCompressed(rig, jobId, keys.length);
  await assertExactlyOnce(rig, jobId, bucket, keys);
  const files = await rig.store.listFiles(jobId, { limit: 1000 });
  expect(new Set(files.map((f) => JSON.stringify(f.compressionJobIds)))).toEqual(
    new Set([JSON.stringify(trail)]),
  );
  const [statuses] = await rig.pool.query<RowDataPacket[]>(
    'SELECT id, status FROM compression_jobs ORDER BY id',
  );
  expect(statuses.map((r) => [Number(r.id), r.status])).toEqual(
    trail.map((id, i) => [id, i < KILLS ? CompressionJobStatus.KILLED : CompressionJobStatus.SUCCEEDED]),
  );
  await stopJob(rig, jobId);
});
