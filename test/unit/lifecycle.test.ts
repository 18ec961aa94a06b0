import {
  ACTIVE_STATUSES,
  ALLOWED_FROM,
  allowedRequests,
  JOB_STATUSES,
  refusal,
  sqlEnum,
} from '../../src/lifecycle';
import { oneLine } from '../../src/workflows/messages';

test('which request each status allows, and why not', () => {
  expect(allowedRequests('requested', false)).toEqual(['stop']);
  expect(allowedRequests('running', false)).toEqual(['pause', 'stop']);
  expect(allowedRequests('paused', false)).toEqual(['resume', 'stop']);
  for (const s of ['finished', 'failed'] as const) expect(allowedRequests(s, false)).toEqual([]);
  for (const s of ACTIVE_STATUSES) expect(allowedRequests(s, true)).toEqual([]);
  expect(refusal('pause', 7, 'paused', false)).toBe('job 7 is paused; only a running job can be paused');
  expect(refusal('resume', 7, 'running', false)).toBe('job 7 is running; only a paused job can be resumed');
  expect(refusal('stop', 7, 'running', true)).toBe('job 7 is stopping; it cannot be stopped');
  expect(refusal('pause', 7, 'finished', false)).toBe('job 7 is finished; it cannot be paused');
  expect(refusal('stop', 7, 'paused', false)).toBeNull();
});

test('a row never returns to requested and never leaves a terminal status', () => {
  expect(ALLOWED_FROM.requested).toEqual([]);
  for (const to of JOB_STATUSES) {
    for (const from of ALLOWED_FROM[to]) expect(ACTIVE_STATUSES as readonly string[]).toContain(from);
  }
});

test('the DDL enum is the status list', () => {
  expect(sqlEnum(JOB_STATUSES)).toBe("ENUM('requested', 'running', 'paused', 'failed', 'finished')");
});

test('a summary stays one line: control characters escaped, long text cut', () => {
  expect(oneLine('pages after a\nb\tc\u0000d')).toBe('pages after a\\x0ab\\x09c\\x00d');
  const long = oneLine('k'.repeat(1024));
  expect(long).toHaveLength(200);
  expect(long.endsWith('…')).toBe(true);
});
