/**
 * The benchmark: throughput, latency, memory and Temporal history size of the
 * ingestor, each next to a floor measured in the same run on the same stack.
 *
 *   npm run bench                       N = 100,000 (objects uploaded once, reused)
 *   npm run bench -- --n 200 --quick    the CI smoke run (well under 2 minutes)
 *   npm run bench -- --help             every setting
 *
 * Prints a table and writes bench/results/<timestamp>.json; see bench/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { createS3Client, createSqsClient } from '../src/aws';
import { connectClient } from '../src/temporal';
import {
  benchSettings,
  fmtDuration,
  git,
  jestProcesses,
  jestProcessesAsync,
  machine,
  RESULTS_DIR,
  sleep,
} from './lib/env';
import { cleanUpInterrupted, type BenchContext } from './lib/harness';
import { ensureObjects, prefixFor } from './lib/objects';
import { killChildren } from './lib/proc';
import { peerSet, type PeerSet, type TableState } from './clp-peer';
import { clpSFloor, MB, type ClpSFloorResult } from './phases/clp-s';
import { latency, type LatencyResult } from './phases/latency';
import { s3Floor, s3HonestFloors, s3Job, type FloorResult, type JobResult } from './phases/s3';
import { sqsFloor, sqsJob, type SqsFloorResult, type SqsJobResult } from './phases/sqs';

function positiveInt(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const PHASES = ['scanner', 'growth', 'e2e', 'sqs', 'latency', 'rescan', 'split', 'peer'] as const;
type Phase = (typeof PHASES)[number];
/** `rescan` (order-free scanning's cost) and `split` run only when asked for; `peer` with --clp-ingestor. */
const DEFAULT_PHASES = PHASES.filter((p) => p !== 'rescan' && p !== 'split' && p !== 'peer');

interface Options {
  n: number;
  quick: boolean;
  nE2e?: number;
  nSqs?: number;
  sqsListeners: number;
  sqsRuns: number;
  executorConcurrency?: string;
  latencySamples?: number;
  scanIntervalSec: number;
  flushTimeoutSec?: number;
  growth10x: boolean;
  phases: string;
  bucket: string;
  uploadConcurrency: number;
  prepareOnly: boolean;
  waitIdle?: boolean;
  rescanPasses: number;
  tableRows: string;
  clpIngestor?: string;
  peerSizes?: string;
  peerStates: string;
  peerRuns: number;
  peerCold: boolean;
  sqsCold: boolean;
  peerSeedRows: number;
}

const program = new Command('bench')
  .description('Throughput, latency, memory and history size, each against a floor measured in the same run')
  .option(
    '--n <n>',
    'objects for the scanner figures (BENCH_N)',
    positiveInt,
    Number(process.env.BENCH_N ?? 100_000),
  )
  .option('--quick', 'CI smoke settings: 20 latency samples, 1 s flush timeout, N for every phase', false)
  .option('--n-e2e <n>', 'objects for the end-to-end figure (default N)', positiveInt)
  .option('--n-sqs <n>', 'SQS notifications (default min(N, 20000))', positiveInt)
  .option(
    '--sqs-listeners <n>',
    'concurrent receivers: the job’s num_concurrent_listener_tasks and the floor’s',
    positiveInt,
    4,
  )
  .option(
    '--sqs-runs <n>',
    'sqs phase: floor and job runs (alternating), the median of each reported',
    positiveInt,
    1,
  )
  .option(
    '--sqs-cold',
    'sqs phase: time the job on a fresh worker (by default its worker first runs a 100-notification job of its own)',
    false,
  )
  .option(
    '--executor-concurrency <list>',
    'e2e phase: each executor concurrency (compression jobs at once) to run end to end, and clp-s runs at once for its floor (default 1,2; 1 with --quick)',
  )
  .option('--latency-samples <n>', 'uploads timed one at a time (default 200; 20 with --quick)', positiveInt)
  .option('--scan-interval-sec <s>', 'the latency job’s scanning_interval_sec', positiveInt, 1)
  .option(
    '--flush-timeout-sec <s>',
    'buffer_config.timeout_sec of the throughput jobs (default 5; 1 with --quick)',
    positiveInt,
  )
  .option('--growth-10x', 'also measure the scanner at 10N (uploads 10N objects once)', false)
  .option(
    '--phases <list>',
    `comma-separated subset of ${PHASES.join(',')} (default: all but rescan and split)`,
    DEFAULT_PHASES.join(','),
  )
  .option(
    '--rescan-passes <n>',
    'rescan phase: re-list passes timed once every key is recorded',
    positiveInt,
    3,
  )
  .option(
    '--clp-ingestor <path>',
    "CLP's own log-ingestor binary (cargo build --release in a CLP checkout): adds the peer phase, ours side by side with it",
  )
  .option('--peer-sizes <list>', 'peer phase: object counts (default N)')
  .option('--peer-states <list>', 'peer phase: table states, of empty,seeded', 'empty,seeded')
  .option('--peer-runs <n>', 'peer phase: runs per side (alternating), the median reported', positiveInt, 5)
  .option(
    '--peer-cold',
    "peer phase: time each side's server cold (by default each first runs a 100-object job of its own)",
    false,
  )
  .option(
    '--peer-seed-rows <n>',
    "peer phase: the earlier rows (of another job) in each side's file table when seeded",
    positiveInt,
    1_000_000,
  )
  .option('--bucket <name>', 'the bench bucket (objects are kept for the next run)', 'clp-bench')
  .option('--prepare-only', 'fill the bench bucket for these settings, then exit', false)
  .option('--upload-concurrency <n>', 'PutObject calls at once when filling the bucket', positiveInt, 64)
  .option('--wait-idle', 'wait (up to 25 min) while jest runs on this machine; default when N > 5000')
  .option(
    '--table-rows <list>',
    'scanner phase: run the job once per file-table size, each after seeding that many earlier rows of other jobs (bench/seed-rows.ts)',
    '0',
  )
  .option('--no-wait-idle', 'measure even while jest runs (the figures are flagged)');

