/**
 * Text logs to the JSON-lines records clp-s compresses for `unstructured: true`
 * jobs: what CLP's log-converter makes (one record per event, `timestamp` and
 * `message`), streamed in bounded memory. The rules, the limits and what
 * differs from CLP's converter are in docs/text-logs.md.
 */
import { isUtf8 } from 'node:buffer';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

/** Default bound on one event's bytes (timestamp included); see `TextLogOptions.maxEventBytes`. */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024 * 1024;
/** Smallest `maxEventBytes` accepted (a piece must hold a whole timestamp and some text). */
export const MIN_MAX_EVENT_BYTES = 1024;

export interface TextLogOptions {
  /**
   * Bound on one event's raw bytes. A longer event is written as several
   * records of at most this many bytes each (cut between UTF-8 characters; the
   * pieces after the first carry the same timestamp), or fails the conversion
   * when `oversizedEvents` is 'fail'. Default 64 MiB: its JSON line, even if
   * every byte were escaped, stays under clp-s's 512 MiB document limit.
   */
  maxEventBytes?: number;
  /** 'split' (default) or 'fail' (throw TextLogEventTooLargeError, as CLP's converter fails). */
  oversizedEvents?: 'split' | 'fail';
  /**
   * Whether a matched timestamp goes into the record's `timestamp` field.
   * Default `clpSParsesTimestamp`: clp-s fails the whole compression on a
   * `timestamp` string it cannot parse, so an event whose timestamp it would
   * not parse is written as `{message}` with the timestamp text left at the
   * start of its message. `() => true` gives CLP's converter's records exactly.
   */
  keepTimestamp?: (timestamp: string) => boolean;
}

export interface TextLogStats {
  /** Bytes read from the input. */
  bytesIn: number;
  /** Lines read (a final line without a newline counts). */
  lines: number;
  /** Records written: one per event, more for an event split by `maxEventBytes`. */
  events: number;
  /** Records with a `timestamp` field. */
  eventsWithTimestamp: number;
  /** Events that start with a timestamp `keepTimestamp` refused (written as `{message}`). */
  timestampsNotKept: number;
  /** Events longer than `maxEventBytes`, written as several records. */
  splitEvents: number;
  /** Records in which invalid UTF-8 was replaced by U+FFFD. */
  invalidUtf8Events: number;
}

/** An event longer than `maxEventBytes` with `oversizedEvents: 'fail'`. */
export class TextLogEventTooLargeError extends Error {
  constructor(
    readonly maxEventBytes: number,
    readonly line: number,
    readonly byteOffset: number,
  ) {
    super(
      `text log event starting at line ${line} (byte ${byteOffset}) is longer than ${maxEventBytes} bytes ` +
        `(maxEventBytes); raise the limit or let such events be split`,
    );
    this.name = 'TextLogEventTooLargeError';
  }
}

// ---------------------------------------------------------------------------
// Timestamps

/**
 * The timestamp shapes CLP's log-converter recognises at the start of a line
 * (its `timestamp` capture), as one anchored pattern: a date (year first, or
 * day + month name + year), a date/time separator, hh:mm:ss, an optional
 * fraction and an optional zone. Fields may be space-padded, as CLP allows.
 */
const MONTH =
  '(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:tember)?|' +
  'Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)';
const DATE = `(?:\\d{2,4}[ /-]?[ 0-9]{2}[ /-][ 0-9]{2}|[ 0-9]{2}[ /-]${MONTH}[ /-]\\d{2,4})`;
const TIME = '[ T:][ 0-9]{2}:[ 0-9]{2}:[ 0-9]{2}(?:[,.:]\\d{1,9})?';
const ZONE = '(?: ?UTC)?(?:[+-]\\d{2}(?::?\\d{2})?)?Z?';
const CLP_TIMESTAMP = new RegExp(`^${DATE}${TIME}${ZONE}$`);
/** Bytes that may follow a timestamp (CLP's delimiters); end of input may too. */
const DELIMITERS = new Set([0x20, 0x09, 0x0d, 0x0a, 0x5b /* [ */, 0x28 /* ( */, 0x3a /* : */]);
const MIN_TIMESTAMP = 16; // "2401-02 03:04:05"
const MAX_TIMESTAMP = 47; // "02-September-2024T03:04:05.123456789 UTC+01:00Z"
/** Bytes of a line looked at before deciding whether it starts an event. */
const HEAD_BYTES = 64;

