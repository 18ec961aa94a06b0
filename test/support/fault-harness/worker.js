#!/usr/bin/env node
/**
 * The production worker (dist/worker.js, built by `npm run build`) with the
 * crash-loop suite's fault injection (test/fault). Production never runs
 * this: the faults exist only here.
 *
 *   CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE=n  SIGKILL after an SQS batch is
 *     committed and before its messages are deleted (the window that
 *     persist-then-delete must survive): at every n-th batch when n >= 1, so
 *     a test can count on it, or with probability n per batch when n < 1.
 *   CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER=1  SIGKILL right after a
 *     workflow's job row is committed, before the call returns.
 *
 * Plain JavaScript, so it runs on the built worker without a compile step.
 */
'use strict';
const path = require('node:path');

const { main, runAsProcess } = require(path.resolve(__dirname, '../../../dist/worker.js'));

function faultsFromEnv() {
  const faults = {};
  const n = Number(process.env.CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE ?? 0);
  if (n > 0) {
    let batches = 0;
    faults.beforeDelete = async () => {
      batches += 1;
      if (n >= 1 ? batches % Math.floor(n) === 0 : Math.random() < n) process.kill(process.pid, 'SIGKILL');
    };
  }
  if (process.env.CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER === '1') {
    faults.afterRegister = async () => void process.kill(process.pid, 'SIGKILL');
  }
  return faults;
}

runAsProcess(() => main({ faults: faultsFromEnv() }));
