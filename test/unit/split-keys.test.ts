/** findSplitKeys: split points of a split S3 listing, probed over a sorted key set. */
import { findSplitKeys } from '../../src/sources/s3_scanner/split';

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** `first` over a key set, as a one-key S3 listing after `startAfter` sees it; counts its calls. */
function bucketOf(keys: string[], prefix = '') {
  const sorted = [...keys].sort(byteOrder);
  const calls = { n: 0 };
  const first = async (startAfter: string | null) => {
    calls.n++;
    // Binary search: the first key after startAfter.
    let lo = 0;
    let hi = sorted.length;
    while (startAfter !== null && lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byteOrder(sorted[mid], startAfter) > 0) hi = mid;
      else lo = mid + 1;
    }
    const k = sorted[lo];
    return k !== undefined && k.startsWith(prefix) ? k : null;
  };
  return { sorted, first, calls };
}

/** The ranges (lo, k1], (k1, k2], ..., (kn, end) as key lists. */
function ranges(sorted: string[], lo: string | null, splits: string[]): string[][] {
  const after = sorted.filter((k) => lo === null || byteOrder(k, lo) > 0);
  const out: string[][] = [];
  let from = 0;
  for (const s of splits) {
    const to = after.findIndex((k) => byteOrder(k, s) > 0);
    out.push(after.slice(from, to === -1 ? after.length : to));
    from = to === -1 ? after.length : to;
  }
  out.push(after.slice(from));
  return out;
}

const pad = (i: number, w: number) => String(i).padStart(w, '0');

test('zero-padded flat keys split at real keys into even ranges that cover every key once', async () => {
  const keys = Array.from({ length: 100_000 }, (_, i) => `logs/${pad(i, 7)}.json`);
  const { sorted, first, calls } = bucketOf(keys, 'logs/');
  const splits = await findSplitKeys(first, 'logs/', null, 7);
  expect(splits).toHaveLength(7);
  for (const s of splits) expect(keys).toContain(s);
  const parts = ranges(sorted, null, splits);
  expect(parts.flat()).toEqual(sorted);
  // Evenly spread: no range more than twice the mean.
  expect(Math.max(...parts.map((p) => p.length))).toBeLessThan((2 * keys.length) / parts.length);
  // A few binary-search steps and one probe per candidate character: not a walk of the keys.
  expect(calls.n).toBeLessThan(50);
});

test('keys after the cursor only: the split starts past it', async () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `p/${pad(i, 6)}`);
  const { sorted, first } = bucketOf(keys, 'p/');
  const cursor = 'p/005000';
  const splits = await findSplitKeys(first, 'p/', cursor, 3);
  expect(splits.length).toBeGreaterThanOrEqual(2);
  for (const s of splits) expect(byteOrder(s, cursor)).toBeGreaterThan(0);
  const parts = ranges(sorted, cursor, splits);
  expect(parts.flat()).toEqual(sorted.filter((k) => byteOrder(k, cursor) > 0));
});

test('hierarchical keys split at their folders', async () => {
  const keys: string[] = [];
  for (const day of ['2026-12-01', '2026-12-02', '2026-12-03', '2026-12-04'])
    for (let i = 0; i < 50; i++) keys.push(`app/${day}/host-${pad(i, 3)}.log`);
  const { sorted, first } = bucketOf(keys, 'app/');
  const splits = await findSplitKeys(first, 'app/', null, 3);
  expect(splits.length).toBe(3);
  expect(ranges(sorted, null, splits).flat()).toEqual(sorted);
  expect(new Set(splits.map((s) => s.split('/')[1])).size).toBe(3);
});

test('keys with characters the probes skip are still covered', async () => {
  const keys = ['x/\u00e9a', 'x/\u00e9b', 'x/ space', 'x/\u4e2d1', 'x/\u4e2d2', 'x/plain'];
  const { sorted, first } = bucketOf(keys, 'x/');
  const splits = await findSplitKeys(first, 'x/', null, 4);
  expect(ranges(sorted, null, splits).flat()).toEqual(sorted);
});

test('nothing to split: no keys, one key, or the cursor at the end', async () => {
  expect(await findSplitKeys(bucketOf([]).first, 'a/', null, 3)).toEqual([]);
  expect(await findSplitKeys(bucketOf(['a/only']).first, 'a/', null, 3)).toEqual([]);
  expect(await findSplitKeys(bucketOf(['a/1', 'a/2']).first, 'a/', 'a/2', 3)).toEqual([]);
});

test('random hex keys split into ranges none of which holds more than three times its share', async () => {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const keys = Array.from(
    { length: 20_000 },
    () =>
      `h/${Math.floor(rand() * 2 ** 32)
        .toString(16)
        .padStart(8, '0')}`,
  );
  const { sorted, first, calls } = bucketOf(keys, 'h/');
  const splits = await findSplitKeys(first, 'h/', null, 7);
  expect(splits.length).toBeGreaterThanOrEqual(5);
  const parts = ranges(sorted, null, splits);
  expect(parts.flat()).toEqual(sorted);
  expect(Math.max(...parts.map((p) => p.length))).toBeLessThan((3 * sorted.length) / parts.length);
  expect(calls.n).toBeLessThan(50);
});
