/**
 * Text logs to clp-s records (src/executor/text-logs.ts, docs/text-logs.md):
 * the event rules, chunking, limits, and a round trip through the real clp-s.
 */
import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultClpSPath } from '../../src/clp/clp-s';
import {
  clpSParsesTimestamp,
  convertTextLogFile,
  DEFAULT_MAX_EVENT_BYTES,
  matchTimestamp,
  TextLogConverter,
  TextLogEventTooLargeError,
  TextLogOptions,
  textLogToRecords,
} from '../../src/executor/text-logs';

type Rec = { timestamp?: string; message: string };

/** Converts `input` fed in chunks of `chunk` bytes; returns the parsed records. */
function convert(input: string | Buffer, chunk = 1 << 16, options: TextLogOptions = {}): Rec[] {
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  const c = new TextLogConverter(options);
  const lines: string[] = [];
  for (let i = 0; i < buf.length; i += chunk) lines.push(...c.push(buf.subarray(i, i + chunk)));
  lines.push(...c.end());
  for (const l of lines) expect(l.endsWith('\n') && !l.slice(0, -1).includes('\n')).toBe(true);
  return lines.map((l) => JSON.parse(l) as Rec);
}

const all = { keepTimestamp: () => true };

describe('timestamps (CLP log-converter pattern)', () => {
  it.each([
    ['2024-01-02 03:04:05,678 INFO x', '2024-01-02 03:04:05,678'],
    ['2024-01-02T03:04:05.678Z x', '2024-01-02T03:04:05.678Z'],
    ['2024-01-02T03:04:05+01:00 x', '2024-01-02T03:04:05+01:00'],
    ['2024-01-02 03:04:05-0700 x', '2024-01-02 03:04:05-0700'],
    ['2024-01-02 03:04:05 UTC x', '2024-01-02 03:04:05 UTC'],
    ['2024-01-02 03:04:05,122 UTC+00Z x', '2024-01-02 03:04:05,122 UTC+00Z'],
    ['2024-01-02 03:04:05.123456789 x', '2024-01-02 03:04:05.123456789'],
    ['2024/01/02 03:04:05 x', '2024/01/02 03:04:05'],
    ['24-01-02 03:04:05 x', '24-01-02 03:04:05'],
    ['02 Jan 2024 03:04:05 x', '02 Jan 2024 03:04:05'],
    ['02-January-2024 03:04:05.123 x', '02-January-2024 03:04:05.123'],
    ['02/Jan/2024:03:04:05 +0000 x', '02/Jan/2024:03:04:05'],
    [' 2-Jan-24 03:04:05 x', ' 2-Jan-24 03:04:05'],
    ['2024-01-02  3:04:05 x', '2024-01-02  3:04:05'],
    ['2024-01-02 03:04:05:123 x', '2024-01-02 03:04:05:123'],
    // the longest prefix followed by a delimiter: space, tab, CR, LF, [, (, :
    ['2024-01-02 03:04:05[main] x', '2024-01-02 03:04:05'],
    ['2024-01-02 03:04:05,678:x', '2024-01-02 03:04:05,678'],
    ['2024-01-02 03:04:05\tx', '2024-01-02 03:04:05'],
    ['2024-01-02 03:04:05\r\n', '2024-01-02 03:04:05'],
    ['2024-01-02 03:04:05 UTCx', '2024-01-02 03:04:05'],
    ['2024-01-02 03:04:05 +01:00 x', '2024-01-02 03:04:05'], // " +01:00" is outside CLP's capture
    ['2024-01-02 03:04:05 Z x', '2024-01-02 03:04:05'],
  ])('%j starts with %j', (line, ts) => {
    expect(matchTimestamp(line)).toBe(ts);
    expect(matchTimestamp(Buffer.from(line))).toBe(ts);
  });

  it.each([
    'Jan 02 2024 03:04:05 month first',
    '2024-01-02 03:04:05,678abc',
    '2024-01-02 03:04:05.1234567890 ten digits',
    '2024-01-02 3:04:05 unpadded hour',
    '20240102 03:04:05 x',
    '2024-01-0203:04:05 x',
    '2024-01-02_03:04:05 x',
    'x 2024-01-02 03:04:05 not at the start',
    '\tat com.example.Foo(Foo.java:1)',
    '',
  ])('%j does not', (line) => {
    expect(matchTimestamp(line)).toBeNull();
  });

  it('a timestamp ending the input counts only at the end of the input', () => {
    expect(matchTimestamp('2024-01-02 03:04:05')).toBeNull();
    expect(matchTimestamp('2024-01-02 03:04:05', true)).toBe('2024-01-02 03:04:05');
  });

  it.each([
    ['2024-01-02 03:04:05,678', true],
    ['2024-01-02T03:04:05.678Z', true],
    ['2024-01-02T03:04:05+01:00', true],
    ['2024/01-02 03:04:05.5-0130Z', true],
    ['2024-01-02 03:04:05UTC+01', true],
    ['2024-01-02 03:04:05 UTCZ', true],
    ['2024-02-29 03:04:05', true],
    ['2024-01-02 23:59:60', true],
    ['24-01-02 03:04:05', true],
    ['2024-01-02 03:04:05 UTC', false],
    ['24-01-02 03:04:05Z', false],
    ['24-01-02 03:04:05.1', false],
    ['02 Jan 2024 03:04:05', false],
    ['2024-01-02  3:04:05', false],
    ['2024-01-02 03:04:05:123', false],
    ['2023-02-29 03:04:05', false],
    ['2024-13-02 03:04:05', false],
    ['2024-01-02 24:00:00', false],
    ['2024-01-02 03:04:05+24', false],
    ['2263-01-01 00:00:00', false],
  ])('clp-s parses %j: %s', (ts, ok) => {
    expect(clpSParsesTimestamp(ts)).toBe(ok);
  });
});