/**
 * The timestamp at the start of `line`, as CLP's converter finds it: the
 * longest prefix of the pattern above that is followed by a delimiter (space,
 * tab, CR, LF, '[', '(' or ':') or by the end of the input (`atEndOfInput`:
 * nothing follows `line`). Null when the line does not start with one.
 */
export function matchTimestamp(line: Uint8Array | string, atEndOfInput = false): string | null {
  const text =
    typeof line === 'string'
      ? line
      : Buffer.from(line.buffer, line.byteOffset, line.length).toString('latin1');
  const first = text.charCodeAt(0);
  if (!(first === 0x20 || (first >= 0x30 && first <= 0x39))) return null;
  for (let len = Math.min(text.length, MAX_TIMESTAMP); len >= MIN_TIMESTAMP; len--) {
    if (len < text.length ? !DELIMITERS.has(text.charCodeAt(len)) : !atEndOfInput) continue;
    const candidate = text.slice(0, len);
    if (CLP_TIMESTAMP.test(candidate)) return candidate;
  }
  return null;
}

const CLP_S_YEAR4 =
  /^(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[,.]\d{1,9})?(?:(?: ?UTC)?(?:[+-](\d{2})(?::?(\d{2}))?Z?|Z))?$/;
const CLP_S_YEAR2 = /^(\d{2})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})$/;

/**
 * Whether the clp-s this project runs (yscope-clp-core 0.12.1b0) parses this
 * timestamp string, for strings `matchTimestamp` returns. Checked against the
 * binary (test/unit/text-logs.test.ts): year-month-day with '-' or '/', 'T' or
 * ' ', hh:mm:ss, an optional ',' or '.' fraction of 1-9 digits and an optional
 * zone (Z, ±hh, ±hhmm, ±hh:mm, each optionally after "UTC" or " UTC" and
 * before "Z"; "UTC" alone is not parsed), real calendar dates and times
 * (second 60 allowed), years 1678-2261 (clp-s keeps nanoseconds in 64 bits);
 * two-digit years only without fraction or zone. Not parsed: month names,
 * space-padded fields, ':' before the fraction, ':' between date and time.
 */
export function clpSParsesTimestamp(timestamp: string): boolean {
  let year: number;
  let m = CLP_S_YEAR4.exec(timestamp);
  if (m) {
    year = Number(m[1]);
    if (year < 1678 || year > 2261) return false;
    if (m[7] !== undefined && Number(m[7]) > 23) return false;
    if (m[8] !== undefined && Number(m[8]) > 59) return false;
  } else {
    m = CLP_S_YEAR2.exec(timestamp);
    if (!m) return false;
    const yy = Number(m[1]);
    year = yy >= 69 ? 1900 + yy : 2000 + yy;
  }
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return day <= days;
}

// ---------------------------------------------------------------------------
// The converter

const NEWLINE = 0x0a;

/**
 * Where the cut of an over-long event goes: the end of `buf`, or before a
 * UTF-8 character that `buf` ends in the middle of.
 */
