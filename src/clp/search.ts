/**
 * Search a dataset's archives with CLP's clp-s, as CLP's query scheduler and
 * workers do: the archives come from `clp_<dataset>_archives` (a file in the
 * storage directory without a row there is never searched), picked by time
 * range, newest first; each is searched by its own `clp-s s` (`--archive-id`
 * in the dataset's directory, or the single-file archive's S3 URL with
 * `--auth s3`), one at a time, its JSON lines streamed back as they come.
 *
 * Bounded: at most `limit` hits; when one more exists the child is stopped
 * and the search ends `truncated`. Nothing is held but the current line.
 *
 * What clp-s 0.12.1b0 does, and this module relies on (test/integration/search.test.ts):
 * - errors are `<time> [error] <message>` lines on stderr and exit code 1: a KQL
 *   syntax error is `Parser error: ...` or `Lexer error: ...`, printed before
 *   any archive is opened; a query that can never match is `Query '...' is
 *   logically false`;
 * - `--tge` / `--tle` on an archive without a timestamp column (its row says
 *   0/0) fails with "no authoritative timestamp column", so such archives are
 *   left out of every time-bounded search: their events have no timestamp to
 *   be in a range;
 * - `--tge` / `--tle` beyond ±9223372036854 ms (ns overflow) silently match
 *   nothing, so bounds are refused outside that range.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { InvalidConfigError } from '../config/job-config';
import type { Settings } from '../config/settings';
import { NotFoundError } from '../store/records';
import { DATASETS_TABLE, datasetTables, findDataset, type DatasetRow } from './metadata';
import { clpS3Url } from './s3-url';

export const DEFAULT_SEARCH_LIMIT = 1_000;
export const MAX_SEARCH_LIMIT = 100_000;
/** The widest --tge / --tle clp-s takes: it counts nanoseconds in an int64. */
export const MAX_TIMESTAMP_MS = 9_223_372_036_854;

/** One matching event and the archive it came from. */
export interface SearchHit {
  archive_id: string;
  /** The event as clp-s prints it (one JSON object per line). */
  event: Record<string, unknown>;
}

export interface SearchOptions {
  dataset: string;
  /** KQL, e.g. `level: "ERROR" AND msg: "*timeout*"`; `*` matches every event. */
  query: string;
  /** Epoch ms: events at or after (clp-s --tge); archives ending before it are not searched. */
  begin?: number;
  /** Epoch ms: events at or before (clp-s --tle); archives beginning after it are not searched. */
  end?: number;
  /** At most this many hits (default 1,000; 1..100,000, or Infinity for programmatic callers). */
  limit?: number;
  /** Also matches values whose case differs (clp-s --ignore-case). */
  ignoreCase?: boolean;
}

/** What a finished search did: the generator's return value. */
export interface SearchSummary {
  hits: number;
  /** More hits exist than `limit`: the search stopped there. */
  truncated: boolean;
  /** Archives whose time range overlaps the search's (all of the dataset's without one). */
  archivesSelected: number;
  /** Archives clp-s was run on before the search ended. */
  archivesSearched: number;
}

/** Where a dataset's archives are and how clp-s reaches them (from the settings; see searchContext). */
export interface SearchContext {
  /** Reads clp_datasets and the dataset's archives table (the API's user suffices once granted). */
  db: Pool;
  /** The clp-s binary (CLP_S_PATH). */
  clpS: string;
  /** Set when archives are stored in S3 (CLP_ARCHIVE_S3_BUCKET): the bucket and how to reach it. */
  s3?: {
    bucket: string;
    /** AWS_ENDPOINT_URL_S3 (path-style URLs), or undefined for AWS itself. */
    endpoint?: string;
    region: string;
    /** Handed to clp-s in its environment only, never on its command line. */
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };
}

export function searchContext(settings: Pick<Settings, 'executor' | 'aws'>, db: Pool): SearchContext {
  const archiveS3 = settings.executor.archiveS3;
  return {
    db,
    clpS: settings.executor.clpS,
    s3: archiveS3 && {
      bucket: archiveS3.bucket,
      endpoint: settings.aws.s3Endpoint,
      region: settings.aws.region,
      credentials: settings.aws.credentials,
    },
  };
}

/** A search's input is wrong (the message names the field): CLI exit 2, REST 400. */
export class SearchInputError extends InvalidConfigError {
  override name = 'SearchInputError';
}

/** clp-s refused the query (the message names it and quotes clp-s). */
export class InvalidQueryError extends SearchInputError {
  override name = 'InvalidQueryError';
}

/** CLP has no such dataset (no row in clp_datasets): CLI exit 3, REST 404. */
export class UnknownDatasetError extends NotFoundError {
  override name = 'UnknownDatasetError';
}

