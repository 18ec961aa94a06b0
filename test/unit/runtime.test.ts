/**
 * The runtime flaw behind the worker's "async hook stack has become
 * corrupted" exits (src/runtime.ts): a workflow activation cut short by the
 * vm timeout inside a microtask, on a worker thread, kills the process when
 * async hooks run in that thread. Run on the Node that runs this test (the
 * one the fault tests start the worker with).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { asyncLocalStorageOnAsyncHooks, boundWorkerHeap, WORKER_NODE_FLAGS } from '../../src/runtime';

const PROBE = path.join(__dirname, '..', 'support', 'vm-timeout-probe.js');
const probe = (mode: 'als' | 'hook') =>
  spawnSync(process.execPath, [PROBE, mode], { encoding: 'utf8', timeout: 30_000 });

test('with an async hook in the workflow thread, a timed-out activation aborts the process (the crash is real here)', () => {
  const r = probe('hook');
  expect(r.stdout).not.toContain('survived');
  expect(r.stderr).toContain('async hook stack has become corrupted');
});

test('the runtime check says whether AsyncLocalStorage in workflow code brings that crash', () => {
  const r = probe('als');
  const survived = r.status === 0 && r.stdout.includes('survived');
  expect({ survived, stderr: survived ? '' : r.stderr.split('\n')[0] }).toEqual({
    survived: !asyncLocalStorageOnAsyncHooks(),
    stderr: survived ? '' : expect.stringContaining('async hook stack has become corrupted'),
  });
});

test('this runtime survives it: the worker runs on a Node whose AsyncLocalStorage needs no async hook', () => {
  expect({ node: process.version, onAsyncHooks: asyncLocalStorageOnAsyncHooks() }).toEqual({
    node: process.version,
    onAsyncHooks: false,
  });
  const r = probe('als');
  expect(r.stdout).toContain('survived');
  expect(r.status).toBe(0);
});

const ROOT = path.join(__dirname, '..', '..');

test('every start of the worker passes WORKER_NODE_FLAGS, the heap bound V8 takes only on the command line', () => {
  const unit = readFileSync(path.join(ROOT, 'deploy', 'systemd', 'clp-ingestor-worker.service'), 'utf8');
  const execStart = unit.split('\n').find((l) => l.startsWith('ExecStart='))!;
  expect(execStart.split(' ').slice(1)).toEqual([...WORKER_NODE_FLAGS, '/opt/clp-ingestor/dist/worker.js']);
  // scripts/stack.sh's supervisor puts app_node_flags before the worker's script.
  const r = spawnSync(
    'bash',
    ['-c', `source <(sed -n '/^app_node_flags()/,/^}/p' scripts/stack.sh); app_node_flags worker`],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  expect(r.stdout.trim().split(' ')).toEqual([...WORKER_NODE_FLAGS]);
});

test('a worker process started without the flags says so at start-up, naming them', () => {
  // jest runs without them.
  for (const f of WORKER_NODE_FLAGS) expect(process.execArgv).not.toContain(f);
  expect(boundWorkerHeap(0)).toMatch(/^the worker was started without --max-semi-space-size=16: /);
});