function resolve(o: Options) {
  return {
    ...o,
    nE2e: o.nE2e ?? o.n,
    nSqs: o.nSqs ?? Math.min(o.n, 20_000),
    latencySamples: o.latencySamples ?? (o.quick ? 20 : 200),
    flushTimeoutSec: o.flushTimeoutSec ?? (o.quick ? 1 : 5),
    waitIdle: o.waitIdle ?? o.n > 5_000,
    executorConcurrency: [
      ...new Set(
        (o.executorConcurrency ?? (o.quick ? '1' : '1,2')).split(',').map((c) => positiveInt(c.trim())),
      ),
    ],
    tableRows: o.tableRows.split(',').map((t) => {
      const v = Number(t.trim().replace(/_/g, ''));
      if (!Number.isInteger(v) || v < 0) throw new InvalidArgumentError(`bad --table-rows ${t}`);
      return v;
    }),
    phases: [
      ...new Set([
        ...o.phases.split(',').map((p) => {
          if (!(PHASES as readonly string[]).includes(p))
            throw new InvalidArgumentError(`unknown phase ${p}`);
          return p as Phase;
        }),
        ...(o.clpIngestor ? (['peer'] as const) : []),
      ]),
    ],
    peerSizes: (o.peerSizes ?? String(o.n)).split(',').map((c) => positiveInt(c.trim())),
    peerStates: o.peerStates.split(',').map((st) => {
      if (st !== 'empty' && st !== 'seeded') throw new InvalidArgumentError(`unknown table state ${st}`);
      return st as TableState;
    }),
  };
}
type Resolved = ReturnType<typeof resolve>;