/** clp-s failed on an archive for a reason other than the query (missing archive, S3 refused, ...). */
export class ArchiveSearchError extends Error {
  override name = 'ArchiveSearchError';
}

/**
 * A time given as epoch ms (`1700000000000`) or ISO-8601 (`2023-11-14`,
 * `2023-11-14T22:13:20Z`, `2023-11-14T23:13:20.5+01:00`; a time of day needs
 * its offset). `field` names the flag or parameter in the error.
 */
export function parseSearchTime(value: string, field: string): number {
  const v = value.trim();
  let ms: number;
  if (/^-?\d+$/.test(v)) {
    ms = Number(v);
  } else {
    const m =
      /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2}))?$/i.exec(
        v,
      );
    const day = m && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    if (!m || !day || day.getUTCDate() !== Number(m[3]) || day.getUTCMonth() !== Number(m[2]) - 1) {
      throw new SearchInputError(
        `${field}: "${value}" is neither epoch milliseconds nor an ISO-8601 time (e.g. 2024-05-01T12:00:00Z)`,
      );
    }
    ms = Date.parse(v.replace(' ', 'T'));
    if (Number.isNaN(ms)) throw new SearchInputError(`${field}: "${value}" is not a valid ISO-8601 time`);
  }
  if (!Number.isSafeInteger(ms) || Math.abs(ms) > MAX_TIMESTAMP_MS) {
    throw new SearchInputError(
      `${field}: ${value} is outside the times clp-s can search (±${MAX_TIMESTAMP_MS} ms, the year 2262)`,
    );
  }
  return ms;
}

/** Checks the options; returns the limit. */
function checkOptions(opts: SearchOptions): number {
  try {
    datasetTables(opts.dataset);
  } catch (err) {
    throw new SearchInputError(`dataset: ${(err as Error).message}`);
  }
  if (typeof opts.query !== 'string' || opts.query.trim() === '') {
    throw new SearchInputError('query: must not be empty (`*` matches every event)');
  }
  for (const [field, t] of [
    ['begin', opts.begin],
    ['end', opts.end],
  ] as const) {
    if (t !== undefined && (!Number.isSafeInteger(t) || Math.abs(t) > MAX_TIMESTAMP_MS)) {
      throw new SearchInputError(`${field}: ${t} is not epoch milliseconds within ±${MAX_TIMESTAMP_MS}`);
    }
  }
  if (opts.begin !== undefined && opts.end !== undefined && opts.begin > opts.end) {
    throw new SearchInputError(`begin (${opts.begin}) is after end (${opts.end})`);
  }
  const limit = opts.limit ?? DEFAULT_SEARCH_LIMIT;
  if (limit !== Infinity && (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT)) {
    throw new SearchInputError(`limit: must be an integer from 1 to ${MAX_SEARCH_LIMIT}, got ${limit}`);
  }
  return limit;
}

const ACCESS_DENIED = /^ER_(TABLEACCESS|DBACCESS|COLUMNACCESS)_DENIED_ERROR$/;

function explainDbError(err: unknown, what: string): never {
  const code = (err as { code?: string }).code ?? '';
  if (ACCESS_DENIED.test(code)) {
    throw new Error(
      `search: this DB user may not read ${what} (${(err as Error).message}); it needs SELECT on ${DATASETS_TABLE} and the dataset's archives table (clp-ingestor migrate grants them)`,
    );
  }
  throw err;
}

/** The dataset's row, or UnknownDatasetError. */
export async function requireDataset(db: Pool, dataset: string): Promise<DatasetRow> {
  const row = await findDataset(db, dataset).catch((err) => explainDbError(err, DATASETS_TABLE));
  if (!row) {
    throw new UnknownDatasetError(`dataset "${dataset}" does not exist (CLP has no archives for it)`);
  }
  return row;
}

export interface ArchiveRow {
  id: string;
  beginTimestamp: number;
  endTimestamp: number;
}

/**
 * The dataset's registered archives that may hold events in [begin, end]
 * (both optional), newest first as CLP's scheduler orders them. An archive
 * overlaps when end_timestamp >= begin and begin_timestamp <= end; with
 * either bound, archives without timestamps (0/0) are left out.
 */