describe('events', () => {
  it('a timestamped line and the lines after it up to the next timestamp', () => {
    const log =
      '2024-01-02 03:04:05,678 ERROR boom java.lang.NullPointerException: x\n' +
      '\tat com.foo.Bar(Bar.java:1)\n' +
      '    at com.foo.Baz(Baz.java:2)\n' +
      'Caused by: y\n' +
      '[INFO] bracketed\n' +
      'Z z line\n' +
      '\n' +
      '2024-01-02 03:04:06,000 next\n';
    expect(convert(log)).toEqual([
      {
        timestamp: '2024-01-02 03:04:05,678',
        message:
          ' ERROR boom java.lang.NullPointerException: x\n\tat com.foo.Bar(Bar.java:1)\n' +
          '    at com.foo.Baz(Baz.java:2)\nCaused by: y\n[INFO] bracketed\nZ z line\n\n',
      },
      { timestamp: '2024-01-02 03:04:06,000', message: ' next\n' },
    ]);
  });

  it('lines before the first timestamp are one event each', () => {
    expect(convert('first\n\n[second]\n2024-01-02 03:04:05 x\nmore\n')).toEqual([
      { message: 'first\n' },
      { message: '\n' },
      { message: '[second]\n' },
      { timestamp: '2024-01-02 03:04:05', message: ' x\nmore\n' },
    ]);
    expect(convert(' a\n\tb\nc')).toEqual([{ message: ' a\n' }, { message: '\tb\n' }, { message: 'c' }]);
  });

  it('CRLF is kept; a missing final newline is not added; empty input has no records', () => {
    expect(convert('2024-01-02 03:04:05 a\r\n\tcont\r\n2024-01-02 03:04:06\r\nlast')).toEqual([
      { timestamp: '2024-01-02 03:04:05', message: ' a\r\n\tcont\r\n' },
      { timestamp: '2024-01-02 03:04:06', message: '\r\nlast' },
    ]);
    expect(convert('')).toEqual([]);
    expect(convert('\n')).toEqual([{ message: '\n' }]);
    expect(convert('no newline')).toEqual([{ message: 'no newline' }]);
    expect(convert('x\n2024-01-02 03:04:05')).toEqual([
      { message: 'x\n' },
      { timestamp: '2024-01-02 03:04:05', message: '' },
    ]);
  });

  it('a byte-order mark at the start is dropped, elsewhere kept', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const log = Buffer.concat([bom, Buffer.from('2024-01-02 03:04:05 a'), bom, Buffer.from('\n')]);
    for (const chunk of [1, 2, 4, 100]) {
      expect(convert(log, chunk)).toEqual([{ timestamp: '2024-01-02 03:04:05', message: ' a\ufeff\n' }]);
    }
    expect(convert(bom)).toEqual([]);
  });

  it('timestamps clp-s would not parse stay in the message, unless keepTimestamp says otherwise', () => {
    const log = '02 Jan 2024 03:04:05 a\n\tcont\n2024-01-02 03:04:06 b\n';
    const c = new TextLogConverter();
    const recs = [...c.push(Buffer.from(log)), ...c.end()].map((l) => JSON.parse(l));
    expect(recs).toEqual([
      { message: '02 Jan 2024 03:04:05 a\n\tcont\n' },
      { timestamp: '2024-01-02 03:04:06', message: ' b\n' },
    ]);
    expect(c.stats).toMatchObject({ events: 2, eventsWithTimestamp: 1, timestampsNotKept: 1, lines: 3 });
    expect(convert(log, 7, all)[0]).toEqual({ timestamp: '02 Jan 2024 03:04:05', message: ' a\n\tcont\n' });
  });

  it('records are {timestamp, message} in that order, JSON-escaped', () => {
    const c = new TextLogConverter();
    const out = [...c.push(Buffer.from('2024-01-02 03:04:05 "q" \\ \u0000\u0007 é\n')), ...c.end()];
    expect(out).toEqual([
      '{"timestamp":"2024-01-02 03:04:05","message":" \\"q\\" \\\\ \\u0000\\u0007 é\\n"}\n',
    ]);
  });
});

