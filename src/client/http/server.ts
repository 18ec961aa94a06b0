/**
 * The REST API and the dashboard, on fastify, composed of plugins:
 *   plugins/errors.ts  CLP's error answers (`{"error": ...}`: 400, 404, 409, 500) for every route
 *   plugins/auth.ts    scoped bearer tokens for every route but /health and the dashboard's files
 *   routes/clp.ts      CLP log-ingestor compatible: health, create, terminate
 *   routes/jobs.ts     beyond CLP: list, detail with live progress, files, pause/resume/stop
 *   routes/search.ts   beyond CLP: search a dataset's archives with clp-s
 *   routes/ui.ts       /openapi.json and the dashboard
 * The lifecycle decisions (what a job may be asked, what terminate does) are
 * the job API's (../jobs.ts, ../../lifecycle.ts), shared with the CLI.
 */
import swagger from '@fastify/swagger';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Settings } from '../../config/settings';
import type { Db } from '../../store/db';
import { IngestionStore } from '../../store/ingestion-store';
import type { ApiTokens } from './api-tokens';
import type { ApiContext } from './context';
import { authPlugin, tokensFor } from './plugins/auth';
import { errorsPlugin } from './plugins/errors';
import { clpRoutes } from './routes/clp';
import { jobRoutes } from './routes/jobs';
import { searchRoutes } from './routes/search';
import { uiRoutes } from './routes/ui';
import { SHARED_SCHEMAS } from './schemas';

export { HEALTH_TEXT } from './routes/clp';
export { jobView } from './routes/jobs';
export { resolveUiDir } from './routes/ui';

export interface ServerOptions {
  store: ApiContext['store'];
  client: Client;
  settings: Settings;
  /** The API's tokens (main.ts: loadApiTokens()); default: settings.http.apiToken as an operator token. */
  tokens?: ApiTokens;
  /** Without `tokens`: one operator token instead of settings.http.apiToken; an empty string turns auth off. */
  authToken?: string;
  /** The pool GET /search reads CLP's metadata tables with; default: the store's, when it is an IngestionStore. */
  searchDb?: Db;
  /** Overrides settings.http.bodyLimit (bytes). */
  bodyLimit?: number;
  logger?: FastifyServerOptions['logger'];
}

const REDACT = {
  paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'authorization'],
  censor: '[redacted]',
};

/** Logger options with the Authorization header redacted, whatever logs a request's headers. */
function redacting(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false;
  if (logger === true) return { redact: REDACT };
  if (typeof (logger as { child?: unknown }).child === 'function') return logger; // a ready logger instance
  return { ...(logger as object), redact: REDACT };
}

export interface RouteInfo {
  method: string;
  /** fastify's form, e.g. /job/:job_id/terminate */
  url: string;
}
const ROUTES = new WeakMap<FastifyInstance, RouteInfo[]>();

/** Every route buildServer registered (for the start-up log and the OpenAPI test). */
export function routesOf(app: FastifyInstance): RouteInfo[] {
  return [...(ROUTES.get(app) ?? [])];
}

export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const { store, client, settings } = opts;
  const tokens = tokensFor(opts);
  const authOn = tokens.enabled;
  const namespace = client.options.namespace;
  const workflowUrl = (workflowId: string) =>
    `${settings.http.temporalUiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  const startOpts = { taskQueue: settings.taskQueue };

  const app = Fastify({
    logger: redacting(opts.logger ?? false),
    bodyLimit: opts.bodyLimit ?? settings.http.bodyLimit,
    exposeHeadRoutes: false,
    routerOptions: { ignoreTrailingSlash: true },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'clp-temporal-ingestor',
        description:
          'CLP log-ingestor compatible REST API of the Temporal-based ingestor, plus job inspection and control. Errors are {"error": "..."}.',
        version: '0.1.0',
      },
      tags: [
        { name: 'Health', description: 'Health check' },
        { name: 'IngestionJob', description: 'CLP log-ingestor compatible job endpoints' },
        { name: 'Jobs', description: 'Job inspection and control beyond CLP' },
        { name: 'Search', description: "The ingested events, searched in CLP's archives" },
        { name: 'Meta', description: 'This document and the dashboard' },
      ],
      components: authOn
        ? { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } }
        : undefined,
      security: authOn ? [{ bearerAuth: [] }] : undefined,
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (json.$id as string) || `def-${i}`,
    },
  });
  for (const s of SHARED_SCHEMAS) app.addSchema(s);
  // A job's requests carry its id (or workflow id) on their log lines, as the worker's lines do.
  app.addHook('onRequest', async (request, reply) => {
    const ref = (request.params as { job_id?: string } | undefined)?.job_id;
    if (ref === undefined) return;
    request.log = reply.log = request.log.child(
      /^\d+$/.test(ref) ? { job_id: Number(ref) } : { workflowId: ref },
    );
  });
  const routes: RouteInfo[] = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  await app.register(errorsPlugin);
  await app.register(authPlugin, { tokens });
  const searchDb = opts.searchDb ?? (store instanceof IngestionStore ? store.db : undefined);
  const ctx: ApiContext = { store, client, settings, startOpts, workflowUrl, searchDb };
  await app.register(clpRoutes, ctx);
  await app.register(jobRoutes, ctx);
  await app.register(searchRoutes, ctx);
  await app.register(uiRoutes);
  return app;
}
