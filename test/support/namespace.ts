/**
 * The test suite's own Temporal namespace (temporal-config/test-namespace,
 * `clp-ingestor-test`), never the user's: created by `stack.sh up`, and here
 * again by the global setup for a server started without it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Connection, type Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { sleep } from './wait';

const CONFIG = path.join(__dirname, '..', '..', 'temporal-config');

/** CLP_INGESTOR_TEST_NAMESPACE, else temporal-config/test-namespace. */
export function testNamespace(): string {
  return (
    process.env.CLP_INGESTOR_TEST_NAMESPACE ??
    readFileSync(path.join(CONFIG, 'test-namespace'), 'utf8').trim()
  );
}

/** temporal-config/search-attributes: name and type per line. */
function searchAttributes(): [string, string][] {
  return readFileSync(path.join(CONFIG, 'search-attributes'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(/\s+/).slice(0, 2) as [string, string]);
}

/** temporal.api.enums.v1.IndexedValueType */
const INDEXED_VALUE_TYPES: Record<string, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

/** Creates the namespace and its search attributes where missing; waits until both can be used. */
export async function ensureNamespace(
  connection: Connection,
  namespace: string,
): Promise<'created' | 'existed'> {
  let created = false;
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (err) {
    if ((err as { code?: number }).code !== 5) throw err; // NOT_FOUND
    await connection.workflowService.registerNamespace({
      namespace,
      description: 'the clp-ingestor test suite (test/global-setup.ts)',
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
    created = true;
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = searchAttributes().filter(([name]) => !(name in (customAttributes ?? {})));
      if (missing.length === 0) break;
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map(([n, t]) => [n, INDEXED_VALUE_TYPES[t]!])),
      });
      created = true;
    } catch (err) {
      // A namespace just registered takes a moment to reach every service.
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
  return created ? 'created' : 'existed';
}

export interface OpenWorkflow {
  workflowId: string;
  runId: string;
  type: string;
  taskQueue: string;
  startTime: Date;
}

/** Workflows still running on this run's task queues (their names carry the run tag). */
export async function openWorkflowsOfRun(client: Client, runTag: string): Promise<OpenWorkflow[]> {
  const open: OpenWorkflow[] = [];
  for await (const wf of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    if (!wf.taskQueue.includes(`-${runTag}-`)) continue;
    open.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      type: wf.type,
      taskQueue: wf.taskQueue,
      startTime: wf.startTime,
    });
  }
  return open;
}