function charBoundary(buf: Buffer): number {
  const n = buf.length;
  for (let i = n - 1; i >= Math.max(0, n - 4); i--) {
    const b = buf[i];
    if ((b & 0xc0) === 0x80) continue;
    const width =
      b < 0x80 ? 1 : (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1;
    return i + width <= n || i === 0 ? n : i;
  }
  return n;
}

/**
 * Push-style converter: `push` takes the input's bytes in any chunking and
 * returns the JSON lines completed so far, `end` returns the rest. Holds one
 * event (at most `maxEventBytes`) and the start of one line at a time.
 * Chunks are copied as needed: the caller may reuse them after `push`.
 */
export class TextLogConverter {
  readonly stats: TextLogStats = {
    bytesIn: 0,
    lines: 0,
    events: 0,
    eventsWithTimestamp: 0,
    timestampsNotKept: 0,
    splitEvents: 0,
    invalidUtf8Events: 0,
  };
  private readonly maxEventBytes: number;
  private readonly failOversized: boolean;
  private readonly keepTimestamp: (timestamp: string) => boolean;

  // The start of the current line, until it is long enough (or complete) to
  // tell whether it starts with a timestamp.
  private head: Buffer[] = [];
  private headLength = 0;
  private headOffset = 0;
  /** The current line has been classified; its further bytes go to the event. */
  private inLine = false;
  private atStart = true;

  // The current event: none, lines before the first timestamp ('plain', one
  // line each), or a line starting with a timestamp and the lines after it.
  private kind: 'plain' | 'timestamp' | null = null;
  private timestamp: string | null = null;
  private keep = false;
  private chunks: Buffer[] = [];
  private size = 0;
  private pieces = 0;
  private eventLine = 0;
  private eventOffset = 0;

  private out: string[] = [];
  private ended = false;

  constructor(options: TextLogOptions = {}) {
    const max = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    if (!Number.isSafeInteger(max) || max < MIN_MAX_EVENT_BYTES) {
      throw new RangeError(`maxEventBytes must be an integer >= ${MIN_MAX_EVENT_BYTES}, got ${max}`);
    }
    this.maxEventBytes = max;
    this.failOversized = options.oversizedEvents === 'fail';
    this.keepTimestamp = options.keepTimestamp ?? clpSParsesTimestamp;
  }

  /** Feeds the next bytes of the input; returns the JSON lines (each ending in "\n") completed by them. */
  push(chunk: Uint8Array): string[] {
    if (this.ended) throw new Error('TextLogConverter: push after end');
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`text log input must be bytes (Buffer or Uint8Array), got ${typeof chunk}`);
    }
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const base = this.stats.bytesIn;
    this.stats.bytesIn += buf.length;
    let pos = 0;
    while (pos < buf.length) {
      if (!this.inLine) {
        if (this.headLength === 0) this.headOffset = base + pos;
        const window = buf.subarray(pos, Math.min(buf.length, pos + HEAD_BYTES - this.headLength));
        const nl = window.indexOf(NEWLINE);
        const part = nl < 0 ? window : window.subarray(0, nl + 1);
        this.head.push(Buffer.from(part));
        this.headLength += part.length;
        pos += part.length;
        if (nl >= 0) {
          this.startLine(false);
        } else if (this.headLength >= HEAD_BYTES) {
          this.startLine(false);
          this.inLine = true;
        }
      } else {
        const nl = buf.indexOf(NEWLINE, pos);
        const end = nl < 0 ? buf.length : nl + 1;
        this.append(buf.subarray(pos, end));
        pos = end;
        if (nl >= 0) this.inLine = false;
      }
    }
    return this.take();
  }

  /** Input bytes held between calls: the current event's (≤ maxEventBytes) and a line's start (≤ 64). */
  get bufferedBytes(): number {
    return this.size + this.headLength;
  }

  /** Ends the input; returns the last JSON lines. */
  end(): string[] {
    if (this.ended) return [];
    if (!this.inLine && this.headLength > 0) this.startLine(true);
    this.finishEvent();
    this.ended = true;
    return this.take();
  }

  private take(): string[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Classifies the line whose start is in `head` and moves that start into an event. */
  private startLine(atEndOfInput: boolean): void {
    let head = this.head.length === 1 ? this.head[0] : Buffer.concat(this.head, this.headLength);
    let offset = this.headOffset;
    this.head = [];
    this.headLength = 0;
    if (this.atStart) {
      this.atStart = false;
      if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
        head = head.subarray(3);
        offset += 3;
        if (head.length === 0) return;
      }
    }
    this.stats.lines++;
    const timestamp = matchTimestamp(head, atEndOfInput);
    if (timestamp !== null) {
      this.finishEvent();
      this.beginEvent('timestamp', timestamp, offset);
    } else if (this.kind !== 'timestamp') {
      this.finishEvent();
      this.beginEvent('plain', null, offset);
    }
    this.append(head);
  }

  private beginEvent(kind: 'plain' | 'timestamp', timestamp: string | null, offset: number): void {
    this.kind = kind;
    this.timestamp = timestamp;
    this.keep = timestamp !== null && this.keepTimestamp(timestamp);
    if (timestamp !== null && !this.keep) this.stats.timestampsNotKept++;
    this.chunks = [];
    this.size = 0;
    this.pieces = 0;
    this.eventLine = this.stats.lines;
    this.eventOffset = offset;
  }

  private append(bytes: Buffer): void {
    let rest = bytes;
    while (rest.length > 0) {
      const room = this.maxEventBytes - this.size;
      if (rest.length <= room) {
        this.chunks.push(Buffer.from(rest));
        this.size += rest.length;
        return;
      }
      if (this.failOversized) {
        throw new TextLogEventTooLargeError(this.maxEventBytes, this.eventLine, this.eventOffset);
      }
      this.chunks.push(Buffer.from(rest.subarray(0, room)));
      this.size += room;
      rest = rest.subarray(room);
      this.writePiece(false);
    }
  }

  private finishEvent(): void {
    if (this.kind === null) return;
    if (this.size > 0 || this.pieces === 0) this.writePiece(true);
    this.kind = null;
    this.chunks = [];
    this.size = 0;
  }

  /** Writes the event's bytes (all of them when `last`, else up to a character boundary) as a record. */
  private writePiece(last: boolean): void {
    const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    const cut = last ? buf.length : charBoundary(buf);
    let text = buf.subarray(0, cut);
    let timestamp: string | undefined;
    if (this.keep && this.timestamp !== null) {
      timestamp = this.timestamp;
      if (this.pieces === 0) text = text.subarray(timestamp.length);
    }
    if (!last && this.pieces === 0) this.stats.splitEvents++;
    this.pieces++;
    const rest = buf.subarray(cut);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;

    if (!isUtf8(text)) this.stats.invalidUtf8Events++;
    const message = text.toString('utf8');
    this.stats.events++;
    if (timestamp !== undefined) {
      this.stats.eventsWithTimestamp++;
      this.out.push(JSON.stringify({ timestamp, message }) + '\n');
    } else {
      this.out.push(JSON.stringify({ message }) + '\n');
    }
  }
}