describe('chunking', () => {
  const log =
    'préambule ünïcode 日本\n' +
    '2024-01-02T03:04:05.678+01:00 ERROR 😀 failed\n' +
    '\tat é.Foo(Foo.java:1)\r\n' +
    '02-January-2024 03:04:05.123456789 UTC+01:00Z x\n' +
    '2024-01-02 03:04:05,678abc continuation\n' +
    '24-01-02 03:04:07 end 日本';
  const buf = Buffer.from(log);
  const whole = convert(buf, buf.length, all);

  it('gives the same records for every chunk size', () => {
    expect(whole.map((r) => r.timestamp)).toEqual([
      undefined,
      '2024-01-02T03:04:05.678+01:00',
      '02-January-2024 03:04:05.123456789 UTC+01:00Z',
      '24-01-02 03:04:07',
    ]);
    for (let size = 1; size <= 70; size++) expect(convert(buf, size, all)).toEqual(whole);
  });

  it('gives the same records for every split point (inside multibyte characters and timestamps)', () => {
    for (let at = 1; at < buf.length; at++) {
      const c = new TextLogConverter(all);
      const lines = [...c.push(buf.subarray(0, at)), ...c.push(buf.subarray(at)), ...c.end()];
      expect(lines.map((l) => JSON.parse(l))).toEqual(whole);
    }
  });

  it('reads Uint8Array views, and copies what it keeps (the caller may reuse its buffer)', () => {
    const backing = new Uint8Array(buf.length + 10);
    const c = new TextLogConverter(all);
    const lines: string[] = [];
    for (let i = 0; i < buf.length; i += 5) {
      const part = buf.subarray(i, i + 5);
      backing.set(part, 3);
      lines.push(...c.push(backing.subarray(3, 3 + part.length)));
      backing.fill(0x41);
    }
    lines.push(...c.end());
    expect(lines.map((l) => JSON.parse(l))).toEqual(whole);
  });

  it('rejects string chunks', () => {
    expect(() => new TextLogConverter().push('text' as unknown as Uint8Array)).toThrow(/must be bytes/);
  });
});

