/**
 * The soak (run by scripts/soak.sh, `npm run soak -- --minutes 60`; not part
 * of the jest suite: its name does not end in .test.ts). S3-scanner,
 * SQS-listener and fs jobs ingest what a feeder adds at a steady rate while a
 * random fault hits one process every --fault-every seconds: a SIGKILL or a
 * SIGSTOP/SIGCONT of the worker, the executor, the Temporal dev server,
 * MariaDB, MinIO or goaws. Killed processes come back as their supervisor
 * (the apps) or an operator running `stack.sh up` (the servers) would bring
 * them back. Worker and executor RSS and the DB's size are sampled every
 * minute. At the end the feeder stops, every job drains, and the
 * exactly-once end-state checks run; a failed check fails the run.
 *
 * It kills the stack's servers: run it only on a stack of its own
 * (CLP_INGESTOR_ENV_FILE and CLP_INGESTOR_STACK_DIR naming it).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetQueueUrlCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../src/aws';
import { s3ScannerConfig } from '../support/configs';
import { notification } from '../support/sqs';
import { createTestBucket, jsonEvents } from '../support/stack';
import { eventually, sleep } from '../support/wait';
import { assertExactlyOnce, EVENTS_PER_OBJECT, ROOT, type Proc, startRig, stopJob } from '../fault/support';
import {
  countByKind,
  drawFault,
  type Fault,
  type Marks,
  parseSoakArgs,
  progressedSince,
  seededRandom,
  series,
  stats,
  type Target,
} from './plan';

const run = promisify(execFile);
const opts = parseSoakArgs((process.env.SOAK_ARGS ?? '').split(/\s+/).filter(Boolean), {
  minutes: 60,
  faultEverySec: 120,
  seed: Date.now() % 1_000_000,
  ratePerSec: 2,
});
const STACK_DIR = process.env.CLP_INGESTOR_STACK_DIR ?? '';
const RESULT_FILE = process.env.SOAK_RESULT ?? path.join(STACK_DIR, 'soak-result.json');
/** Freezes last "a while": long enough to pass heartbeat and lease timeouts now and then. */
const FREEZE_MS: [number, number] = [5_000, Math.min(45_000, opts.faultEverySec * 500)];
/** A supervisor restarts an app after a second (stack.sh's first backoff); an operator a server after a few. */
const APP_RESTART_DELAY_MS = 1_000;
const SERVER_RESTART_DELAY_MS = 5_000;
const RECOVERY_GIVE_UP_MS = 10 * 60_000;
const SAMPLE_EVERY_MS = 60_000;
const DRAIN_TIMEOUT_MS = 25 * 60_000;
const QUEUE_NAME = 'clp-ingestor-events'; // declared in goaws's config: a restarted goaws has it again

jest.setTimeout((opts.minutes + 60) * 60_000);

