/**
 * What the store's roles share: the pool and clock, the metrics reporting
 * after a commit, the job row's lock, and the insert of files (a scanned
 * page, an SQS batch, an fs batch and a re-list page all record files the
 * same way). The one place that turns a file into its row's path and dedup
 * identity.
 */
import { hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { escape, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import type { JobKind } from '../config/job-config';
import { noIngestorMetrics, type IngestorMetrics } from '../metrics';
import type { Db, Tx } from './db';
import { clpUnreadableKeyReason } from '../clp/s3-url';
import type { FailedFile, NewFile } from './records';
import { TABLES } from './tables';

export const JOBS_TABLE = TABLES.ingestionJobs;
export const FILES_TABLE = TABLES.ingestedFiles;
export const SCANNER_STATE_TABLE = TABLES.s3ScannerState;
export const SUBMISSIONS_TABLE = TABLES.submissions;
export const ATTEMPTS_TABLE = TABLES.attempts;
export const INSERT_CHUNK = 1000;

/**
 * The job row's lock. Transactions that insert a job's files take it first,
 * so the inserters of one job (pages, concurrent SQS listeners) queue up in
 * one order instead of deadlocking on index gaps. A flush or a completion,
 * which move many existing rows, take it last and only to change the
 * counters, so they never hold up the inserters for long.
 */
export async function lockJob(tx: Tx, jobId: number): Promise<void> {
  await tx.query(`SELECT id FROM ${JOBS_TABLE} WHERE id = ? FOR UPDATE`, [jobId]);
}

/**
 * A file's row columns: path (bucket/key for S3, as CLP's ingested-file
 * records have always held it), bucket and object key.
 */
export function fileColumns(f: NewFile): [path: string, bucket: string | null, key: string | null] {
  return 's3' in f ? [`${f.s3.bucket}/${f.s3.key}`, f.s3.bucket, f.s3.key] : [f.path, null, null];
}

/** What makes a file distinct within its job: its path, and an S3 upload's version when it has one. */
export function dedupKey(f: NewFile): string {
  const [path] = fileColumns(f);
  return 's3' in f && f.version !== undefined ? `${path}\u0000${f.version}` : path;
}

/** The dedup hash as a SQL literal: sha256 of the dedup key, in hex. */
function dedupHashSql(f: NewFile): string {
  return `X'${hash('sha256', dedupKey(f), 'hex')}'`;
}

/** Bytes a string literal cannot hold as they are: the ones mysql2's escape rewrites. */
// eslint-disable-next-line no-control-regex -- these control bytes are what must be escaped
const NEEDS_ESCAPE = /[\0\b\t\n\r\x1a"'\\]/;

/** A string as a SQL literal; most keys need no escaping, and are copied as they are. */
export function sqlString(s: string | null): string {
  if (s === null) return 'NULL';
  return NEEDS_ESCAPE.test(s) ? escape(s) : `'${s}'`;
}

/** A whole number as a SQL literal (anything else is a bug, refused). */
export function sqlInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new TypeError(`not a whole number for SQL: ${n}`);
  return String(n);
}

/**
 * The values of a query whose SQL is complete: with null mysql2 sends it as
 * it is; with none it would scan the whole statement (a page's insert is
 * about 190 KB) for placeholders.
 */
const COMPLETE_SQL = null;

/**
 * The VALUES list of a multi-row insert of files, built directly: a page of
 * 1,000 files costs about a third of the CPU mysql2's generic `VALUES ?`
 * formatting takes (escaping every value by type, and the hash as a Buffer).
 */
function fileValues<F extends NewFile>(files: F[], head: (f: F) => string, tail: string): string {
  const parts = new Array<string>(files.length);
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    const [path, bucket, key] = fileColumns(f);
    parts[i] =
      `(${sqlString(path)},${sqlString(bucket)},${sqlString(key)},${sqlInt(f.size)},${head(f)},` +
      `${dedupHashSql(f)},${tail})`;
  }
  return parts.join(',');
}

/** A field of the bulk load as LOAD DATA reads it (a backslash escapes; `\N` is NULL): most keys are copied as they are. */
const TSV_SPECIAL = /[\0\t\n\r\\]/g;
const TSV_NEEDS_ESCAPE = new RegExp(TSV_SPECIAL.source);
const TSV_ESCAPES: Record<string, string> = {
  '\0': '\\0',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\\': '\\\\',
};
export function tsvField(s: string | null): string {
  if (s === null) return '\\N';
  return TSV_NEEDS_ESCAPE.test(s) ? s.replace(TSV_SPECIAL, (c) => TSV_ESCAPES[c]) : s;
}

/**
 * A file as one line of the bulk load: bucket, key, path (fs files only),
 * size, version; the path of an S3 object and every file's dedup hash are
 * computed by the server from these (see LOAD_FILE_COLUMNS).
 */
export function tsvLine(f: NewFile): string {
  if ('s3' in f)
    return `${tsvField(f.s3.bucket)}\t${tsvField(f.s3.key)}\t\\N\t${sqlInt(f.size)}\t${tsvField(f.version ?? null)}`;
  return `\\N\t\\N\t${tsvField(f.path)}\t${sqlInt(f.size)}\t\\N`;
}

/** The row's path (fileColumns) and dedup hash (dedupHashSql), in SQL over the bulk load's fields. */
const LOAD_PATH = `IF(@bucket IS NULL, @path, CONCAT(@bucket, '/', @key))`;
const LOAD_FILE_COLUMNS =
  `(@bucket, @key, @path, size, @version) SET path = ${LOAD_PATH}, bucket = @bucket, object_key = @key, ` +
  `dedup_hash = UNHEX(SHA2(IF(@version IS NULL, ${LOAD_PATH}, CONCAT(${LOAD_PATH}, CHAR(0 USING utf8mb4), @version)), 256))`;

/**
 * What a server or connection that refuses LOAD DATA LOCAL answers: MariaDB
 * 4166 (local_infile off, or the client did not offer it), older MariaDB and
 * MySQL 1148, MySQL 8 3948 and 3950 (local_infile is off by default there).
 */
const LOAD_REFUSED = new Set([1148, 3948, 3950, 4166]);

/**
 * Fewer files than this go by INSERT: LOAD DATA LOCAL takes one round trip
 * more (the server asks for the lines, then answers), and a small batch (an
 * SQS receive of 10, committed under the job row's lock) has too few rows
 * for the cheaper parse to matter.
 */
export const BULK_LOAD_MIN_FILES = 100;

/** What an insert of files added: rows and their bytes. */
export interface Inserted {
  files: number;
  bytes: number;
  /** The rows' creation_ts (absent when nothing was inserted). */
  ts?: number;
}
export const NOTHING: Inserted = { files: 0, bytes: 0 };

export class StoreCore {
  /** Job kinds by id, for the metrics' labels (a job's kind never changes). */
  private readonly kinds = new Map<number, JobKind>();

  /**
   * Whether files are recorded by LOAD DATA LOCAL (until the server refuses
   * it once: then by multi-row INSERT, for this process's life).
   */
  private bulkLoad = true;

  constructor(
    readonly db: Db,
    readonly now: () => number,
    /** Told of what each writing transaction did, once it committed. */
    readonly metrics: IngestorMetrics,
  ) {}

  /** Reports to the metrics after a commit; a failure here never fails the caller. */
  async report(jobId: number, fn: (kind: JobKind) => void): Promise<void> {
    if (this.metrics === noIngestorMetrics) return;
    try {
      let kind = this.kinds.get(jobId);
      if (!kind) {
        const [[row]] = await this.db.query<RowDataPacket[]>(`SELECT kind FROM ${JOBS_TABLE} WHERE id = ?`, [
          jobId,
        ]);
        if (!row) return;
        this.kinds.set(jobId, (kind = row.kind as JobKind));
      }
      fn(kind);
    } catch {
      // metrics are best effort
    }
  }

  async reportRecorded(jobId: number, r: Inserted): Promise<number> {
    if (r.files) await this.report(jobId, (kind) => this.metrics.filesRecorded(kind, r.files, r.bytes));
    return r.files;
  }

  /**
   * Inserts the files not yet recorded and grows the job's counters by what
   * was inserted. The caller holds the job's row lock, so every row of this
   * job with an id from the first insert's on is one of ours: when some were
   * already recorded, their bytes are summed from that id range (O(page)).
   */
  async insertFiles(tx: Tx, jobId: number, all: NewFile[]): Promise<Inserted> {
    // An object CLP's worker cannot read would fail the whole compression job it joined: it is
    // recorded as failed now, with the reason, and never submitted.
    let files = all;
    if (all.some((f) => 's3' in f && clpUnreadableKeyReason(f.s3.key))) {
      const unreadable: FailedFile[] = [];
      files = [];
      for (const f of all) {
        const reason = 's3' in f ? clpUnreadableKeyReason(f.s3.key) : null;
        if (reason) unreadable.push({ ...f, reason });
        else files.push(f);
      }
      await this.insertFailedFiles(tx, jobId, unreadable);
    }
    const ts = this.now();
    let inserted = 0;
    let bytes = 0;
    for (let i = 0; i < files.length; i += INSERT_CHUNK) {
      const chunk = files.slice(i, i + INSERT_CHUNK);
      const added = await this.insertBuffered(tx, jobId, chunk, ts);
      if (added === 0) continue;
      inserted += added;
      if (added === chunk.length) {
        bytes += chunk.reduce((n, f) => n + f.size, 0);
      } else {
        // Some were recorded already. The caller holds the job's row lock, so every row of this job
        // from this chunk's first new id on is one this chunk added: their bytes (O(chunk)).
        const [[sum]] = await tx.query<RowDataPacket[]>(
          `SELECT COALESCE(SUM(size), 0) AS bytes FROM ${FILES_TABLE}
           WHERE ingestion_job_id = ? AND status = 'buffered' AND id >= LAST_INSERT_ID()`,
          [jobId],
        );
        bytes += Number(sum.bytes);
      }
    }
    if (inserted === 0) return NOTHING;
    await tx.query(
      `UPDATE ${JOBS_TABLE} SET num_files_ingested = num_files_ingested + ?, buffered_files = buffered_files + ?,
         buffered_bytes = buffered_bytes + ?, buffered_oldest_ts = COALESCE(buffered_oldest_ts, ?), last_update_ts = ?
       WHERE id = ?`,
      [inserted, inserted, bytes, ts, ts, jobId],
    );
    return { files: inserted, bytes, ts };
  }

  /**
   * One chunk of files as `buffered` rows, the ones already recorded skipped
   * (the job's unique dedup key); returns how many were added, and leaves
   * LAST_INSERT_ID() at the first added row's id. A chunk of at least
   * BULK_LOAD_MIN_FILES is sent as LOAD DATA LOCAL of the lines tsvLine
   * makes: per file only what differs between files, and the server computes
   * the path and the sha256 dedup hash. Measured against the multi-row INSERT
   * of the same rows (fileValues: smaller chunks, and every chunk where the
   * server refuses LOAD DATA LOCAL, as MySQL does by default): about a fifth
   * less server CPU, a fifth of the bytes, and no hashing in the worker.
   */
  private async insertBuffered(tx: Tx, jobId: number, chunk: NewFile[], ts: number): Promise<number> {
    if (this.bulkLoad && chunk.length >= BULK_LOAD_MIN_FILES) {
      const set = `status = 'buffered', ingestion_job_id = ${sqlInt(jobId)}, creation_ts = ${sqlInt(ts)}, last_update_ts = ${sqlInt(ts)}`;
      const lines = Buffer.from(chunk.map(tsvLine).join('\n') + '\n', 'utf8');
      try {
        const [res] = await tx.query<ResultSetHeader>({
          sql:
            `LOAD DATA LOCAL INFILE 'files.tsv' IGNORE INTO TABLE ${FILES_TABLE} CHARACTER SET utf8mb4 ` +
            `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ${LOAD_FILE_COLUMNS}, ${set}`,
          infileStreamFactory: () => Readable.from([lines]),
        });
        return res.affectedRows;
      } catch (err) {
        const errno = (err as { errno?: number }).errno;
        if (errno === undefined || !LOAD_REFUSED.has(errno)) throw err;
        // A refused statement changed nothing and the transaction goes on: the same rows by INSERT.
        this.bulkLoad = false;
        process.emitWarning(
          `the CLP DB refused LOAD DATA LOCAL (${(err as Error).message}): files are recorded by multi-row INSERT, ` +
            'which costs the server more; enable local_infile on the server to use the bulk load',
          { code: 'LoadDataRefused' },
        );
      }
    }
    const job = `'buffered',${sqlInt(jobId)}`;
    const [res] = await tx.query<ResultSetHeader>(
      `INSERT IGNORE INTO ${FILES_TABLE} (path, bucket, object_key, size, status, ingestion_job_id, dedup_hash, creation_ts, last_update_ts) VALUES ` +
        fileValues(chunk, () => job, `${sqlInt(ts)},${sqlInt(ts)}`),
      COMPLETE_SQL,
    );
    return res.affectedRows;
  }

  /** Records files as `failed` with their reason (ones already recorded are skipped); grows the counters. */
  async insertFailedFiles(tx: Tx, jobId: number, files: FailedFile[]): Promise<number> {
    const ts = this.now();
    let inserted = 0;
    for (let i = 0; i < files.length; i += INSERT_CHUNK) {
      const chunk = files.slice(i, i + INSERT_CHUNK);
      const [res] = await tx.query<ResultSetHeader>(
        `INSERT IGNORE INTO ${FILES_TABLE} (path, bucket, object_key, size, status, failure_reason, ingestion_job_id, dedup_hash, creation_ts, last_update_ts) VALUES ` +
          fileValues(
            chunk,
            (f) => `'failed',${sqlString(f.reason.slice(0, 512))},${sqlInt(jobId)}`,
            `${sqlInt(ts)},${sqlInt(ts)}`,
          ),
        COMPLETE_SQL,
      );
      inserted += res.affectedRows;
    }
    if (inserted)
      await tx.query(
        `UPDATE ${JOBS_TABLE} SET num_files_ingested = num_files_ingested + ?, num_files_failed = num_files_failed + ?,
           last_update_ts = ? WHERE id = ?`,
        [inserted, inserted, ts, jobId],
      );
    return inserted;
  }
}