describe('limits and bad input', () => {
  it('invalid UTF-8 becomes U+FFFD and is counted', () => {
    const bad = Buffer.concat([
      Buffer.from('2024-01-02 03:04:05 a'),
      Buffer.from([0xff, 0xc3]),
      Buffer.from(' b\nplain\n'),
    ]);
    const c = new TextLogConverter();
    const recs = [...c.push(bad), ...c.end()].map((l) => JSON.parse(l));
    expect(recs).toEqual([{ timestamp: '2024-01-02 03:04:05', message: ' a\ufffd\ufffd b\nplain\n' }]);
    expect(c.stats.invalidUtf8Events).toBe(1);
  });

  it('splits an event longer than maxEventBytes between characters, repeating its timestamp', () => {
    const max = 1024;
    const body = 'é'.repeat(700) + '\n' + 'x'.repeat(1500) + '\n';
    const log = '2024-01-02 03:04:05 ' + body + '2024-01-02 03:04:06 next\nlong preamble? no: continuation\n';
    for (const chunk of [1, 333, 1 << 16]) {
      const c = new TextLogConverter({ maxEventBytes: max });
      const lines: string[] = [];
      const buf = Buffer.from(log);
      for (let i = 0; i < buf.length; i += chunk) lines.push(...c.push(buf.subarray(i, i + chunk)));
      lines.push(...c.end());
      const recs = lines.map((l) => JSON.parse(l) as Rec);
      const first = recs.filter((r) => r.timestamp === '2024-01-02 03:04:05');
      const total = Buffer.byteLength('2024-01-02 03:04:05 ' + body);
      expect(first.length).toBeGreaterThanOrEqual(Math.ceil(total / max));
      expect(first.length).toBeLessThanOrEqual(Math.ceil(total / (max - 3)));
      expect(first.map((r) => r.message).join('')).toBe(' ' + body);
      expect(first.every((r) => !r.message.includes('\ufffd'))).toBe(true);
      expect(Buffer.byteLength(first[0].timestamp! + first[0].message)).toBeLessThanOrEqual(max);
      for (const r of first.slice(1)) expect(Buffer.byteLength(r.message)).toBeLessThanOrEqual(max);
      expect(recs[recs.length - 1]).toEqual({
        timestamp: '2024-01-02 03:04:06',
        message: ' next\nlong preamble? no: continuation\n',
      });
      expect(c.stats.splitEvents).toBe(1);
      expect(c.stats.events).toBe(recs.length);
    }
  });

  it('splits a long line before the first timestamp too (pieces carry no timestamp)', () => {
    const recs = convert('y'.repeat(2500) + '\nz\n', 100, { maxEventBytes: 1024 });
    expect(recs.map((r) => r.message.length)).toEqual([1024, 1024, 453, 2]);
    expect(recs.every((r) => r.timestamp === undefined)).toBe(true);
  });

  it("oversizedEvents 'fail' throws with the event's line and offset", () => {
    const c = new TextLogConverter({ maxEventBytes: 1024, oversizedEvents: 'fail' });
    c.push(Buffer.from('a\nb\n2024-01-02 03:04:05 x\n'));
    let err: unknown;
    try {
      c.push(Buffer.from('y'.repeat(1100)));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TextLogEventTooLargeError);
    expect((err as TextLogEventTooLargeError).line).toBe(3);
    expect((err as TextLogEventTooLargeError).byteOffset).toBe(4);
    expect((err as Error).message).toMatch(/line 3 \(byte 4\) is longer than 1024 bytes/);
  });

  it('checks maxEventBytes', () => {
    expect(DEFAULT_MAX_EVENT_BYTES).toBe(64 * 1024 * 1024);
    expect(() => new TextLogConverter({ maxEventBytes: 100 })).toThrow(RangeError);
  });

  it('holds at most one event and one line start, whatever the input', async () => {
    const max = 64 * 1024;
    const event = '2024-01-02 03:04:05,678 INFO a message 12345\n\tat a.b.C(C.java:1)\n';
    const shapes = [
      Buffer.from(event.repeat(2000)), // many small events
      Buffer.from('2024-01-02 03:04:05 ' + 'z'.repeat(300_000)), // one long line (split)
      Buffer.from('y'.repeat(100) + '\n'), // short lines without timestamps
    ];
    const c = new TextLogConverter({ maxEventBytes: max });
    let records = 0;
    let peak = 0;
    for (let round = 0; round < 30; round++) {
      for (const shape of shapes) {
        for (let i = 0; i < shape.length; i += 50_000) {
          records += c.push(shape.subarray(i, i + 50_000)).length;
          peak = Math.max(peak, c.bufferedBytes);
        }
      }
    }
    records += c.end().length;
    expect(c.bufferedBytes).toBe(0);
    expect(peak).toBeLessThanOrEqual(max + 64);
    expect(records).toBe(c.stats.events);
    expect(c.stats.bytesIn).toBe(30 * shapes.reduce((n, b) => n + b.length, 0));
    expect(c.stats.splitEvents).toBe(30);
  });

  it('textLogToRecords yields the lines and returns the stats', async () => {
    async function* input(): AsyncGenerator<Buffer> {
      yield Buffer.from('pre\n2024-01-02 03:04');
      yield Buffer.from(':05 a\n');
    }
    const gen = textLogToRecords(input());
    const lines: string[] = [];
    let next = await gen.next();
    while (!next.done) {
      lines.push(next.value);
      next = await gen.next();
    }
    expect(lines).toEqual([
      '{"message":"pre\\n"}\n',
      '{"timestamp":"2024-01-02 03:04:05","message":" a\\n"}\n',
    ]);
    expect(next.value).toMatchObject({ events: 2, eventsWithTimestamp: 1, bytesIn: 26 });
  });
});