function log(msg: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

/** Waits while jest runs here (other engineers' suites would distort the figures); true if it still runs. */
async function awaitIdle(wait: boolean): Promise<boolean> {
  const deadline = Date.now() + 25 * 60_000;
  for (let announced = false; ; announced = true) {
    const pids = jestProcesses();
    if (pids.length === 0) return false;
    if (!wait || Date.now() > deadline) {
      log(`warning: jest is running (pids ${pids.join(' ')}); these figures are flagged`);
      return true;
    }
    if (!announced)
      log(`jest is running (pids ${pids.join(' ')}); waiting for it to end (polling every 30 s)`);
    await sleep(30_000);
  }
}

/** Whether jest was seen (polled every 5 s) since the current phase began. */
let jestSeen = false;
let jestWatch: NodeJS.Timeout | undefined;

/**
 * A phase begins: waits while jest runs (if `wait`); from then on jest is
 * looked for every 5 s, since a suite that starts and ends inside a phase is
 * not seen at its boundaries. True if jest runs now.
 */
async function phaseStart(wait: boolean): Promise<boolean> {
  const running = await awaitIdle(wait);
  jestSeen = running;
  jestWatch ??= setInterval(() => {
    if (jestSeen) return;
    void jestProcessesAsync().then((pids) => {
      if (pids.length === 0 || jestSeen) return;
      jestSeen = true;
      log(`warning: jest started during this phase (pids ${pids.join(' ')}); its figures are flagged`);
    });
  }, 5_000).unref();
  return running;
}

/** A phase ends: true if jest ran at any point since phaseStart (or runs now). */
async function phaseEnd(): Promise<boolean> {
  return jestSeen || (await awaitIdle(false));
}

interface E2eEntry {
  concurrency: number;
  n: number;
  floor?: ClpSFloorResult;
  /** Absent when the job did not finish. */
  job?: JobResult;
  /** The job's files/s as a fraction of the floor's, to all compressed and to the last archive. */
  vsFloor?: { compressed: number; lastArchive: number };
  jestRunning: boolean;
}

interface Results {
  startedAt: string;
  finishedAt?: string;
  command: string;
  git: { commit: string; dirty: boolean };
  machine: ReturnType<typeof machine>;
  settings: Omit<Resolved, 'phases'> & { phases: Phase[]; maxFilesPerCompressionJob: number };
  objects: Record<string, { uploaded: number; ms: number }>;
  scanner: {
    n: number;
    /** Not run above START_AFTER_FLOOR_MAX_N: MinIO's cost per StartAfter page grows with depth. */
    floor?: FloorResult;
    /** The same floor paging by continuation token instead of StartAfter. */
    tokenFloor: FloorResult;
    /** The job per file-table size (--table-rows): the first is `job` itself. */
    byTableRows?: {
      tableRows: number;
      rowsRate: number;
      rate: number;
      pageMs: JobResult['pageMs'];
      cpu: JobResult['cpu'];
    }[];
    /** List only, insert only, and both pipelined (the honest floors). */
    honest?: { listOnly: FloorResult; insertOnly: FloorResult; pipelined: FloorResult };
    /** The job's rows rate against the pipelined floor. */
    pipelinedRatio?: number;
    /** Absent when the job did not finish (the run was interrupted or failed). */
    job?: JobResult;
    ratio?: number;
    rowsRatio?: number;
    jestRunning: boolean;
  }[];
  /** Per executor concurrency: clp-s alone (the floor) and end to end, measured one after the other. */
  e2e: E2eEntry[];
  /** One job's listing split across listers: rows/s per listing_parallelism and worker processes. */
  split?: { listingParallelism: number; workers: number; job: JobResult; jestRunning: boolean }[];
  sqs?: {
    floor: SqsFloorResult;
    job: SqsJobResult;
    ratio: number;
    /** Every run's files/s, in the order run (floor and job alternating). */
    runs?: { floor: number[]; job: number[] };
    jestRunning: boolean;
  };
  latency?: LatencyResult & { jestRunning: boolean };
  rescan?: JobResult & { jestRunning: boolean };
  /** Ours beside CLP's own log-ingestor, per size and table state. */
  peer: (PeerSet & { jestRunning: boolean })[];
  /** Why the run stopped early, if it did. */
  error?: string;
}

/**
 * The StartAfter floor is kept for continuity up to this N; above it, MinIO's
 * cost per StartAfter page grows with depth (537 ms per page at 1,000,000,
 * the 10N record below), so one run would take most of an hour.
 */
const START_AFTER_FLOOR_MAX_N = 100_000;

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const mib = (x: number | undefined) => (x === undefined ? '–' : `${Math.round(x)} MiB`);
const ratio = (x: number) => x.toFixed(2);
/** ", median of 5 (1,234, …)" for a figure measured more than once. */
const ofRuns = (rates?: number[]) =>
  rates && rates.length > 1
    ? `, median of ${rates.length} (${rates.map((x) => int(x)).join(', ')} files/s)`
    : '';
/** The run of median rate (the lower of the middle two for an even count). */
function medianByRate<T extends { rate: number }>(runs: T[]): T {
  return [...runs].sort((a, b) => a.rate - b.rate)[Math.floor((runs.length - 1) / 2)];
}

function table(r: Results): string {
  const header = [
    'Measure',
    'Files',
    'Time',
    'Files/s',
    'vs floor',
    'History events / 1k files',
    'Workflow tasks / 1k',
    'Activities / 1k',
    'Worker peak RSS',
  ];
  const rows: string[][] = [];
  /** A row's cells, the columns it leaves out shown as '–'. */
  const padded = (cells: string[]): string[] => [
    ...cells,
    ...Array<string>(header.length - cells.length).fill('–'),
  ];
  const flag = (j: boolean) => (j ? ' ⚠ jest running' : '');
  for (const s of r.scanner) {
    // Ratios are against the StartAfter floor where it ran (continuity), else the token floor.
    const base = s.floor ?? s.tokenFloor;
    rows.push(
      s.floor
        ? padded([
            `Floor: list + insert, N=${int(s.n)}`,
            int(s.floor.files),
            fmtDuration(s.floor.ms),
            int(s.floor.rate),
            '1.00',
          ])
        : padded([
            `Floor: list + insert (StartAfter), N=${int(s.n)}: not run above ${int(START_AFTER_FLOOR_MAX_N)}`,
          ]),
    );
    rows.push(
      padded([
        `Floor, paging by continuation token, N=${int(s.n)}`,
        int(s.tokenFloor.files),
        fmtDuration(s.tokenFloor.ms),
        int(s.tokenFloor.rate),
        ratio(s.tokenFloor.rate / base.rate),
      ]),
    );
    if (s.honest) {
      for (const [name, f] of [
        ['list only (continuation token, no DB)', s.honest.listOnly],
        ['insert only (same rows, 1,000 per transaction)', s.honest.insertOnly],
        ['list + insert pipelined', s.honest.pipelined],
      ] as const) {
        rows.push(
          padded([
            `Floor: ${name}, N=${int(s.n)}`,
            int(f.files),
            fmtDuration(f.ms),
            int(f.rate),
            ratio(f.rate / base.rate),
          ]),
        );
      }
    }
    if (!s.job) {
      rows.push(padded([`Scanner job, N=${int(s.n)}: did not finish`]));
      continue;
    }
    rows.push([
      `Scanner job → all submitted, N=${int(s.n)}${flag(s.jestRunning)}`,
      int(s.job.files),
      `${fmtDuration(s.job.ms)} (rows ${fmtDuration(s.job.rowsMs)})`,
      `${int(s.job.rate)} (rows ${int(s.job.rowsRate)})`,
      `${ratio(s.ratio!)} (rows ${ratio(s.rowsRatio!)}${s.pipelinedRatio ? `; ${ratio(s.pipelinedRatio)} of pipelined` : ''})` +
        (s.job.pageMs
          ? `; page ${s.job.pageMs.first10.toFixed(1)} → ${s.job.pageMs.last10.toFixed(1)} ms (first → last 10 %)`
          : ''),
      String(s.job.per1k.events),
      String(s.job.per1k.workflowTasks),
      String(s.job.per1k.activities),
      mib(s.job.workerPeakMiB),
    ]);
  }
  for (const x of r.e2e) {
    const e = x.job;
    if (!e) {
      rows.push(padded([`End to end (executor ×${x.concurrency}): did not finish`]));
      continue;
    }
    rows.push([
      `End to end → all compressed (executor ×${x.concurrency})${flag(x.jestRunning)}`,
      int(e.files),
      `${fmtDuration(e.ms)} (submitted ${fmtDuration(e.submittedMs)}, last archive ${fmtDuration(e.lastCompressionEndMs ?? NaN)})`,
      int(e.rate),
      x.vsFloor ? `${ratio(x.vsFloor.compressed)} of clp-s alone ×${x.concurrency}` : '–',
      String(e.per1k.events),
      String(e.per1k.workflowTasks),
      String(e.per1k.activities),
      `${mib(e.workerPeakMiB)} (executor ${mib(e.executorPeakMiB)})`,
    ]);
  }
  if (r.sqs) {
    const q = r.sqs;
    rows.push(
      padded([
        `SQS floor: receive + insert + delete, ${r.settings.sqsListeners} receivers${ofRuns(q.runs?.floor)}`,
        int(q.floor.files),
        fmtDuration(q.floor.ms),
        int(q.floor.rate),
        '1.00',
      ]),
    );
    rows.push([
      `SQS listener job → all rows, ${r.settings.sqsListeners} listener tasks, ${q.job.warmup ? 'warm' : 'cold'}${ofRuns(q.runs?.job)}${flag(q.jestRunning)}`,
      int(q.job.files),
      fmtDuration(q.job.ms),
      int(q.job.rate),
      ratio(q.ratio),
      String(q.job.per1k.events),
      String(q.job.per1k.workflowTasks),
      String(q.job.per1k.activities),
      mib(q.job.workerPeakMiB),
    ]);
  }
  if (r.latency) {
    const l = r.latency;
    rows.push([
      `Latency upload → row, scan every ${l.intervalSec} s${flag(l.jestRunning)}`,
      `${l.samples} samples`,
      `p50 ${int(l.p50Ms)} ms, p99 ${int(l.p99Ms)} ms (max ${int(l.maxMs)})`,
      '–',
      '–',
      '–',
      '–',
      '–',
      mib(l.workerPeakMiB),
    ]);
  }
  if (r.rescan?.rescan) {
    const j = r.rescan;
    const rs = j.rescan!;
    rows.push([
      `Scanner job, rescan every ${rs.intervalSec} s → all submitted${flag(j.jestRunning)}`,
      int(j.files),
      `${fmtDuration(j.ms)} (rows ${fmtDuration(j.rowsMs)})`,
      `${int(j.rate)} (rows ${int(j.rowsRate)})`,
      '–',
      String(j.per1k.events),
      String(j.per1k.workflowTasks),
      String(j.per1k.activities),
      mib(j.workerPeakMiB),
    ]);
    const ms = rs.passes.map((p) => p.ms).sort((a, b) => a - b);
    rows.push(
      padded([
        `Re-list pass, every key recorded (${rs.passes.length} passes; ${rs.recordedDuring} recorded)`,
        int(j.files),
        `median ${fmtDuration(ms[Math.floor(ms.length / 2)])} (${ms.map((x) => fmtDuration(x)).join(', ')})`,
        int((j.files * 1000) / ms[Math.floor(ms.length / 2)]),
      ]),
    );
  }
  return markdown(header, rows);
}

const mb = (bytes: number) => (bytes / MB).toFixed(1);
const mbps = (bytes: number, ms: number) => (bytes / MB / (ms / 1000)).toFixed(2);

/** The clp-s figures: clp-s alone (the floor) and end to end, per concurrency. */
function compressionTable(r: Results): string {
  const rows: string[][] = [];
  const flag = (j: boolean) => (j ? ' ⚠ jest running' : '');
  for (const x of r.e2e) {
    const f = x.floor;
    if (f) {
      rows.push([
        `clp-s alone ×${x.concurrency}, N=${int(x.n)}${flag(x.jestRunning)}`,
        int(f.files),
        mb(f.bytes),
        `${fmtDuration(f.ms)} (list ${fmtDuration(f.listMs)})`,
        int(f.rate),
        mbps(f.bytes, f.ms),
        f.ratio.toFixed(2),
        `${f.compressionJobs} / ${f.tasks} / ${f.archives}`,
        '1.00',
        `clp-s ${mib(f.clpSMemory.peakOneMiB)} (${f.clpSMemory.maxAtOnce} at once: ${mib(f.clpSMemory.peakTogetherMiB)})`,
      ]);
    }
    const e = x.job;
    const c = e?.compression;
    if (!e || !c) continue;
    const last = e.lastCompressionEndMs ?? NaN;
    rows.push([
      `End to end → all compressed, executor ×${x.concurrency}, N=${int(x.n)}${flag(x.jestRunning)}`,
      int(e.files),
      mb(c.bytes),
      `${fmtDuration(e.ms)} (last archive ${fmtDuration(last)})`,
      `${int(e.rate)} (last archive ${int((e.files * 1000) / last)})`,
      `${mbps(c.bytes, e.ms)} (last archive ${mbps(c.bytes, last)})`,
      `${c.ratio.toFixed(2)} (archive table ${c.archiveTable.ratio.toFixed(2)}, ${c.archiveTableMatches ? 'same sums' : 'SUMS DIFFER'})`,
      `${c.compressionJobs} / ${c.tasks} / ${c.archives}`,
      x.vsFloor ? `${ratio(x.vsFloor.compressed)} (last archive ${ratio(x.vsFloor.lastArchive)})` : '–',
      `executor ${mib(e.executorPeakMiB)}; clp-s ${mib(c.clpSMemory.peakOneMiB)} (${c.clpSMemory.maxAtOnce} at once: ${mib(c.clpSMemory.peakTogetherMiB)})`,
    ]);
  }
  return markdown(
    [
      'Compression (clp-s)',
      'Files',
      'MB in',
      'Time',
      'Files/s',
      'MB/s',
      'Ratio',
      'Jobs / tasks / archives',
      'vs clp-s alone',
      'Peak RSS',
    ],
    rows,
  );
}

/** Ours beside CLP's log-ingestor: median files/s of each side, their ratio, every run. */
function peerTable(r: Results): string {
  const rows = r.peer.map((p) => {
    const of = (side: string) =>
      p.runs
        .filter((x) => x.side === side)
        .map((x) => int(x.rate))
        .join(', ');
    return [
      `N=${int(p.n)}, ${p.state === 'seeded' ? `${int(p.seedRows)} earlier rows` : 'empty tables'}, ${p.warmup === false ? 'cold' : 'warm'}${p.jestRunning ? ' ⚠ jest running' : ''}`,
      int(p.ours),
      int(p.clp),
      ratio(p.ratio),
      of('ours'),
      of('clp'),
    ];
  });
  return markdown(
    [
      'Side by side with CLP log-ingestor',
      'Ours files/s (median)',
      'CLP files/s (median)',
      'Ours / CLP',
      'Ours, each run',
      'CLP, each run',
    ],
    rows,
  );
}

function cpuTable(r: Results): string {
  const named: [string, Record<string, number>][] = [];
  for (const s of r.scanner) {
    if (s.floor) named.push([`floor N=${int(s.n)}`, s.floor.cpu]);
    named.push([`token floor N=${int(s.n)}`, s.tokenFloor.cpu]);
    if (s.job) named.push([`scanner N=${int(s.n)}`, s.job.cpu]);
  }
  for (const x of r.e2e) {
    if (x.floor) named.push([`clp-s alone ×${x.concurrency}`, x.floor.cpu]);
    if (x.job) named.push([`end to end ×${x.concurrency}`, x.job.cpu]);
  }
  if (r.sqs) named.push(['SQS floor', r.sqs.floor.cpu], ['SQS job', r.sqs.job.cpu]);
  if (r.latency) named.push(['latency', r.latency.cpu]);
  if (r.rescan) named.push(['scanner, rescan on', r.rescan.cpu]);
  r.rescan?.rescan?.passes.forEach((p, i) => named.push([`re-list pass ${i + 1}`, p.cpu]));
  const procs = ['worker', 'executor', 'clp-s', 'mariadb', 'temporal', 'minio', 'goaws', 'bench'];
  return markdown(
    ['CPU seconds', ...procs],
    named.map(([name, cpu]) => [name, ...procs.map((p) => (cpu[p] === undefined ? '–' : cpu[p].toFixed(1)))]),
  );
}

function markdown(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  program.parse();
  const o = resolve(program.opts<Options>());
  const settings = benchSettings();
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const logDir = path.join(RESULTS_DIR, 'logs', stamp);
  mkdirSync(logDir, { recursive: true });
  const results: Results = {
    startedAt: startedAt.toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, ''),
    git: git(),
    machine: machine(),
    settings: { ...o, maxFilesPerCompressionJob: settings.maxFilesPerCompressionJob },
    objects: {},
    scanner: [],
    e2e: [],
    peer: [],
  };
  log(`bench: ${JSON.stringify(results.settings)}`);
  const s3 = createS3Client(settings.aws);
  const sqs = createSqsClient(settings.aws);
  const client = await connectClient();
  const ctx: BenchContext = { settings, s3, sqs, client, bucket: o.bucket, logDir, log };
  const sizes: number[] = [];
  if (o.phases.includes('growth')) sizes.push(Math.max(1, Math.round(o.n / 10)));
  if (o.phases.includes('scanner') || o.phases.includes('growth')) sizes.push(o.n);
  if (o.phases.includes('growth') && o.growth10x) sizes.push(o.n * 10);
  const outFile = path.join(RESULTS_DIR, `${stamp}.json`);
  const save = () => writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // Children go first; then the phases' workflows and throwaway databases.
      killChildren();
      results.error = `interrupted by ${signal}`;
      results.finishedAt = new Date().toISOString();
      if (!o.prepareOnly) save();
      console.error(
        `bench: interrupted by ${signal}; partial results in ${path.relative(process.cwd(), outFile)}`,
      );
      void Promise.race([cleanUpInterrupted(), sleep(15_000)]).finally(() => process.exit(130));
    });
  }
  try {
    const e2eSize = o.phases.includes('e2e') ? [o.nE2e] : [];
    const rescanSize = o.phases.includes('rescan') || o.phases.includes('split') ? [o.n] : [];
    const peerSizes = o.phases.includes('peer') ? o.peerSizes : [];
    if (peerSizes.length && !o.clpIngestor) throw new Error('the peer phase needs --clp-ingestor <path>');
    for (const count of [...new Set([...sizes, ...e2eSize, ...rescanSize, ...peerSizes])].sort(
      (a, b) => a - b,
    )) {
      const r = await ensureObjects(s3, o.bucket, count, o.uploadConcurrency, log);
      results.objects[r.prefix] = { uploaded: r.uploaded, ms: Math.round(r.ms) };
      log(`s3://${o.bucket}/${r.prefix}: ${count} objects (${r.uploaded} uploaded, ${fmtDuration(r.ms)})`);
    }

    if (o.prepareOnly) return;

    for (const n of sizes) {
      const jestRunning = await phaseStart(o.waitIdle);
      const prefix = prefixFor(n);
      let floor: FloorResult | undefined;
      if (n <= START_AFTER_FLOOR_MAX_N) {
        log(`floor N=${n}: list + insert`);
        floor = await s3Floor(ctx, prefix, n);
        log(`  ${fmtDuration(floor.ms)}, ${int(floor.rate)} files/s`);
      }
      log(`floor N=${n}: list (continuation token) + insert`);
      const tokenFloor = await s3Floor(ctx, prefix, n, 'token');
      log(`  ${fmtDuration(tokenFloor.ms)}, ${int(tokenFloor.rate)} files/s`);
      log(`floors N=${n}: list only, insert only, pipelined`);
      const honest = await s3HonestFloors(ctx, prefix, n);
      log(
        `  list ${int(honest.listOnly.rate)}, insert ${int(honest.insertOnly.rate)}, pipelined ${int(honest.pipelined.rate)} files/s`,
      );
      const entry: Results['scanner'][number] = { n, floor, tokenFloor, honest, jestRunning };
      results.scanner.push(entry);
      save();
      log(`scanner N=${n}: job until every file is submitted`);
      const job = await s3Job(ctx, {
        name: `scanner-${n}`,
        prefix,
        n,
        flushTimeoutSec: o.flushTimeoutSec,
        tableRows: o.tableRows[0],
      });
      log(`  ${fmtDuration(job.ms)}, ${int(job.rate)} files/s, ${job.history.events} history events`);
      // The same job again on file tables holding more earlier rows: whether recording cost grows with the table.
      entry.byTableRows = [
        {
          tableRows: o.tableRows[0],
          rowsRate: job.rowsRate,
          rate: job.rate,
          pageMs: job.pageMs,
          cpu: job.cpu,
        },
      ];
      for (const t of o.tableRows.slice(1)) {
        log(`scanner N=${n}, ${int(t)} earlier rows: job until every file is submitted`);
        const j = await s3Job(ctx, {
          name: `scanner-${n}-t${t}`,
          prefix,
          n,
          flushTimeoutSec: o.flushTimeoutSec,
          tableRows: t,
        });
        log(
          `  rows ${fmtDuration(j.rowsMs)}, ${int(j.rowsRate)} files/s (all submitted ${fmtDuration(j.ms)})`,
        );
        entry.byTableRows.push({
          tableRows: t,
          rowsRate: j.rowsRate,
          rate: j.rate,
          pageMs: j.pageMs,
          cpu: j.cpu,
        });
        save();
      }
      Object.assign(entry, {
        job,
        ratio: job.rate / (floor ?? tokenFloor).rate,
        rowsRatio: job.rowsRate / (floor ?? tokenFloor).rate,
        pipelinedRatio: job.rowsRate / honest.pipelined.rate,
        jestRunning: jestRunning || (await phaseEnd()),
      });
      save();
    }

    if (o.phases.includes('e2e')) {
      // Per concurrency, clp-s alone and then end to end, back to back, so each pair shares the machine's state.
      for (const c of o.executorConcurrency) {
        const entry: E2eEntry = { concurrency: c, n: o.nE2e, jestRunning: await phaseStart(o.waitIdle) };
        results.e2e.push(entry);
        log(`clp-s alone N=${o.nE2e}: ${c} clp-s at once, split as the executor splits`);
        entry.floor = await clpSFloor(ctx, prefixFor(o.nE2e), o.nE2e, c);
        const f = entry.floor;
        log(
          `  ${fmtDuration(f.ms)}, ${int(f.rate)} files/s, ${mbps(f.bytes, f.ms)} MB/s, ratio ${f.ratio.toFixed(2)} (${f.tasks} tasks)`,
        );
        save();
        log(
          `end to end N=${o.nE2e}: job with the executor (concurrency ${c}) until every file is compressed`,
        );
        const e = await s3Job(ctx, {
          name: `e2e-${o.nE2e}-c${c}`,
          prefix: prefixFor(o.nE2e),
          n: o.nE2e,
          flushTimeoutSec: o.flushTimeoutSec,
          executorConcurrency: c,
        });
        const last = e.lastCompressionEndMs ?? NaN;
        log(
          `  ${fmtDuration(e.ms)} (last archive ${fmtDuration(last)}), ${int(e.rate)} files/s, ratio ${e.compression?.ratio.toFixed(2)}`,
        );
        entry.job = e;
        entry.vsFloor = { compressed: e.rate / f.rate, lastArchive: (e.files * 1000) / last / f.rate };
        entry.jestRunning ||= await phaseEnd();
        save();
      }
    }

    if (o.phases.includes('sqs')) {
      const jestRunning = await phaseStart(o.waitIdle);
      // Floor and job alternate, so a machine that slows mid-phase slows both alike.
      const floors: SqsFloorResult[] = [];
      const jobs: SqsJobResult[] = [];
      for (let run = 1; run <= o.sqsRuns; run++) {
        const of = o.sqsRuns > 1 ? ` (run ${run} of ${o.sqsRuns})` : '';
        log(`SQS floor: ${o.nSqs} notifications, ${o.sqsListeners} receivers${of}`);
        const floor = await sqsFloor(ctx, o.nSqs, o.sqsListeners);
        floors.push(floor);
        log(
          `  ${fmtDuration(floor.ms)}, ${int(floor.rate)} files/s (queue loaded in ${fmtDuration(floor.loadMs)})`,
        );
        log(`SQS job: ${o.nSqs} notifications, ${o.sqsListeners} listener tasks${of}`);
        const job = await sqsJob(ctx, o.nSqs, o.sqsListeners, o.flushTimeoutSec, !o.sqsCold);
        jobs.push(job);
        log(
          `  ${fmtDuration(job.ms)}, ${int(job.rate)} files/s (${ratio(job.rate / floor.rate)} of this floor); ` +
            `first row ${fmtDuration(job.firstRowMs)}, then ${int(((job.files - 1) * 1000) / (job.ms - job.firstRowMs))} files/s`,
        );
      }
      const floor = medianByRate(floors);
      const job = medianByRate(jobs);
      results.sqs = {
        floor,
        job,
        ratio: job.rate / floor.rate,
        runs: { floor: floors.map((f) => f.rate), job: jobs.map((j) => j.rate) },
        jestRunning: jestRunning || (await phaseEnd()),
      };
      save();
    }

    if (o.phases.includes('latency')) {
      const jestRunning = await phaseStart(o.waitIdle);
      log(`latency: ${o.latencySamples} uploads, scanning every ${o.scanIntervalSec} s`);
      const l = await latency(ctx, o.latencySamples, o.scanIntervalSec);
      log(`  p50 ${int(l.p50Ms)} ms, p99 ${int(l.p99Ms)} ms`);
      results.latency = { ...l, jestRunning: jestRunning || (await phaseEnd()) };
    }
    if (o.phases.includes('rescan')) {
      const jestRunning = await phaseStart(o.waitIdle);
      log(
        `rescan N=${o.n}: scanner job with rescan_interval_sec 1, then ${o.rescanPasses} whole re-list passes`,
      );
      const j = await s3Job(ctx, {
        name: `rescan-${o.n}`,
        prefix: prefixFor(o.n),
        n: o.n,
        flushTimeoutSec: o.flushTimeoutSec,
        rescanPasses: o.rescanPasses,
      });
      log(`  ${fmtDuration(j.ms)}, ${int(j.rate)} files/s`);
      results.rescan = { ...j, jestRunning: jestRunning || (await phaseEnd()) };
      save();
    }
    if (o.phases.includes('split')) {
      results.split = [];
      // Interleaved, so a drift in the machine's load touches every setting alike.
      for (const [listingParallelism, workers] of [
        [1, 1],
        [2, 1],
        [2, 2],
        [4, 2],
      ]) {
        const jestRunning = await phaseStart(o.waitIdle);
        log(`split N=${o.n}: listing_parallelism ${listingParallelism}, ${workers} worker process(es)`);
        const job = await s3Job(ctx, {
          name: `split-${o.n}-p${listingParallelism}-w${workers}`,
          prefix: prefixFor(o.n),
          n: o.n,
          flushTimeoutSec: o.flushTimeoutSec,
          listingParallelism,
          workers,
        });
        log(`  rows in ${fmtDuration(job.rowsMs)}: ${int(job.rowsRate)} files/s`);
        results.split.push({
          listingParallelism,
          workers,
          job,
          jestRunning: jestRunning || (await phaseEnd()),
        });
        save();
      }
    }
    for (const n of peerSizes) {
      for (const state of o.peerStates) {
        const jestRunning = await phaseStart(o.waitIdle);
        log(`peer N=${n} ${state}: ours and CLP's log-ingestor, ${o.peerRuns} runs each, alternating`);
        const set = await peerSet(ctx, {
          binary: o.clpIngestor!,
          prefix: prefixFor(n),
          n,
          state,
          seedRows: o.peerSeedRows,
          runs: o.peerRuns,
          warmup: !o.peerCold,
        });
        log(`  median ours ${int(set.ours)}, CLP ${int(set.clp)} files/s: ours/CLP ${ratio(set.ratio)}`);
        results.peer.push({ ...set, jestRunning: jestRunning || (await phaseEnd()) });
        save();
      }
    }
  } catch (err) {
    results.error = err instanceof Error ? err.message : String(err);
    throw err;
  } finally {
    results.finishedAt = new Date().toISOString();
    if (!o.prepareOnly) {
      save();
      // Whatever finished, even when a later phase failed.
      const clpS = results.e2e.length ? `${compressionTable(results)}\n\n` : '';
      const peer = results.peer.length ? `${peerTable(results)}\n\n` : '';
      console.log(`\n${table(results)}\n\n${clpS}${peer}${cpuTable(results)}\n`);
      const took = Date.parse(results.finishedAt) - startedAt.getTime();
      console.log(
        `bench: ${results.error ? 'FAILED' : 'done'} in ${fmtDuration(took)}; results in ${path.relative(process.cwd(), outFile)}`,
      );
    }
    s3.destroy();
    sqs.destroy();
    await client.connection.close().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
