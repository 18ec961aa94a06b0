// What the Temporal SDK's workflow threads do, reduced: a vm context with
// microtaskMode 'afterEvaluate' on a worker thread, an activation whose
// microtask outlives the execution timeout, then a message to the thread.
// Mode 'als': the workflow code uses AsyncLocalStorage (as the SDK's
// sandbox does). Mode 'hook': an async hook is enabled in the thread
// (what AsyncLocalStorage amounts to where it is built on async_hooks).
// Prints "survived" and exits 0 if the thread answered; Node aborts the
// process otherwise. Usage: node vm-timeout-probe.js als|hook
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

if (isMainThread) {
  const mode = process.argv[2];
  const worker = new Worker(__filename, { workerData: mode });
  worker.once('message', (timedOut) => {
    if (timedOut !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new Error(`no timeout: ${timedOut}`);
    worker.postMessage('ping');
    worker.once('message', () => {
      console.log('survived');
      void worker.terminate();
    });
  });
} else {
  const vm = require('node:vm');
  const asyncHooks = require('node:async_hooks');
  const als = new asyncHooks.AsyncLocalStorage();
  if (workerData === 'hook') asyncHooks.createHook({ init() {} }).enable();
  const context = vm.createContext({ als }, { microtaskMode: 'afterEvaluate' });
  let outcome = 'none';
  try {
    vm.runInContext('als.run(1, () => Promise.resolve().then(() => { for (;;); }))', context, {
      timeout: 50,
    });
  } catch (err) {
    outcome = err.code;
  }
  parentPort.on('message', () => parentPort.postMessage('pong'));
  parentPort.postMessage(outcome);
}