describe('convertTextLogFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'text-logs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the JSON lines and returns the stats', async () => {
    const out = path.join(dir, 'out.jsonl');
    const stats = await convertTextLogFile(
      [Buffer.from('pre\n2024-01-02 03:04:05 a\n'), Buffer.from('b')],
      out,
    );
    expect(await readFile(out, 'utf8')).toBe(
      '{"message":"pre\\n"}\n{"timestamp":"2024-01-02 03:04:05","message":" a\\nb"}\n',
    );
    expect(stats).toEqual({
      bytesIn: 27,
      lines: 3,
      events: 2,
      eventsWithTimestamp: 1,
      timestampsNotKept: 0,
      splitEvents: 0,
      invalidUtf8Events: 0,
    });
  });

  it('removes the partial file when the input fails', async () => {
    const out = path.join(dir, 'out.jsonl');
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('2024-01-02 03:04:05 a\n'.repeat(10_000));
      throw new Error('read failed');
    }
    await expect(convertTextLogFile(failing(), out)).rejects.toThrow('read failed');
    expect(existsSync(out)).toBe(false);
  });
});

/** The clp-s the stack installs, else the one unpacked under /tmp; missing both fails the test. */
function clpSBinary(): string {
  for (const bin of [defaultClpSPath(), '/tmp/clpwheel/un/yscope_clp_core/bin/clp-s']) {
    if (existsSync(bin)) return bin;
  }
  throw new Error(
    `clp-s not found at ${defaultClpSPath()} nor /tmp/clpwheel (scripts/stack.sh install puts it there)`,
  );
}