/**
 * Streams a text log as JSON lines, one per event, each ending in "\n"; the
 * generator's return value is the conversion's statistics. Memory stays
 * bounded by `maxEventBytes` (plus one input chunk) whatever the input's size.
 */
export async function* textLogToRecords(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: TextLogOptions = {},
): AsyncGenerator<string, TextLogStats, undefined> {
  const converter = new TextLogConverter(options);
  for await (const chunk of input) {
    for (const record of converter.push(chunk)) yield record;
  }
  for (const record of converter.end()) yield record;
  return converter.stats;
}

/**
 * Converts a text log into a JSON-lines file at `outPath` (created or
 * replaced) for `clp-s c --timestamp-key timestamp`. On failure the partial
 * file is removed and the error rethrown.
 */
export async function convertTextLogFile(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  outPath: string,
  options: TextLogOptions = {},
): Promise<TextLogStats> {
  const converter = new TextLogConverter(options);
  async function* batches(): AsyncGenerator<string> {
    for await (const chunk of input) {
      const records = converter.push(chunk);
      if (records.length > 0) yield records.join('');
    }
    const records = converter.end();
    if (records.length > 0) yield records.join('');
  }
  try {
    await pipeline(batches, createWriteStream(outPath));
  } catch (err) {
    await rm(outPath, { force: true }).catch(() => undefined);
    throw err;
  }
  return converter.stats;
}
