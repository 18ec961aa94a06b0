/**
 * The S3 scanner. `scanS3` lists and records many pages per call: one
 * `StartAfter` from the durable cursor to begin (or resume after a crash),
 * then continuation tokens, with the next page listed while the current one
 * commits. `scanS3Page` (one page per call) stays for histories recorded
 * before it.
 */
import { Context } from '@temporalio/activity';
import type { S3ScannerConfig } from './config';
import type { BufferSnapshot, FileRecords, NewS3File, ScannerState } from '../../store/ingestion-store';
import { callStartFor, returnForFlushAt } from '../../activities/buffer';
import type { ListPage, S3Lister } from '../../s3-list';
import type { DepsWith } from '../../activities/deps';
import { classifyAwsError } from '../../activities/errors';
import { startLongCall } from '../../activities/long-call';

export interface ScanResult {
  /** Files newly recorded by this call (by the re-list too). */
  recorded: number;
  /**
   * True when the listing reached the end of the prefix (or of what has
   * settled) and no re-list pass is left unfinished by this call.
   */
  exhausted: boolean;
  /** Files the order-free re-list recorded (keys before the cursor the cursor pass never saw). */
  relisted?: number;
  /** True when the listing reached the end of the prefix with no object held back (a one-time job's scan is over). */
  complete?: boolean;
  /** The scanner's cursor after the call (null: nothing passed yet); for the Web UI's activity summaries. */
  cursor?: string | null;
  snapshot: BufferSnapshot;
}

const PAGE_SIZE = 1000;

export interface Page {
  /** Objects listed, directory markers included (they move the cursor too). */
  objects: number;
  files: NewS3File[];
  /** How far the cursor may move: the last key before the first unsettled object (null: nowhere). */
  newCursor: string | null;
  /** The page holds an object too young for the cursor to pass: this pass ends here. */
  heldBack: boolean;
  /** The newest object's last-modified time (ms; 0 for an empty page): the scan lag's measure. */
  newest: number;
}

/**
 * Every object of the page is recorded, but the cursor passes only objects
 * older than the settle delay: a key still being uploaded beside a newer,
 * larger key is not left behind (it is listed again, and deduplicated).
 */
export function settle(config: S3ScannerConfig, page: ListPage): Page {
  const objects = page.objects;
  const files = filesOf(config, objects);
  const settledBefore = Date.now() - config.settle_delay_sec * 1000;
  let newCursor: string | null = null;
  for (const o of objects) {
    if (o.lastModified > settledBefore) break;
    newCursor = o.key;
  }
  return {
    objects: objects.length,
    files,
    newCursor,
    heldBack: newCursor !== (objects.at(-1)?.key ?? null),
    newest: objects.reduce((n, o) => Math.max(n, o.lastModified), 0),
  };
}

/** The files of a listed page, directory markers left out. */
export function filesOf(config: S3ScannerConfig, objects: ListPage['objects']): NewS3File[] {
  return objects
    .filter((o) => !o.key.endsWith('/'))
    .map((o) => ({ s3: { bucket: config.bucket_name, key: o.key }, size: o.size }));
}

export function lister(list: S3Lister, config: S3ScannerConfig, signal?: AbortSignal) {
  return (from: { startAfter?: string | null; token?: string; maxKeys?: number }) =>
    list(
      {
        bucket: config.bucket_name,
        prefix: config.key_prefix,
        maxKeys: from.maxKeys ?? PAGE_SIZE,
        ...(from.token
          ? { continuationToken: from.token }
          : { startAfter: from.startAfter ?? config.start_after }),
      },
      signal,
    ).catch((err) => classifyAwsError(err, `listing s3://${config.bucket_name}/${config.key_prefix}`));
}

/** `key` sorts at or before `cursor` in S3's order (UTF-8 bytes, not JavaScript's UTF-16 units). */
export function notAfter(key: string, cursor: string): boolean {
  return Buffer.compare(Buffer.from(key, 'utf8'), Buffer.from(cursor, 'utf8')) <= 0;
}

