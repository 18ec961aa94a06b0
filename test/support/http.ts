/** Helpers for the REST API and dashboard tests. */
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
