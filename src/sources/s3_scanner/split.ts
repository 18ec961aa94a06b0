/**
 * Split listing: one S3-scanner job's listing shared by several workers.
 * S3 lists a prefix in one sequence of pages, so a job over a huge bucket is
 * bound to the speed of one lister. With `listing_parallelism` > 1 the keys
 * after the job's cursor are split into key ranges at real keys found by
 * probing (`findSplitKeys`), each range is listed by its own activity (any
 * worker may take it), and the cursor moves past them all when every
 * bounded range is done (src/store/split-listing.ts). Each range keeps its own
 * position, moved in the transaction that records its page, compare-and-set,
 * so retries and zombie calls record nothing twice.
 */
import { Context } from '@temporalio/activity';
import type { S3ScannerConfig } from './config';
import type { BufferSnapshot, FileRecords, ScannerState, SplitListing } from '../../store/ingestion-store';
import { callStartFor, returnForFlushAt } from '../../activities/buffer';
import { startLongCall } from '../../activities/long-call';
import type { ListPage } from '../../s3-list';
import type { DepsWith } from '../../activities/deps';
import { lister, notAfter, settle } from './activities';

/**
 * Characters a key's next character is probed at. Keys are mostly letters,
 * digits and a few separators; a key with others is still listed (every
 * split point is a real key, and the ranges cover every key), only the
 * split is less even.
 */
const PROBE_CHARS = [
  ..."!#$%&'()*+,-./0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~",
];
/** Sorts after every character a key may hold: `first(p + TOP)` finds no key that starts with p. */
const TOP = '\u{10FFFF}';
/** MinIO refuses a StartAfter whose last path component is "." or "..". */
const DOT_COMPONENT = /(^|\/)\.\.?$/;
const PROBE_CONCURRENCY = 8;
/** Characters probed at most (evenly spaced over those the keys may have there). */
const MAX_PROBES = 24;
/** Ranges per unit of parallelism: more ranges than listers, so a small range frees its lister for another. */
const RANGES_PER_LISTER = 4;
export const MAX_RANGES = 64;

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