export async function selectArchives(
  db: Pool,
  dataset: string,
  range: { begin?: number; end?: number } = {},
): Promise<ArchiveRow[]> {
  const { archives } = datasetTables(dataset);
  const where: string[] = [];
  const params: number[] = [];
  if (range.begin !== undefined) {
    where.push('end_timestamp >= ?');
    params.push(range.begin);
  }
  if (range.end !== undefined) {
    where.push('begin_timestamp <= ?');
    params.push(range.end);
  }
  if (where.length) where.push('NOT (begin_timestamp = 0 AND end_timestamp = 0)');
  const [rows] = await db
    .query<RowDataPacket[]>(
      `SELECT id, begin_timestamp, end_timestamp FROM \`${archives}\`${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
       ORDER BY end_timestamp DESC, pagination_id DESC`,
      params,
    )
    .catch((err) => explainDbError(err, archives));
  return rows.map((r) => ({
    id: String(r.id),
    beginTimestamp: Number(r.begin_timestamp),
    endTimestamp: Number(r.end_timestamp),
  }));
}

/** The environment clp-s runs with: no secrets of ours but the S3 credentials it needs. */
function childEnv(ctx: Pick<SearchContext, 's3'>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'LD_LIBRARY_PATH']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  const c = ctx.s3?.credentials;
  if (c) {
    env.AWS_ACCESS_KEY_ID = c.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
    if (c.sessionToken) env.AWS_SESSION_TOKEN = c.sessionToken;
  }
  return env;
}

/** The clp-s arguments that name one archive (before the query), and how to name it in errors. */
function archiveArgs(
  ctx: SearchContext,
  dataset: DatasetRow,
  archiveId: string,
): { args: string[]; where: string } {
  const dir = dataset.archiveStorageDirectory;
  if (ctx.s3) {
    if (path.isAbsolute(dir)) {
      throw new ArchiveSearchError(
        `dataset "${dataset.name}" stores its archives in the directory ${dir}, but archives are configured to be in S3 (CLP_ARCHIVE_S3_BUCKET)`,
      );
    }
    if (!ctx.s3.credentials) {
      throw new ArchiveSearchError(
        'archives in S3 are read by clp-s with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (--auth s3), which are not set',
      );
    }
    const url = clpS3Url(
      ctx.s3.endpoint ?? null,
      ctx.s3.endpoint ? null : ctx.s3.region,
      ctx.s3.bucket,
      `${dir}/${archiveId}`,
    );
    return { args: [url, '--auth', 's3'], where: url };
  }
  if (!path.isAbsolute(dir)) {
    throw new ArchiveSearchError(
      `dataset "${dataset.name}" stores its archives under "${dir}", not a directory (archives in S3? set CLP_ARCHIVE_S3_BUCKET)`,
    );
  }
  return { args: [dir, '--archive-id', archiveId], where: path.join(dir, archiveId) };
}

/** clp-s's `[error]` messages on stderr, without their timestamps; else its last lines. */
function clpSErrors(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  const errors = lines.flatMap((l) => {
    const m = /\[(?:error|critical)\]\s*(.*)$/.exec(l);
    return m ? [m[1].trim()] : [];
  });
  return (errors.length ? errors : lines.filter(Boolean).slice(-3)).join('; ');
}

const QUERY_ERRORS = [
  /^Parser error:/,
  /^Lexer error:/,
  /^Query .* is logically false$/s,
  /^No query specified$/,
];

function isQueryError(message: string): boolean {
  return QUERY_ERRORS.some((re) => re.test(message));
}

function queryError(query: string, message: string): InvalidQueryError {
  return new InvalidQueryError(`query ${JSON.stringify(query)} is not valid KQL: ${message}`);
}

const MAX_STDERR = 64 * 1024;

/**
 * Runs `clp-s s <args>` and yields its stdout lines as they come. Stopping
 * early (return or throw in the consumer) kills the child. A non-zero exit
 * throws with clp-s's messages (`onFailure` picks the error).
 */
async function* clpSLines(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  onFailure: (message: string) => Error,
): AsyncGenerator<string, void, undefined> {
  const child = spawn(bin, ['s', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < MAX_STDERR) stderr += d.slice(0, MAX_STDERR - stderr.length);
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  );
  let finished = false;
  try {
    const decoder = new StringDecoder('utf8');
    let carry = '';
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      const text = carry + decoder.write(chunk);
      const lines = text.split('\n');
      carry = lines.pop()!;
      for (const line of lines) if (line.trim()) yield line;
    }
    carry += decoder.end();
    if (carry.trim()) yield carry;
    const { code, signal, error } = await closed;
    finished = true;
    if (error) {
      const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : error.message;
      throw new Error(`CLP_S_PATH: clp-s ${bin} ${why} (scripts/stack.sh install puts it in place)`);
    }
    if (code !== 0) throw onFailure(clpSErrors(stderr) || `exit code ${code ?? signal}`);
  } finally {
    if (!finished) {
      // Stopped early: the child may be writing more; it has nothing to clean up.
      child.stdout.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await closed;
      clearTimeout(timer);
    }
  }
}

