/** The soak's fault draw, recovery test and summary figures (test/soak/plan.ts). */
import {
  countByKind,
  drawFault,
  parseSoakArgs,
  progressedSince,
  seededRandom,
  series,
  stats,
  TARGETS,
} from '../soak/plan';

test('the seeded source repeats its sequence for a seed and differs for another', () => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  const c = seededRandom(8);
  const xs = Array.from({ length: 20 }, () => a());
  expect(Array.from({ length: 20 }, () => b())).toEqual(xs);
  expect(Array.from({ length: 20 }, () => c())).not.toEqual(xs);
  expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
});

test('faults cover every process, both kinds, freezes within their bounds and kills without one', () => {
  const random = seededRandom(1);
  const faults = Array.from({ length: 600 }, (_, i) => drawFault(random, i + 1, [5_000, 30_000]));
  expect(new Set(faults.map((f) => f.target))).toEqual(new Set(TARGETS));
  const freezes = faults.filter((f) => f.kind === 'freeze');
  const kills = faults.filter((f) => f.kind === 'kill');
  expect(freezes.length).toBeGreaterThan(200);
  expect(kills.length).toBeGreaterThan(200);
  expect(freezes.every((f) => f.freezeMs >= 5_000 && f.freezeMs <= 30_000)).toBe(true);
  expect(kills.every((f) => f.freezeMs === 0)).toBe(true);
  expect(faults.map((f) => f.cycle)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
});

test('a draw at the top of the range still names a process', () => {
  expect(drawFault(() => 0.999999999, 1, [1, 2]).target).toBe(TARGETS.at(-1));
});

describe('progressedSince', () => {
  const base = { ingested: { '1': 10, '2': 5, '3': 0 }, compressed: 12 };
  test('every job recorded more and something was compressed: moved again', () => {
    expect(progressedSince(base, { ingested: { '1': 11, '2': 6, '3': 1 }, compressed: 13 })).toBe(true);
  });
  test('one job still stuck, or nothing compressed: not yet', () => {
    expect(progressedSince(base, { ingested: { '1': 11, '2': 5, '3': 1 }, compressed: 20 })).toBe(false);
    expect(progressedSince(base, { ingested: { '1': 11, '2': 6, '3': 1 }, compressed: 12 })).toBe(false);
  });
  test('a job missing from the sample counts as stuck', () => {
    expect(progressedSince(base, { ingested: { '1': 11, '2': 6 }, compressed: 13 })).toBe(false);
  });
});

test('stats: max and lower median; nothing gives zeros', () => {
  expect(stats([3, 1, 2])).toEqual({ n: 3, maxMs: 3, medianMs: 2 });
  expect(stats([4, 1, 3, 2])).toEqual({ n: 4, maxMs: 4, medianMs: 2 });
  expect(stats([])).toEqual({ n: 0, maxMs: 0, medianMs: 0 });
});

test('countByKind and series', () => {
  expect(
    countByKind([
      { target: 'worker', kind: 'kill' },
      { target: 'worker', kind: 'kill' },
      { target: 'goaws', kind: 'freeze' },
    ]),
  ).toEqual({ 'worker kill': 2, 'goaws freeze': 1 });
  expect(series([5, 9, 7])).toEqual({ first: 5, last: 7, max: 9 });
  expect(series([])).toEqual({});
});

test('parseSoakArgs: known options replace defaults; unknown or non-positive ones are refused', () => {
  const d = { minutes: 60, faultEverySec: 120, seed: 1, ratePerSec: 2 };
  expect(parseSoakArgs(['--minutes', '6', '--fault-every', '30'], d)).toEqual({
    ...d,
    minutes: 6,
    faultEverySec: 30,
  });
  expect(() => parseSoakArgs(['--hours', '1'], d)).toThrow(/unknown option --hours/);
  expect(() => parseSoakArgs(['--minutes', '0'], d)).toThrow(/positive/);
  expect(() => parseSoakArgs(['--minutes'], d)).toThrow(/positive/);
});
