import {
  ACTIVE_STATUSES,
  allowedRequests,
  canMove,
  canPause,
  canResume,
  canStop,
  isActive,
  isOver,
  isStopping,
  JOB_STATUSES,
  refusal,
  shownStatus,
  sqlEnum,
  statusOnStart,
  statusWhenDrained,
  TERMINAL_STATUSES,
  TRANSITIONS,
} from '../../src/lifecycle';
import { SOURCE_DEFINITIONS } from '../../src/sources/definitions';
import { JOB_KINDS } from '../../src/sources/kinds';
import { WORKER_HALVES } from '../../src/sources/worker-kinds';
import { WORKFLOW_HALVES } from '../../src/sources/workflow-kinds';
import { MIGRATIONS } from '../../src/store/migrations';
import { TABLES } from '../../src/store/tables';
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

test('a row never returns to requested, never leaves a terminal status, and runs before it finishes', () => {
  for (const from of JOB_STATUSES) {
    expect(TRANSITIONS[from]).not.toContain('requested');
    if (isOver(from)) expect(TRANSITIONS[from]).toEqual([]);
    expect(canMove(from, from)).toBe(true);
  }
  expect(canMove('requested', 'finished')).toBe(false);
  expect(canMove('requested', 'running')).toBe(true);
  expect(canMove('paused', 'finished')).toBe(true);
  expect(canMove('finished', 'running')).toBe(false);
});

test('the questions the workflow and clients ask of a status', () => {
  expect(statusOnStart('requested')).toBe('running');
  expect(statusOnStart('paused')).toBe('paused');
  expect(statusWhenDrained('running')).toBe('finished');
  expect(statusWhenDrained('failed')).toBe('failed');
  expect(shownStatus('running', true)).toBe('stopping');
  expect(shownStatus('finished', true)).toBe('finished');
  expect(isStopping('paused', true)).toBe(true);
  expect(canPause('running', false)).toBe(true);
  expect(canPause('running', true)).toBe(false);
  expect(canResume('paused', false)).toBe(true);
  expect(canStop('finished', false)).toBe(false);
  expect([...TERMINAL_STATUSES].sort()).toEqual(JOB_STATUSES.filter((s) => !isActive(s)).sort());
});

const onJobsTable = (sql: string) =>
  new RegExp(`^\\s*(CREATE TABLE IF NOT EXISTS|ALTER TABLE) ${TABLES.ingestionJobs}\\b`).test(sql);

/** The last ENUM a migration gives `column` of the jobs table (applied migrations keep their literal text). */
function newestEnum(column: string): string {
  const re = new RegExp(`\\b${column} (ENUM\\([^)]*\\))`, 'g');
  const found = MIGRATIONS.flatMap((m) =>
    m.statements
      .filter((s): s is string => typeof s === 'string' && onJobsTable(s))
      .flatMap((s) => [...s.matchAll(re)].map((x) => x[1])),
  );
  return found[found.length - 1]!;
}

test("the DDL's status and kind enums are the lifecycle's statuses and the job kinds", () => {
  expect(newestEnum('status')).toBe(sqlEnum(JOB_STATUSES));
  expect(newestEnum('kind')).toBe(sqlEnum(JOB_KINDS));
});

test('every job kind has its definition, workflow half and worker half', () => {
  for (const kind of JOB_KINDS) {
    expect(SOURCE_DEFINITIONS[kind].rest.schemaId).toBeTruthy();
    expect(typeof WORKFLOW_HALVES[kind].reader).toBe('function');
    expect(typeof WORKER_HALVES[kind].clpInput).toBe('function');
  }
});

test('a summary stays one line: control characters escaped, long text cut', () => {
  expect(oneLine('pages after a\nb\tc\u0000d')).toBe('pages after a\\x0ab\\x09c\\x00d');
  const long = oneLine('k'.repeat(1024));
  expect(long).toHaveLength(200);
  expect(long.endsWith('…')).toBe(true);
});