/**
 * Asks clp-s to parse the query (against no archive): throws InvalidQueryError
 * if it refuses it, so a bad query is named even when no archive is selected.
 */
export async function checkQuery(clpS: string, query: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clp-ingestor-query-check-'));
  const noArchive = new Error('no archive');
  try {
    const lines = clpSLines(clpS, [path.join(dir, 'none'), query], childEnv({}), (m) =>
      isQueryError(m) ? queryError(query, m) : noArchive,
    );
    // clp-s prints no events without an archive.
    while (!(await lines.next()).done);
  } catch (err) {
    // Failing to open the archive that is not there means the query parsed.
    if (err !== noArchive) throw err;
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

/** The lines clp-s prints for one archive of the search. */
function archiveLines(
  ctx: SearchContext,
  dataset: DatasetRow,
  archiveId: string,
  opts: SearchOptions,
): AsyncGenerator<string, void, undefined> {
  const { args, where } = archiveArgs(ctx, dataset, archiveId);
  const extra: string[] = [];
  if (opts.begin !== undefined) extra.push('--tge', String(opts.begin));
  if (opts.end !== undefined) extra.push('--tle', String(opts.end));
  if (opts.ignoreCase) extra.push('--ignore-case');
  return clpSLines(ctx.clpS, [...args, opts.query, ...extra], childEnv(ctx), (message) =>
    isQueryError(message)
      ? queryError(opts.query, message)
      : new ArchiveSearchError(
          `clp-s could not search archive ${archiveId} of dataset "${dataset.name}" (${where}): ${message}`,
        ),
  );
}

/**
 * Searches the dataset: yields each matching event with its archive's id,
 * archive after archive (newest first), and returns what it did. Throws
 * SearchInputError (bad option, naming it), InvalidQueryError (clp-s refused
 * the query), UnknownDatasetError, or ArchiveSearchError (an archive could not
 * be searched: missing, unreadable, S3 refused). Leaving the loop early stops
 * the running clp-s.
 */
export async function* searchDataset(
  ctx: SearchContext,
  opts: SearchOptions,
): AsyncGenerator<SearchHit, SearchSummary, undefined> {
  const limit = checkOptions(opts);
  const dataset = await requireDataset(ctx.db, opts.dataset);
  const archives = await selectArchives(ctx.db, opts.dataset, opts);
  const summary: SearchSummary = {
    hits: 0,
    truncated: false,
    archivesSelected: archives.length,
    archivesSearched: 0,
  };
  if (!archives.length) {
    await checkQuery(ctx.clpS, opts.query);
    return summary;
  }
  for (const archive of archives) {
    summary.archivesSearched++;
    for await (const line of archiveLines(ctx, dataset, archive.id, opts)) {
      if (summary.hits >= limit) {
        // One more than the limit exists: stop here (leaving the loop kills clp-s).
        summary.truncated = true;
        return summary;
      }
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new ArchiveSearchError(
          `clp-s printed a line that is not JSON for archive ${archive.id}: ${line.slice(0, 200)}`,
        );
      }
      summary.hits++;
      yield { archive_id: archive.id, event };
    }
  }
  return summary;
}

/** Runs the search to its end, handing each hit to `onHit`; returns the summary. */
export async function forEachHit(
  search: AsyncGenerator<SearchHit, SearchSummary, undefined>,
  onHit: (hit: SearchHit) => void | Promise<void>,
): Promise<SearchSummary> {
  for (;;) {
    const next = await search.next();
    if (next.done) return next.value;
    await onHit(next.value);
  }
}

/** The whole (limited) result in memory: for small searches and tests. */
export async function collectSearch(
  ctx: SearchContext,
  opts: SearchOptions,
): Promise<SearchSummary & { results: SearchHit[] }> {
  const results: SearchHit[] = [];
  const summary = await forEachHit(searchDataset(ctx, opts), (hit) => {
    results.push(hit);
  });
  return { ...summary, results };
}

/**
 * How many events of the dataset match the query (default: all of them),
 * over every registered archive, without a limit. Counts clp-s's lines
 * without parsing them.
 */
export async function countEvents(
  ctx: SearchContext,
  dataset: string,
  query = '*',
  range: { begin?: number; end?: number } = {},
): Promise<number> {
  const opts: SearchOptions = { dataset, query, ...range, limit: Infinity };
  checkOptions(opts);
  const row = await requireDataset(ctx.db, dataset);
  const archives = await selectArchives(ctx.db, dataset, range);
  if (!archives.length) await checkQuery(ctx.clpS, query);
  let n = 0;
  for (const archive of archives) {
    for await (const line of archiveLines(ctx, row, archive.id, opts)) if (line) n++;
  }
  return n;
}
