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
