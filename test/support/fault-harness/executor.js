#!/usr/bin/env node
/**
 * The production executor with crash points, for the fault tests: with
 * CLP_EXECUTOR_CRASH_AT=<step> (one of src/executor/task-steps.ts) it
 * SIGKILLs itself when a task reaches that step. It runs the built
 * dist/executor/main.js, or the one CLP_FAULT_HARNESS_EXECUTOR names (a test
 * that compiles the executor by itself). Production never runs this.
 *
 * Plain JavaScript, so it runs on the built executor without a compile step.
 */
'use strict';
const path = require('node:path');

const main =
  process.env.CLP_FAULT_HARNESS_EXECUTOR ?? path.resolve(__dirname, '../../../dist/executor/main.js');
const { executorCli } = require(main);

const crashAt = process.env.CLP_EXECUTOR_CRASH_AT;
executorCli({
  onTaskStep: (step) => {
    if (step !== crashAt) return;
    // One JSON line, as every line the executor writes.
    process.stdout.write(
      `${JSON.stringify({ ts: new Date().toISOString(), level: 'warn', msg: `clp-executor: CLP_EXECUTOR_CRASH_AT=${step}: killing this process` })}\n`,
    );
    process.kill(process.pid, 'SIGKILL');
  },
});