/**
 * Order-free scanning (`rescan_interval_sec`): the cursor pass never looks
 * back, so an object uploaded under a key that sorts before the cursor would
 * never be ingested. Every `rescan_interval_sec` a pass lists the prefix
 * again from the beginning (or `start_after`) up to the cursor, page by
 * page, and records every key not yet recorded (INSERT IGNORE on the job's
 * unique key: exactly once). Keys past the cursor are the cursor pass's.
 *
 * The pass is durable in the scanner state (when it began, the last key it
 * recorded), so it goes on where it stopped after a return for a flush, a
 * deadline, a pause or a crash; each page's commit is compare-and-set on
 * that position, so a zombie call stops at its next page. It runs after the
 * cursor pass has caught up in a call, under the same stop conditions.
 */
async function rescan(
  store: ScannerState,
  list: ReturnType<typeof lister>,
  jobId: number,
  config: S3ScannerConfig,
  shouldStop: () => boolean,
  onRecorded: () => Promise<void>,
): Promise<{ recorded: number; finished: boolean }> {
  const intervalMs = (config.rescan_interval_sec ?? 0) * 1000;
  let state = await store.getRescanState(jobId);
  if (state.passTs === null) {
    const now = Date.now();
    if (state.lastTs !== null && now < state.lastTs + intervalMs) return { recorded: 0, finished: true };
    if (!(await store.startRescan(jobId, state, now))) return { recorded: 0, finished: true };
    if (state.lastTs === null) return { recorded: 0, finished: true }; // the clock starts now
    state = { ...state, passTs: now, afterKey: null };
  }
  if (shouldStop()) return { recorded: 0, finished: false };
  const passTs = state.passTs!;
  let afterKey = state.afterKey;
  let recorded = 0;
  let next: Promise<ListPage> | undefined = list({ startAfter: afterKey });
  while (next) {
    const listed: ListPage | null = await next.catch((err) => {
      if (shouldStop()) return null; // cancelled while listing ahead
      throw err;
    });
    if (!listed) return { recorded, finished: false };
    // Up to the cursor only (read per page: the cursor pass may have moved it meanwhile).
    const cursor: string | null = await store.getScannerCursor(jobId);
    const upTo: ListPage['objects'] =
      cursor === null ? [] : listed.objects.filter((o) => notAfter(o.key, cursor));
    const done: boolean = !listed.isTruncated || upTo.length < listed.objects.length;
    next = done ? undefined : list({ token: listed.nextContinuationToken });
    next?.catch(() => undefined); // awaited next round, or abandoned
    const n = await store.recordRescanPage(jobId, filesOf(config, upTo), passTs, afterKey, {
      afterKey: upTo.at(-1)?.key ?? afterKey,
      done,
    });
    if (n === null) return { recorded, finished: true }; // another call owns the pass now
    recorded += n;
    afterKey = upTo.at(-1)?.key ?? afterKey;
    if (n > 0) await onRecorded();
    if (done) return { recorded, finished: true };
    if (shouldStop()) return { recorded, finished: false };
  }
  return { recorded, finished: true };
}

