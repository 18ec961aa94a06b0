import { escape } from 'mysql2/promise';
import { sqlInt, sqlString, tsvField, tsvLine } from '../../src/store/store-core';

describe('the file insert’s SQL literals', () => {
  // Every byte mysql2 escapes, alone and inside keys, and keys that need nothing escaped.
  const strings = [
    'plain/key.jsonl',
    '',
    "it's",
    'say "hi"',
    'back\\slash',
    'nul\u0000byte',
    'tab\tnew\nline\rreturn',
    'bs\bsub\u001a',
    'ünïcødé/日本語/🙂.log',
    'percent%20and+plus',
    "'; DROP TABLE x; --",
  ];

  test.each(strings)('%j reads as mysql2 would write it', (s) => {
    expect(sqlString(s)).toBe(escape(s));
  });

  test('NULL and whole numbers', () => {
    expect(sqlString(null)).toBe('NULL');
    expect(sqlInt(0)).toBe('0');
    expect(sqlInt(1_500)).toBe('1500');
    expect(sqlInt(Number.MAX_SAFE_INTEGER)).toBe(String(Number.MAX_SAFE_INTEGER));
  });

  test.each([1.5, NaN, Infinity, 2 ** 60])('%p is refused as a whole number', (n) => {
    expect(() => sqlInt(n)).toThrow(/not a whole number/);
  });
});

describe('the bulk load’s fields', () => {
  // What LOAD DATA (FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n') reads back.
  const unescape = (field: string): string | null =>
    field === '\\N'
      ? null
      : field.replace(/\\(.)/g, (_, c: string) => ({ '0': '\0', t: '\t', n: '\n', r: '\r' })[c] ?? c);

  test.each([
    'plain/key.jsonl',
    'tab\tnew\nline\rreturn',
    'nul\u0000byte',
    'back\\slash',
    '\\N',
    '\\',
    'ünïcødé/日本語/🙂.log',
    "'; DROP TABLE x; --",
  ])('%j is one field that reads back as it was', (s) => {
    const field = tsvField(s);
    expect(field).not.toMatch(/[\t\n\r\0]/);
    expect(unescape(field)).toBe(s);
  });

  test('NULL, and a file as five fields', () => {
    expect(tsvField(null)).toBe('\\N');
    expect(tsvLine({ s3: { bucket: 'b', key: 'a\tb' }, size: 5 }).split('\t')).toEqual([
      'b',
      'a\\tb',
      '\\N',
      '5',
      '\\N',
    ]);
    expect(tsvLine({ s3: { bucket: 'b', key: 'k' }, size: 0, version: '0042' }).split('\t')).toEqual([
      'b',
      'k',
      '\\N',
      '0',
      '0042',
    ]);
    expect(tsvLine({ path: '/var/log/x\n.log', size: 7 }).split('\t')).toEqual([
      '\\N',
      '\\N',
      '/var/log/x\\n.log',
      '7',
      '\\N',
    ]);
    expect(() => tsvLine({ path: '/x', size: 1.5 })).toThrow(/not a whole number/);
  });
});
