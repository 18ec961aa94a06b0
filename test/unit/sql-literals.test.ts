import { escape } from 'mysql2/promise';
import { sqlInt, sqlString } from '../../src/store/store-core';

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