/** The largest i in [lo, hi] with ok(i), given ok(lo) and ok monotonic (true, then false). */
async function lastTrue(lo: number, hi: number, ok: (i: number) => Promise<boolean>): Promise<number> {
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Up to `want` real keys after `lo` (in S3's order), spread over the keys
 * after it, from a few one-key listings (`first(p)`: the first key after p,
 * or null): the keys' common part by binary search (no key after
 * part + TOP), the highest next character they have by binary search, then
 * one probe per character from the first key's up to that one. Returns []
 * when the keys cannot be split (none, one, or one next character).
 */
export async function findSplitKeys(
  first: (startAfter: string | null) => Promise<string | null>,
  prefix: string,
  lo: string | null,
  want: number,
): Promise<string[]> {
  const head = await first(lo);
  if (head === null || want < 1) return [];
  // A probe a server refuses only makes the split less even: every split point is a real key.
  const probe = (p: string) => (DOT_COMPONENT.test(p) ? Promise.resolve(null) : first(p).catch(() => null));
  const none = async (p: string) => (await probe(p + TOP)) === null;
  const common = await lastTrue(prefix.length, head.length, (n) => none(head.slice(0, n)));
  const base = head.slice(0, common);
  const from = PROBE_CHARS.findIndex((c) => head.length === common || byteOrder(c, head[common]) >= 0);
  if (from === -1) return [];
  // The highest probe character some key after the common part reaches (or passes).
  const top = await lastTrue(
    from,
    PROBE_CHARS.length - 1,
    async (i) => !(await none(base + PROBE_CHARS[i - 1])),
  );
  const candidates = PROBE_CHARS.slice(from, top + 1);
  const step = Math.max(1, candidates.length / MAX_PROBES);
  const probes = Array.from(
    { length: Math.min(MAX_PROBES, candidates.length) },
    (_, i) => base + candidates[Math.floor(i * step)],
  ).filter((p) => lo === null || byteOrder(p, lo) > 0);
  const found = await mapLimit(probes, PROBE_CONCURRENCY, probe);
  const keys = [...new Set(found.filter((k): k is string => k !== null && k !== head))].sort(byteOrder);
  return keys.length ? spread(keys, want) : [];
}

/** `want` of the keys, evenly spaced (all of them when there are fewer). */
function spread(keys: string[], want: number): string[] {
  if (keys.length <= want) return keys;
  return Array.from({ length: want }, (_, i) => keys[Math.floor(((i + 1) * keys.length) / (want + 1))]);
}

export interface SplitPlan {
  /** The ranges still to list (their indices); [] when the listing is not split. */
  ranges: number[];
  /** The open-ended last range's index (-1: not split). */
  openRange: number;
}

export interface RangeScanResult {
  recorded: number;
  /** A bounded range listed to its end with nothing held back; for the open range, it reached the prefix's end. */
  listed: boolean;
  snapshot: BufferSnapshot;
}

export function s3ScanSplitActivities({
  store,
  s3List,
  metrics,
}: DepsWith<ScannerState & SplitListing & FileRecords, 's3List' | 'metrics'>) {
  const planOf = (ranges: { idx: number; endKey: string | null; done: boolean }[]): SplitPlan => ({
    ranges: ranges.filter((r) => !r.done).map((r) => r.idx),
    openRange: ranges.find((r) => r.endKey === null)?.idx ?? -1,
  });
  return {
    /**
     * The job's split in progress, or a new one of the keys after the cursor
     * into ranges for `listing_parallelism` listers. Not split ([]) when the
     * keys cannot be split.
     */
    async planS3Split(jobId: number, config: S3ScannerConfig): Promise<SplitPlan> {
      const running = await store.getSplit(jobId);
      if (running.length) return planOf(running);
      const cursor = await store.getScannerCursor(jobId);
      const lo = cursor ?? config.start_after ?? null;
      const list = lister(s3List({ region: config.region, endpointUrl: config.endpoint_url }), config);
      const first = async (startAfter: string | null) => {
        const page = await list({ startAfter, maxKeys: 1 });
        return page.objects[0]?.key ?? null;
      };
      const want = Math.min(MAX_RANGES - 1, (config.listing_parallelism ?? 1) * RANGES_PER_LISTER - 1);
      const keys = await findSplitKeys(first, config.key_prefix, lo, want);
      if (keys.length === 0) return { ranges: [], openRange: -1 };
      const starts = [lo, ...keys];
      const bounds = starts.map((startAfter, i) => ({ startAfter, endKey: keys[i] ?? null }));
      const started = (await store.startSplit(jobId, cursor, bounds)) ?? (await store.getSplit(jobId));
      return planOf(started);
    },

    /**
     * Lists one range of the job's split from where it got to, until it is
     * listed to its end, an object too young to pass holds it back, a flush
     * is due, `maxDurationMs` passes or the call is cancelled.
     */
    async scanS3Range(
      jobId: number,
      config: S3ScannerConfig,
      idx: number,
      maxDurationMs: number,
    ): Promise<RangeScanResult> {
      const ctx = Context.current();
      const deadline = Date.now() + maxDurationMs;
      let recorded = 0;
      const { stop, finish } = startLongCall(ctx, () => ({ recorded }));
      try {
        const range = (await store.getSplit(jobId)).find((r) => r.idx === idx);
        if (!range || range.done)
          return { recorded, listed: true, snapshot: await store.bufferSnapshot(jobId) };
        const atStart = await store.bufferSnapshot(jobId);
        const callStart = callStartFor(ctx.info, atStart);
        let flushAt = returnForFlushAt(config.buffer_config, atStart, callStart);
        const list = lister(
          s3List({ region: config.region, endpointUrl: config.endpoint_url }),
          config,
          stop.signal,
        );
        const { endKey } = range;
        let position = range.position;
        let listed = false;
        let next: Promise<ListPage> | undefined = list({ startAfter: position });
        while (next) {
          const page: ListPage | null = await next.catch((err) => {
            if (stop.signal.aborted) return null;
            throw err;
          });
          if (!page) break;
          const inRange: ListPage['objects'] =
            endKey === null ? page.objects : page.objects.filter((o) => notAfter(o.key, endKey));
          const atEnd: boolean = inRange.length < page.objects.length || !page.isTruncated;
          const settled = settle(config, { ...page, objects: inRange });
          next = !atEnd && !settled.heldBack ? list({ token: page.nextContinuationToken }) : undefined;
          next?.catch(() => undefined);
          const done = endKey !== null && atEnd && !settled.heldBack;
          const moved = settled.newCursor ?? position;
          const n =
            settled.objects || done
              ? await store.recordRangePage(jobId, idx, settled.files, position, { position: moved, done })
              : 0;
          if (n === null) break; // another call took this range on
          if (settled.newest) metrics.scanLag(jobId, 's3_scanner', (Date.now() - settled.newest) / 1000);
          recorded += n;
          position = moved;
          if (!next) {
            listed = atEnd && !settled.heldBack;
            break;
          }
          if (n > 0)
            flushAt = returnForFlushAt(config.buffer_config, await store.bufferSnapshot(jobId), callStart);
          if (stop.signal.aborted || Date.now() >= Math.min(deadline, flushAt)) break;
        }
        stop.abort();
        return { recorded, listed, snapshot: await store.bufferSnapshot(jobId) };
      } finally {
        finish();
      }
    },

    /** Ends the split once every bounded range is done: the cursor moves past them all. */
    async endS3Split(jobId: number): Promise<{ ended: boolean; cursor: string | null; pending: number[] }> {
      const r = await store.endSplitIfListed(jobId);
      return { ...r, pending: r.ended ? [] : planOf(await store.getSplit(jobId)).ranges };
    },
  };
}