describe('clp-s on the converted records', () => {
  const run = promisify(execFile);
  let dir: string;
  let clpS: string;
  beforeAll(() => {
    clpS = clpSBinary();
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'text-logs-clp-s-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function compress(jsonl: string, archives: string): Promise<Record<string, unknown>> {
    const list = path.join(dir, `list-${path.basename(archives)}`);
    await writeFile(list, jsonl + '\n');
    const args = ['c', archives, '--single-file-archive', '--print-archive-stats'];
    const { stdout } = await run(clpS, [...args, '--timestamp-key', 'timestamp', '--files-from', list]);
    return JSON.parse(stdout.trim().split('\n').pop()!);
  }

  async function search(archives: string, query: string): Promise<Rec[]> {
    const { stdout } = await run(clpS, ['s', archives, query], { maxBuffer: 64 * 1024 * 1024 });
    return stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Rec);
  }

  it('compresses them with --timestamp-key timestamp and finds each event whole', async () => {
    const log = [
      'starting up (no timestamp yet)',
      '2024-01-02 03:04:05,678 INFO first event',
      '2024-01-02T03:04:06.5Z ERROR request failed',
      'java.lang.NullPointerException: boom',
      '\tat com.example.Handler.handle(Handler.java:42)',
      '\tat com.example.Server.run(Server.java:7)',
      'Caused by: java.lang.IllegalStateException: é 日本 😀',
      '2024-01-02T04:04:07+01:00 WARN offset +01:00, so 03:04:07 UTC\r',
      '02 Jan 2024 03:04:08 month names are not parsed by clp-s: kept in the message',
      '2024/01/02 03:04:09.123456 fraction beyond milliseconds',
      '2024-01-02 03:04:09,500 invalid UTF-8 <BAD> and control bytes \u0000\u0007 kept',
      '24-01-02 03:04:10 two-digit year',
      '2024-01-02 03:34:11 UTC+00:30 UTC offset, so 03:04:11 UTC',
      '2024-01-02 03:04:12.345 DEBUG last event, no final newline',
    ].join('\n');
    const input = path.join(dir, 'app.log');
    const [before, after] = log.split('<BAD>');
    await writeFile(
      input,
      Buffer.concat([Buffer.from(before), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from(after)]),
    );
    const jsonl = path.join(dir, 'app.jsonl');
    const stats = await convertTextLogFile(createReadStream(input, { highWaterMark: 7 }), jsonl);
    expect(stats).toMatchObject({
      events: 10,
      eventsWithTimestamp: 8,
      timestampsNotKept: 1,
      invalidUtf8Events: 1,
      lines: 14,
    });
    expect(stats.bytesIn).toBe((await stat(input)).size);

    const archives = path.join(dir, 'archives');
    await mkdir(archives);
    const archive = await compress(jsonl, archives);
    expect(await readdir(archives)).toHaveLength(1);
    // clp-s parsed the timestamp strings: the archive's range is the first and last events' times.
    expect(archive.begin_timestamp).toBe(Date.parse('2024-01-02T03:04:05.678Z'));
    expect(archive.end_timestamp).toBe(Date.parse('2024-01-02T03:04:12.345Z'));

    const npe = await search(archives, 'message: "*NullPointerException*"');
    expect(npe).toEqual([
      {
        timestamp: '2024-01-02T03:04:06.5Z',
        message:
          ' ERROR request failed\njava.lang.NullPointerException: boom\n' +
          '\tat com.example.Handler.handle(Handler.java:42)\n\tat com.example.Server.run(Server.java:7)\n' +
          'Caused by: java.lang.IllegalStateException: é 日本 😀\n',
      },
    ]);
    const everything = await search(archives, '*');
    expect(everything).toHaveLength(stats.events);
    const written = (await readFile(jsonl, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Rec);
    const key = (r: Rec) => JSON.stringify({ timestamp: r.timestamp, message: r.message });
    expect(everything.map(key).sort()).toEqual(written.map(key).sort());
  });

  it('parses exactly the timestamps clpSParsesTimestamp accepts (and fails the compression on the others)', async () => {
    const samples = [
      '2024-01-02 03:04:05,678',
      '2024-01-02 03:04:05.678',
      '2024-01-02T03:04:05',
      '2024-01-02T03:04:05.123456789Z',
      '2024-01-02T03:04:05+01:00',
      '2024-01-02 03:04:05-0700',
      '2024-01-02 03:04:05+01Z',
      '2024-01-02 03:04:05UTC+01',
      '2024-01-02 03:04:05 UTC-01:30',
      '2024-01-02 03:04:05 UTCZ',
      '2024/01/02 03:04:05',
      '24-01-02 03:04:05',
      '2024-02-29 00:00:00',
      '2024-01-02 03:04:05 UTC',
      '2024-01-02 03:04:05:123',
      '24-01-02 03:04:05.123',
      '24-01-02T03:04:05Z',
      '02 Jan 2024 03:04:05',
      '02/Jan/2024:03:04:05',
      '2024-01-02  3:04:05',
      '2023-02-29 03:04:05',
      '2024-01-02 24:04:05',
      '2024-01-02 03:04:05+24',
    ];
    const expected: Record<string, boolean> = {};
    const actual: Record<string, boolean> = {};
    for (const [i, ts] of samples.entries()) {
      expect(matchTimestamp(ts + ' x')).toBe(ts); // a timestamp the converter can produce
      const jsonl = path.join(dir, `t${i}.jsonl`);
      await writeFile(jsonl, JSON.stringify({ timestamp: ts, message: ' x\n' }) + '\n');
      expected[ts] = clpSParsesTimestamp(ts);
      try {
        await compress(jsonl, path.join(dir, `a${i}`));
        actual[ts] = true;
      } catch {
        actual[ts] = false;
      }
    }
    expect(actual).toEqual(expected);
  });
});
