/**
 * The soak's pure logic, kept apart so unit tests cover it: a seeded random
 * source, the fault drawn for each cycle, whether ingestion has moved again
 * since a fault ended, and the summary figures.
 */

export const TARGETS = ['worker', 'executor', 'temporal', 'mariadb', 'minio', 'goaws'] as const;
export type Target = (typeof TARGETS)[number];
export type FaultKind = 'kill' | 'freeze';

export interface Fault {
  cycle: number;
  target: Target;
  kind: FaultKind;
  /** How long a freeze lasts (SIGSTOP to SIGCONT); 0 for a kill. */
  freezeMs: number;
}

/** mulberry32: a small seeded generator, so a run's fault sequence can be repeated from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One fault: any process, killed or frozen with equal odds, a freeze lasting between the bounds. */
export function drawFault(
  random: () => number,
  cycle: number,
  freezeMs: [number, number],
  targets: readonly Target[] = TARGETS,
): Fault {
  const target = targets[Math.min(targets.length - 1, Math.floor(random() * targets.length))];
  const kind: FaultKind = random() < 0.5 ? 'kill' : 'freeze';
  const ms = Math.round(freezeMs[0] + random() * (freezeMs[1] - freezeMs[0]));
  return { cycle, target, kind, freezeMs: kind === 'freeze' ? ms : 0 };
}

/** Progress counters at one moment: files recorded per job, and files compressed over all jobs. */
export interface Marks {
  ingested: Record<string, number>;
  compressed: number;
}

/**
 * Ingestion has moved again: every job recorded a file and some file was
 * compressed since `base` (taken when the fault ended). Both are needed: a
 * frozen executor leaves recording going, a frozen database stops both.
 */
export function progressedSince(base: Marks, now: Marks): boolean {
  return (
    now.compressed > base.compressed &&
    Object.keys(base.ingested).every((job) => (now.ingested[job] ?? 0) > base.ingested[job])
  );
}

export interface Stats {
  n: number;
  maxMs: number;
  medianMs: number;
}

/** Max and median (the lower middle of an even count, as test/fault's report does). */
export function stats(ms: number[]): Stats {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    n: sorted.length,
    maxMs: sorted.at(-1) ?? 0,
    medianMs: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : 0,
  };
}

/** Cycles counted by "target kind", e.g. { "mariadb kill": 3 }. */
export function countByKind(faults: Pick<Fault, 'target' | 'kind'>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of faults) out[`${f.target} ${f.kind}`] = (out[`${f.target} ${f.kind}`] ?? 0) + 1;
  return out;
}

/** First, last and largest of a sampled series (undefined where nothing was sampled). */
export function series(values: number[]): { first?: number; last?: number; max?: number } {
  if (values.length === 0) return {};
  return { first: values[0], last: values.at(-1), max: Math.max(...values) };
}

/** Command-line options of `npm run soak -- --minutes 60 --fault-every 120 --seed 7`. */
export interface SoakOptions {
  minutes: number;
  faultEverySec: number;
  seed: number;
  ratePerSec: number;
}

export function parseSoakArgs(argv: string[], defaults: SoakOptions): SoakOptions {
  const o = { ...defaults };
  const names: Record<string, keyof SoakOptions> = {
    '--minutes': 'minutes',
    '--fault-every': 'faultEverySec',
    '--seed': 'seed',
    '--rate': 'ratePerSec',
  };
  for (let i = 0; i < argv.length; i++) {
    const key = names[argv[i]];
    if (!key) throw new Error(`soak: unknown option ${argv[i]} (know ${Object.keys(names).join(', ')})`);
    const v = Number(argv[++i]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`soak: ${argv[i - 1]} needs a positive number`);
    o[key] = v;
  }
  return o;
}
