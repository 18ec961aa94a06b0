/** Helpers for the REST API and dashboard tests. */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildServer, type ServerOptions } from '../../src/client/http/server';
import type { Harness } from './worker';

/** The API on the harness's store, client and task queue (auth off unless asked). */
export function apiServer(h: Harness, extra: Partial<ServerOptions> = {}): Promise<FastifyInstance> {
  return buildServer({
    store: h.store,
    client: h.client,
    // The harness's worker polls its own task queue; jobs started here must go there.
    settings: { ...h.settings, taskQueue: h.taskQueue },
    authToken: '',
    ...extra,
  });
}

/** Closes the workflows of this suite's unfinished jobs, so none outlives its task queue. */
export async function terminateOpenWorkflows(h: Harness): Promise<void> {
  for (const job of await h.store.listJobs({ status: ['requested', 'running', 'paused'] })) {
    try {
      await h.client.workflow.getHandle(job.workflowId).terminate('test suite finished');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
}