export function s3ScanActivities({
  store,
  s3List,
  metrics,
}: DepsWith<ScannerState & FileRecords, 's3List' | 'metrics'>) {
  const lag = (jobId: number, page: Page) => {
    if (page.newest) metrics.scanLag(jobId, 's3_scanner', (Date.now() - page.newest) / 1000);
  };
  /** Per job: the continuation token a call stopped at, and the cursor it had committed by then. */
  const listings = new Map<number, { cursor: string | null; token: string }>();
  return {
    /**
     * Lists and records pages until the listing is exhausted, a flush is due,
     * `maxDurationMs` passes or the call is cancelled (pause, stop): each page
     * with the advanced cursor in one transaction, compare-and-set on the
     * cursor, so a retried or zombie call never records a page twice (its
     * next commit finds the cursor moved and it stops).
     */
    async scanS3(jobId: number, config: S3ScannerConfig, maxDurationMs: number): Promise<ScanResult> {
      const ctx = Context.current();
      const deadline = Date.now() + maxDurationMs;
      let recorded = 0;
      const { stop, finish } = startLongCall(ctx, () => ({ recorded }));
      try {
        const list = lister(
          s3List({ region: config.region, endpointUrl: config.endpoint_url }),
          config,
          stop.signal,
        );
        let cursor = await store.getScannerCursor(jobId);
        // Return when the workflow must flush files it learns of only from this call (see buffer.ts).
        const atStart = await store.bufferSnapshot(jobId);
        const callStart = callStartFor(ctx.info, atStart);
        let flushAt = returnForFlushAt(config.buffer_config, atStart, callStart);
        // Where this worker's last call on the job stopped: its listing goes on from
        // there (a new listing makes the store walk the prefix afresh, which costs more
        // the more keys it holds) as long as the durable cursor is where that call left it.
        const resume = listings.get(jobId);
        listings.delete(jobId);
        let next: Promise<ListPage> | undefined =
          resume && resume.cursor === cursor
            ? list({ token: resume.token }).catch(() => list({ startAfter: cursor }))
            : list({ startAfter: cursor });
        let exhausted = false;
        let relisted = 0;
        let complete = false;
        while (next) {
          const listed: ListPage | null = await next.catch((err) => {
            if (stop.signal.aborted) return null; // cancelled while listing ahead
            throw err;
          });
          if (!listed) break;
          const page = settle(config, listed);
          // List ahead while this page commits.
          next =
            listed.isTruncated && !page.heldBack ? list({ token: listed.nextContinuationToken }) : undefined;
          next?.catch(() => undefined); // awaited next round, or abandoned
          const n = page.objects ? await store.recordS3Page(jobId, page.files, cursor, page.newCursor) : 0;
          if (n === null) break; // another call moved the cursor: it owns the listing now
          lag(jobId, page);
          recorded += n;
          cursor = page.newCursor ?? cursor;
          if (!next) {
            exhausted = true;
            complete = !page.heldBack;
            break;
          }
          if (n > 0)
            flushAt = returnForFlushAt(config.buffer_config, await store.bufferSnapshot(jobId), callStart);
          if (stop.signal.aborted || Date.now() >= Math.min(deadline, flushAt)) {
            if (listed.nextContinuationToken)
              listings.set(jobId, { cursor, token: listed.nextContinuationToken });
            break;
          }
        }
        if (exhausted && config.rescan_interval_sec !== undefined && !stop.signal.aborted) {
          // The cursor has caught up: the order-free re-list, if one is due or unfinished.
          const r = await rescan(
            store,
            list,
            jobId,
            config,
            () => stop.signal.aborted || Date.now() >= Math.min(deadline, flushAt),
            async () => {
              flushAt = returnForFlushAt(config.buffer_config, await store.bufferSnapshot(jobId), callStart);
            },
          );
          relisted = r.recorded;
          recorded += r.recorded;
          // An unfinished pass: the workflow calls again at once (after its flush), not a scanning interval later.
          exhausted = r.finished;
        }
        stop.abort(); // drops a listing still in flight
        return {
          recorded,
          exhausted,
          complete,
          cursor,
          ...(relisted ? { relisted } : {}),
          snapshot: await store.bufferSnapshot(jobId),
        };
      } finally {
        finish();
      }
    },

    /** One page per call (workflow histories from before scanS3). */
    async scanS3Page(jobId: number, config: S3ScannerConfig): Promise<ScanResult> {
      const cursor = await store.getScannerCursor(jobId);
      const listed = await lister(
        s3List({ region: config.region, endpointUrl: config.endpoint_url }),
        config,
      )({
        startAfter: cursor,
      });
      const page = settle(config, listed);
      const recorded = page.objects
        ? ((await store.recordS3Page(jobId, page.files, cursor, page.newCursor)) ?? 0)
        : 0;
      return {
        recorded,
        exhausted: !listed.isTruncated || page.heldBack,
        snapshot: await store.bufferSnapshot(jobId),
      };
    },
  };
}
