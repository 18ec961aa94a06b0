/**
 * The durable steps of one compression task, in order. The executor reports
 * each as the task reaches it (ExecutorOptions.onTaskStep): a crash right
 * after any of them must leave a state the lease rules recover from, so the
 * fault tests' harness (test/support/fault-harness) kills the process there.
 */
export const TASK_STEPS = [
  /** clp-s is running (and dies with this process: its parent-death signal is SIGKILL). */
  'clp-s-running',
  /** clp-s wrote the task's archives into staging; nothing placed or registered. */
  'archives-written',
  /** The archives are in their final place; their registration has not committed. */
  'archives-placed',
  /** The task's archives are registered and the task SUCCEEDED; the job is still RUNNING. */
  'task-committed',
] as const;
export type TaskStep = (typeof TASK_STEPS)[number];
