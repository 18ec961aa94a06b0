/**
 * What the worker needs of the Node runtime beyond `engines`.
 *
 * The Temporal SDK runs workflow code in vm contexts (microtaskMode
 * 'afterEvaluate') on worker threads, each activation under a wall-clock
 * timeout (isolateExecutionTimeout, 5 s), and gives that code Node's
 * AsyncLocalStorage. Where AsyncLocalStorage is built on async_hooks (Node
 * before 24, or 24 with --no-async-context-frame), an activation cut short
 * by the timeout inside a microtask leaves the thread's async-hook stack
 * unbalanced, and the next message the thread receives aborts the whole
 * process with "async hook stack has become corrupted" (nodejs/node#38503).
 * The timeout fires whenever the process is stopped longer than 5 s in the
 * middle of an activation (SIGSTOP, a paused VM, a long GC or swap stall),
 * because the watchdog counts wall-clock time. Where AsyncLocalStorage is
 * built on AsyncContextFrame (Node 24's default), no async hook runs in the
 * workflow threads and the timeout only fails that workflow task, which
 * Temporal retries. docs/fault-records.md has the reproduction.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import v8 from 'node:v8';

/**
 * Whether this runtime's AsyncLocalStorage is the async_hooks one. That
 * implementation propagates its store from an async hook (`_propagate`);
 * the AsyncContextFrame one has no such method. test/unit/runtime.test.ts
 * checks this answer against the crash itself on the runtime under test.
 */
export function asyncLocalStorageOnAsyncHooks(): boolean {
  return typeof (AsyncLocalStorage.prototype as unknown as Record<string, unknown>)._propagate === 'function';
}

/** A warning for the worker's start-up log when the runtime has the flaw, else undefined. */
export function workflowRuntimeWarning(): string | undefined {
  if (!asyncLocalStorageOnAsyncHooks()) return undefined;
  return (
    `Node ${process.version} builds AsyncLocalStorage on async_hooks: a workflow activation cut short by ` +
    "the SDK's execution timeout (e.g. after this process was stopped for more than 5 s) aborts the " +
    'worker with "async hook stack has become corrupted"; run Node 24 or later without --no-async-context-frame'
  );
}

/**
 * The worker's heap, bounded so that its peak memory does not grow with the
 * size of the jobs it runs. What the worker keeps alive is flat (about
 * 50-60 MiB of heap after a full GC, from 10,000 to 1,000,000 objects in a
 * job); what grows is the garbage V8 lets pile up between collections on
 * a long, allocation-heavy scan: the young generation doubles to 128 MiB,
 * and the old generation grows to about twice its live size before a full
 * GC. Measured on a 1,000,000-object scanner job (bench/README.md, 2026-12-07): worker
 * peak RSS 465 MiB by default, 260 MiB with both bounds, for about 20 %
 * more worker CPU.
 *
 * - WORKER_NODE_FLAGS: the young generation's cap, which V8 takes only on the
 *   command line. Every start of the worker passes it: scripts/stack.sh,
 *   deploy/systemd/clp-ingestor-worker.service and the bench's workers
 *   (test/unit/runtime.test.ts checks the first two).
 * - The old generation's growth past its live size before the next full GC
 *   (CLP_INGESTOR_HEAP_GROWING_PERCENT, default 50): V8 reads it at every GC,
 *   so the worker sets it itself (boundWorkerHeap) however it was started.
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=16'] as const;

/**
 * Sets the old generation's growth (`growingPercent`; 0 leaves V8's own
 * heuristic); returns a warning for the start-up log when the process was
 * started without WORKER_NODE_FLAGS (its young generation may then grow to
 * V8's default cap), else undefined.
 */
export function boundWorkerHeap(growingPercent: number): string | undefined {
  if (growingPercent > 0) v8.setFlagsFromString(`--heap-growing-percent=${growingPercent}`);
  const missing = WORKER_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missing.length === 0) return undefined;
  return `the worker was started without ${missing.join(' ')}: its memory grows with the jobs it runs (docs/operations.md, "Worker memory")`;
}
