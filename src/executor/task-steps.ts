/**
 * Test-only crash points: with CLP_EXECUTOR_CRASH_AT=<step> the executor
 * SIGKILLs itself when a task reaches that step, so the fault tests can stage
 * a crash at each one. Unset in production: crashPoint() then does nothing.
 */
export const CRASH_STEPS = [
  /** clp-s is running (and dies with this process: its parent-death signal is SIGKILL). */
  'clp-s-running',
  /** clp-s wrote the task's archives into staging; nothing placed or registered. */
  'archives-written',
  /** The archives are in their final place; their registration has not committed. */
  'archives-placed',
  /** The task's archives are registered and the task SUCCEEDED; the job is still RUNNING. */
  'task-committed',
] as const;
export type CrashStep = (typeof CRASH_STEPS)[number];

export function crashPoint(configured: string | undefined, step: CrashStep): void {
  if (configured !== step) return;
  process.stderr.write(`clp-executor: CLP_EXECUTOR_CRASH_AT=${step}: killing this process\n`);
  process.kill(process.pid, 'SIGKILL');
}