const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} soak: ${msg}\n`);

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function serverPidFile(name: string): number {
  return Number(readFileSync(path.join(STACK_DIR, 'run', `${name}.pid`), 'utf8'));
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function stackUp(): Promise<void> {
  await run('bash', [path.join(ROOT, 'scripts', 'stack.sh'), 'up'], { cwd: ROOT });
}

function rssKb(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** One source's feeder: names items in order, retries each until it is in (a server may be away). */
class Feeder {
  readonly done: string[] = [];
  private seq = 0;
  stopped = false;
  constructor(
    readonly name: string,
    private readonly put: (item: string) => Promise<void>,
  ) {}

  async run(ratePerSec: number): Promise<void> {
    const gap = 1000 / ratePerSec;
    let next = Date.now();
    while (!this.stopped) {
      // Zero-padded and increasing: the S3 scanner resumes after the last key it recorded.
      const item = `${this.name}-${String(this.seq).padStart(7, '0')}.log`;
      for (let attempt = 0; ; attempt++) {
        try {
          await withTimeout(this.put(item), 10_000, `${this.name} feed`);
          break;
        } catch {
          await sleep(Math.min(5_000, 250 * 2 ** attempt));
        }
      }
      this.done.push(item);
      this.seq += 1;
      next += gap;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else next = Date.now(); // fell behind during a fault: carry on at the rate, no burst
    }
  }
}

interface FaultRecord extends Fault {
  startedAt: string;
  /** Fault start to restart/thaw done. */
  downMs: number;
  /** Fault start to every job recording and some file compressed again (null: gave up). */
  recoveryMs: number | null;
  /** Restart/thaw done to the same. */
  afterRestartMs: number | null;
  note?: string;
}

interface Sample {
  at: string;
  minute: number;
  workerRssKb?: number;
  executorRssKb?: number;
  dbBytes?: number;
  dbFileBytes?: number;
  files: number;
}

test(`soak: ${opts.minutes} min, a fault every ${opts.faultEverySec} s, seed ${opts.seed}`, async () => {
  if (!STACK_DIR || STACK_DIR.startsWith('/work/main')) {
    throw new Error('soak: set CLP_INGESTOR_STACK_DIR to a stack of its own (the soak kills its servers)');
  }
  log(`options ${JSON.stringify(opts)}, freezes ${FREEZE_MS.join('-')} ms, stack ${STACK_DIR}`);
  const random = seededRandom(opts.seed);
  const rig = await startRig();
  const sqs: SQSClient = createSqsClient(rig.settings.aws);
  const s3: S3Client = rig.s3;
  const started = Date.now();
  const faults: FaultRecord[] = [];
  const samples: Sample[] = [];
  const kills = { worker: 0, executor: 0 };
  let supervising = true;
  let sampling = true;
  const held = new Set<Proc>(); // killed on purpose, restarted by the fault itself
  const frozen = new Map<string, () => void>();
  try {
    const bucket = await createTestBucket(s3);
    const fsDir = path.join(os.tmpdir(), `soak-fs-${rig.taskQueue}`);
    const fsStaging = `${fsDir}.staging`;
    mkdirSync(fsDir, { recursive: true });
    mkdirSync(fsStaging, { recursive: true });
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: QUEUE_NAME }));
    const body = (item: string) => jsonEvents(item, EVENTS_PER_OBJECT);

    const s3Feed = new Feeder('scan', async (item) => {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: `scan/${item}`, Body: body(`scan/${item}`) }),
      );
    });
    const sqsSent = new Set<string>();
    const sendNotifications = async (keys: string[]) => {
      for (let i = 0; i < keys.length; i += 10) {
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl,
            Entries: keys
              .slice(i, i + 10)
              .map((k, j) => ({ Id: String(j), MessageBody: notification(bucket, k) })),
          }),
        );
      }
    };
    const sqsFeed = new Feeder('sqs', async (item) => {
      const key = `sqs/${item}`;
      if (!sqsSent.has(key)) {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body(key) }));
        sqsSent.add(key);
      }
      await sendNotifications([key]);
    });
    const fsFeed = new Feeder('fs', async (item) => {
      // Written beside the directory, then renamed in: the job never sees half a file.
      writeFileSync(path.join(fsStaging, item), body(item));
      renameSync(path.join(fsStaging, item), path.join(fsDir, item));
    });

    const buffer = { flush_threshold_bytes: 256 * 1024, timeout_sec: 3 };
    const jobs = {
      scan: await rig.create(
        's3_scanner',
        s3ScannerConfig(bucket, 'scan/', { buffer_config: buffer, dataset: 'soak_scan' }),
      ),
      sqs: await rig.create('sqs_listener', {
        bucket_name: bucket,
        key_prefix: 'sqs/',
        queue_url: QueueUrl,
        wait_time_sec: 2,
        buffer_config: buffer,
        dataset: 'soak_sqs',
      }),
      fs: await rig.create('fs', {
        directory: fsDir,
        glob: '*.log',
        scanning_interval_sec: 2,
        settle_delay_sec: 1,
        buffer_config: buffer,
        dataset: 'soak_fs',
      }),
    };
    log(`jobs ${JSON.stringify(jobs)}, bucket ${bucket}, fs ${fsDir}, queue ${QueueUrl}`);

    const q = async <T>(sql: string, params: unknown[] = []): Promise<T> =>
      (await rig.pool.query({ sql, timeout: 5_000 }, params))[0] as T;
    const marks = async (): Promise<Marks> => {
      const rows = await q<any[]>(
        'SELECT id, num_files_ingested, num_files_compressed FROM log_ingestor_ingestion_jobs WHERE id IN (?)',
        [Object.values(jobs)],
      );
      const ingested: Record<string, number> = {};
      let compressed = 0;
      for (const r of rows) {
        ingested[String(r.id)] = Number(r.num_files_ingested);
        compressed += Number(r.num_files_compressed);
      }
      return { ingested, compressed };
    };

    // The supervisor: an app that died (not by the fault in progress) starts again.
    const supervisor = (async () => {
      while (supervising) {
        for (const p of [rig.worker, rig.executor]) if (!held.has(p)) p.ensureRunning();
        await sleep(1_000);
      }
    })();

    const dbName = rig.settings.db.database;
    const sample = async () => {
      const s: Sample = {
        at: new Date().toISOString(),
        minute: Math.round((Date.now() - started) / 60_000),
        workerRssKb: rssKb(rig.worker.pid),
        executorRssKb: rssKb(rig.executor.pid),
        files: s3Feed.done.length + sqsFeed.done.length + fsFeed.done.length,
      };
      try {
        const [r] = await q<any[]>(
          'SELECT SUM(data_length + index_length) AS n FROM information_schema.TABLES WHERE table_schema = ?',
          [dbName],
        );
        s.dbBytes = Number(r.n);
      } catch {
        // MariaDB away (a fault): this minute has no figure
      }
      try {
        const dir = path.join(STACK_DIR, 'mariadb', 'data', dbName);
        s.dbFileBytes = readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
      } catch {
        // not a directory this stack names so
      }
      samples.push(s);
      log(`sample ${JSON.stringify(s)}`);
    };
    const sampler = (async () => {
      while (sampling) {
        await sample();
        const until = Date.now() + SAMPLE_EVERY_MS;
        while (sampling && Date.now() < until) await sleep(500);
      }
    })();

    const feeding = [s3Feed, sqsFeed, fsFeed].map((f) => f.run(opts.ratePerSec));
    await eventually(
      async () => Object.values((await marks()).ingested).every((n) => n > 0),
      120_000,
      'every job recording files',
    );

    const procOf = (t: Target): Proc | undefined =>
      t === 'worker' ? rig.worker : t === 'executor' ? rig.executor : undefined;

    const inject = async (f: Fault): Promise<string | undefined> => {
      const proc = procOf(f.target);
      if (f.kind === 'kill') {
        if (proc) {
          held.add(proc);
          await proc.kill('SIGKILL');
          kills[f.target as 'worker' | 'executor'] += 1;
          await sleep(APP_RESTART_DELAY_MS);
          proc.start();
          held.delete(proc);
          return;
        }
        const pid = serverPidFile(f.target);
        process.kill(pid, 'SIGKILL');
        await eventually(async () => !isAlive(pid), 30_000, `${f.target} to die`);
        await sleep(SERVER_RESTART_DELAY_MS);
        await stackUp(); // starts only what is down, as an operator would
        if (f.target === 'goaws') {
          // goaws keeps messages in memory (real SQS does not lose them): the operator sends
          // again every notification whose file is not recorded yet; the job must take a
          // notification it already had as a duplicate.
          const rows = await q<any[]>(
            'SELECT path FROM log_ingestor_ingested_files WHERE ingestion_job_id = ?',
            [jobs.sqs],
          );
          const have = new Set(rows.map((r) => r.path as string));
          const missing = [...sqsSent].filter((k) => !have.has(`${bucket}/${k}`));
          await sendNotifications(missing);
          return `${missing.length} notifications sent again`;
        }
        return;
      }
      const pid = proc ? proc.pid : serverPidFile(f.target);
      if (!pid) return 'no process to freeze';
      process.kill(pid, 'SIGSTOP');
      const thaw = () => {
        frozen.delete(f.target);
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone meanwhile
        }
      };
      frozen.set(f.target, thaw);
      await sleep(f.freezeMs);
      thaw();
      return;
    };

    const endFeedAt = started + opts.minutes * 60_000;
    let nextAt = Date.now() + opts.faultEverySec * 1000;
    for (let cycle = 1; ; cycle++) {
      while (Date.now() < nextAt && Date.now() < endFeedAt) await sleep(500);
      if (Date.now() >= endFeedAt) break;
      const f = drawFault(random, cycle, FREEZE_MS);
      const t0 = Date.now();
      log(`fault ${cycle}: ${f.target} ${f.kind}${f.kind === 'freeze' ? ` for ${f.freezeMs} ms` : ''}`);
      let note: string | undefined;
      try {
        note = await inject(f);
      } catch (e) {
        note = `injection failed: ${(e as Error).message}`;
        log(note);
      }
      const t1 = Date.now();
      let base: Marks | undefined;
      let recoveredAt: number | null = null;
      while (Date.now() - t1 < RECOVERY_GIVE_UP_MS) {
        try {
          const now = await marks();
          if (!base) base = now;
          else if (progressedSince(base, now)) {
            recoveredAt = Date.now();
            break;
          }
        } catch {
          // the database not answering yet
        }
        await sleep(500);
      }
      const rec: FaultRecord = {
        ...f,
        startedAt: new Date(t0).toISOString(),
        downMs: t1 - t0,
        recoveryMs: recoveredAt === null ? null : recoveredAt - t0,
        afterRestartMs: recoveredAt === null ? null : recoveredAt - t1,
        ...(note ? { note } : {}),
      };
      faults.push(rec);
      log(`fault ${cycle} done: ${JSON.stringify(rec)}`);
      nextAt = t0 + opts.faultEverySec * 1000; // on the schedule; right away if recovery took longer
    }

    log('feeding stops');
    for (const f of [s3Feed, sqsFeed, fsFeed]) f.stopped = true;
    await Promise.all(feeding);
    sampling = false;
    await sampler;
    await sample(); // the last figures, before the drain

    const expected = { scan: s3Feed.done.length, sqs: sqsFeed.done.length, fs: fsFeed.done.length };
    log(`drain: waiting for ${JSON.stringify(expected)} files compressed`);
    const drainStart = Date.now();
    const checks: Record<string, string> = {};
    for (const [name, jobId] of Object.entries(jobs) as [keyof typeof jobs, number][]) {
      try {
        await eventually(
          async () => {
            const job = await rig.store.requireJob(jobId);
            if (job.status === 'failed') throw new Error(`job failed: ${job.errorMsg}`);
            // A failed file is an end state too: the check below then fails at once, naming it.
            return job.numFilesCompressed + job.numFilesFailed >= expected[name];
          },
          DRAIN_TIMEOUT_MS,
          `${name}: ${expected[name]} files compressed`,
        );
        if (name === 'scan') {
          await assertExactlyOnce(
            rig,
            jobId,
            bucket,
            s3Feed.done.map((i) => `scan/${i}`),
          );
        } else if (name === 'sqs') {
          await assertExactlyOnce(
            rig,
            jobId,
            bucket,
            sqsFeed.done.map((i) => `sqs/${i}`),
          );
        } else {
          await assertExactlyOnce(rig, jobId, fsDir, fsFeed.done);
        }
        await stopJob(rig, jobId);
        checks[name] = 'ok';
      } catch (e) {
        checks[name] = `FAILED: ${String((e as Error).message).slice(0, 2000)}`;
      }
      log(`check ${name}: ${checks[name].slice(0, 300)}`);
    }
    const drainMs = Date.now() - drainStart;

    const recovered = faults.filter((f) => f.recoveryMs !== null);
    const result = {
      options: opts,
      freezeMs: FREEZE_MS,
      startedAt: new Date(started).toISOString(),
      endedAt: new Date().toISOString(),
      commit: process.env.SOAK_COMMIT,
      machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
      cycles: faults.length,
      cyclesByKind: countByKind(faults),
      recovery: stats(recovered.map((f) => f.recoveryMs!)),
      recoveryAfterRestart: stats(recovered.map((f) => f.afterRestartMs!)),
      notRecovered: faults.length - recovered.length,
      files: expected,
      events: Object.fromEntries(Object.entries(expected).map(([k, n]) => [k, n * EVENTS_PER_OBJECT])),
      drainMs,
      workerRssKb: series(samples.map((s) => s.workerRssKb).filter((v): v is number => v !== undefined)),
      executorRssKb: series(samples.map((s) => s.executorRssKb).filter((v): v is number => v !== undefined)),
      dbBytes: series(samples.map((s) => s.dbBytes).filter((v): v is number => v !== undefined)),
      dbFileBytes: series(samples.map((s) => s.dbFileBytes).filter((v): v is number => v !== undefined)),
      appExits: { worker: rig.worker.exits, executor: rig.executor.exits },
      appKills: kills,
      checks,
      faults,
      samples,
    };
    writeFileSync(RESULT_FILE, JSON.stringify(result, null, 2));
    const mb = (kb?: number) => (kb === undefined ? '-' : `${(kb / 1024).toFixed(0)} MB`);
    const mib = (b?: number) => (b === undefined ? '-' : `${(b / 2 ** 20).toFixed(1)} MiB`);
    const totalFiles = expected.scan + expected.sqs + expected.fs;
    log(
      [
        `SUMMARY (${RESULT_FILE})`,
        `cycles ${faults.length}: ${JSON.stringify(result.cyclesByKind)}`,
        `recovery (fault to progress) max ${(result.recovery.maxMs / 1000).toFixed(1)} s, median ${(
          result.recovery.medianMs / 1000
        ).toFixed(1)} s; after restart/thaw max ${(result.recoveryAfterRestart.maxMs / 1000).toFixed(
          1,
        )} s, median ${(result.recoveryAfterRestart.medianMs / 1000).toFixed(1)} s; not recovered ${
          result.notRecovered
        }`,
        `files ${totalFiles} ${JSON.stringify(expected)}, events ${totalFiles * EVENTS_PER_OBJECT}, drain ${(
          drainMs / 1000
        ).toFixed(0)} s`,
        `worker RSS ${mb(result.workerRssKb.first)} -> ${mb(result.workerRssKb.last)} (max ${mb(result.workerRssKb.max)})`,
        `executor RSS ${mb(result.executorRssKb.first)} -> ${mb(result.executorRssKb.last)} (max ${mb(
          result.executorRssKb.max,
        )})`,
        `DB size ${mib(result.dbBytes.first)} -> ${mib(result.dbBytes.last)} (files on disk ${mib(
          result.dbFileBytes.first,
        )} -> ${mib(result.dbFileBytes.last)})`,
        `app exits ${JSON.stringify(result.appExits)}, of them killed by the soak ${JSON.stringify(kills)}`,
        `checks ${JSON.stringify(checks).slice(0, 1000)}`,
      ].join('\n  '),
    );
    expect(checks).toEqual({ scan: 'ok', sqs: 'ok', fs: 'ok' });
    expect(result.notRecovered).toBe(0);
    supervising = false;
    await supervisor;
  } finally {
    supervising = false;
    sampling = false;
    for (const thaw of [...frozen.values()]) thaw();
    await stackUp().catch((e) => log(`stack.sh up at the end failed: ${(e as Error).message}`));
    sqs.destroy();
    await rig.close();
  }
});
