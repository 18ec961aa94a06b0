/**
 * The REST API and the dashboard, on fastify.
 *
 * CLP log-ingestor compatible: `GET /`, `GET /health`, `POST /s3_scanner`,
 * `POST /sqs_listener`, `POST /job/{job_id}/terminate` (and the older
 * `DELETE /job/{job_id}`), with CLP's request bodies, answers and error
 * statuses (`{"error": ...}`; 400 invalid config, 404 unknown job, 409 prefix
 * conflict, 500 internal). Beyond CLP: job listing and detail with live
 * progress, pause/resume/stop, paged files, fs jobs, /openapi.json and /ui.
 *
 * The DB is the record: every answer about a job comes from it, with the
 * workflow's live progress added where asked for. Optional scoped bearer
 * tokens (auth.ts) cover every route but /health and the dashboard's static
 * files (they hold no data; the page asks for the token and sends it with
 * each API call): GET routes need a read or operator token, every other
 * method an operator token (401 without a valid token, 403 with a read one).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import swagger from '@fastify/swagger';
import { QueryNotRegisteredError, type Client } from '@temporalio/client';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { InvalidConfigError, jobSource, type JobKind } from '../../config/job-config';
import type { Settings } from '../../config/settings';
import {
  ConflictError,
  FILE_STATUSES,
  JOB_STATUSES,
  NotFoundError,
  type FileStatus,
  type IngestionStore,
  type JobRow,
  type JobStatus,
} from '../../store/ingestion-store';
import { allowedRequests, CONTROL_REQUESTS } from '../../lifecycle';
import type { JobProgress } from '../../workflows/messages';
import { allowListOf } from '../../security/endpoints';
import { controlJob, createJob, IllegalRequestError, queryProgress, terminateJob } from '../jobs';
import { ApiTokens, grants, type Scope } from './auth';
import { errors, jobIdParams, ref, SHARED_SCHEMAS } from './schemas';

export const HEALTH_TEXT = 'log-ingestor is running';

export interface ServerOptions {
  store: IngestionStore;
  client: Client;
  settings: Settings;
  /** The API's tokens (main.ts: loadApiTokens()); default: settings.http.apiToken as an operator token. */
  tokens?: ApiTokens;
  /** Without `tokens`: one operator token instead of settings.http.apiToken; an empty string turns auth off. */
  authToken?: string;
  /** Overrides settings.http.bodyLimit (bytes). */
  bodyLimit?: number;
  logger?: FastifyServerOptions['logger'];
}

interface JobParams {
  job_id: number;
}

// ------------------------------------------------------------------ views --

export function jobView(row: JobRow, workflowUrl: (workflowId: string) => string) {
  const c = row.config;
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    dataset: row.dataset,
    source: jobSource(c),
    config: c.config,
    num_files_ingested: row.numFilesIngested,
    num_files_compressed: row.numFilesCompressed,
    num_files_failed: row.numFilesFailed,
    num_messages_ignored: row.numMessagesIgnored,
    error_msg: row.errorMsg,
    creation_ts: row.creationTs,
    last_update_ts: row.lastUpdateTs,
    workflow_id: row.workflowId,
    workflow_url: workflowUrl(row.workflowId),
    allowed_requests: allowedRequests(row.status, false),
  };
}

function progressView(p: JobProgress) {
  return {
    status: p.status,
    stop_requested: p.stopRequested,
    error: p.error,
    buffer: { files: p.buffer.files, bytes: p.buffer.bytes, oldest_ts: p.buffer.oldestTs },
    outstanding_compression_jobs: p.outstandingCompressionJobs,
    files_recorded: p.filesRecorded,
    files_submitted: p.filesSubmitted,
    files_compressed: p.filesCompressed,
    files_failed: p.filesFailed,
    compression_jobs_submitted: p.compressionJobsSubmitted,
    listing_exhausted: p.listingExhausted,
    input_ended: p.inputEnded === true,
    runs: p.runs,
  };
}

// -------------------------------------------------------------- dashboard --

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The dashboard's files: next to this module when run from src/ (ts-jest),
 * or in the source tree when run from dist/ (tsc copies no static files).
 */
export function resolveUiDir(): string {
  const candidates = [
    path.join(__dirname, 'ui'),
    path.resolve(__dirname, '..', '..', '..', 'src', 'client', 'http', 'ui'),
  ];
  const dir = candidates.find((d) => existsSync(path.join(d, 'index.html')));
  if (!dir) throw new Error(`dashboard files not found (looked in ${candidates.join(', ')})`);
  return dir;
}

function loadUi(dir: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = MIME[path.extname(name)];
    if (type) files.set(name, { body: readFileSync(path.join(dir, name)), type });
  }
  return files;
}

const UI_HEADERS = {
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
};

// ------------------------------------------------------------------- auth --

/** Routes reachable without a token: the health check and the dashboard's static files. */
function isPublic(routeUrl: string | undefined): boolean {
  return routeUrl === '/health' || routeUrl === '/ui' || routeUrl === '/ui/:file';
}

/** What a route needs: reading is GET; anything that changes something needs an operator. */
function scopeNeeded(method: string): Scope {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'operator';
}

function tokensFor(opts: ServerOptions): ApiTokens {
  if (opts.tokens) return opts.tokens;
  if (opts.authToken !== undefined)
    return opts.authToken ? ApiTokens.of({ operator: [opts.authToken] }) : ApiTokens.none();
  const single = opts.settings.http.apiToken;
  return single ? ApiTokens.of({ operator: [single] }) : ApiTokens.none();
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

// ----------------------------------------------------------------- errors --

function statusFor(err: FastifyError | Error): { code: number; message: string } {
  if (err instanceof InvalidConfigError) return { code: 400, message: err.message };
  if (err instanceof NotFoundError) return { code: 404, message: err.message };
  if (err instanceof ConflictError || err instanceof IllegalRequestError)
    return { code: 409, message: err.message };
  if (err instanceof QueryNotRegisteredError)
    return { code: 409, message: 'the job workflow is still starting; try again in a moment' };
  const fe = err as FastifyError;
  if (fe.validation) return { code: 400, message: fe.message };
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)
    return { code: fe.statusCode, message: fe.message };
  return { code: 500, message: 'Internal server error' };
}

// ----------------------------------------------------------------- server --

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
  /** The scope each authenticated request was granted (for GET /auth/scope). */
  const granted = new WeakMap<FastifyRequest, Scope>();
  const namespace = client.options.namespace;
  const workflowUrl = (workflowId: string) =>
    `${settings.http.temporalUiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  const startOpts = { taskQueue: settings.taskQueue };
  const ui = loadUi(resolveUiDir());

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
  const routes: RouteInfo[] = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });

  app.addHook('onRequest', async (request, reply) => {
    if (!authOn) {
      granted.set(request, 'operator');
      return;
    }
    if (isPublic(request.routeOptions.url)) return;
    const header = request.headers.authorization;
    const given = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const scope = given === undefined ? undefined : tokens.scopeOf(given);
    if (scope === undefined) {
      reply.header('www-authenticate', 'Bearer');
      return reply
        .code(401)
        .send({ error: given === undefined ? 'missing bearer token' : 'invalid bearer token' });
    }
    const needed = scopeNeeded(request.method);
    if (!grants(scope, needed)) {
      const route = `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`;
      reply.header('www-authenticate', 'Bearer error="insufficient_scope", scope="operator"');
      return reply.code(403).send({ error: `this token may only read; ${route} needs an operator token` });
    }
    granted.set(request, scope);
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { code, message } = statusFor(err);
    if (code >= 500) request.log.error({ err }, 'request failed');
    return reply.code(code).send({ error: code >= 500 ? `${message} (request ${request.id})` : message });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  // ---------------------------------------------------------------- health --
  const health = {
    schema: {
      tags: ['Health'],
      summary: 'Health check (never needs a token)',
      produces: ['text/plain'],
      security: [],
      response: { 200: { type: 'string', description: HEALTH_TEXT } },
    },
  };
  app.get('/health', health, async (_req, reply) => reply.type('text/plain').send(HEALTH_TEXT));
  app.get(
    '/',
    {
      schema: {
        ...health.schema,
        summary: 'Health check, as CLP log-ingestor answers it',
        security: undefined,
        response: { 200: health.schema.response[200], ...errors() },
      },
    },
    async (_req, reply) => reply.type('text/plain').send(HEALTH_TEXT),
  );

  // --------------------------------------------------- create (CLP compat) --
  const creators: { url: string; kind: JobKind; schema: string; summary: string; tags: string[] }[] = [
    {
      url: '/s3_scanner',
      kind: 's3_scanner',
      schema: 'S3ScannerConfig',
      summary: 'Create an S3-scanner ingestion job',
      tags: ['IngestionJob'],
    },
    {
      url: '/sqs_listener',
      kind: 'sqs_listener',
      schema: 'SqsListenerConfig',
      summary: 'Create an SQS-listener ingestion job',
      tags: ['IngestionJob'],
    },
    {
      url: '/fs',
      kind: 'fs',
      schema: 'FsConfig',
      summary: 'Create a local-directory ingestion job',
      tags: ['Jobs'],
    },
    {
      url: '/s3_object_list',
      kind: 's3_object_list',
      schema: 'S3ObjectListConfig',
      summary: 'Create a one-time ingestion job of listed S3 objects',
      tags: ['Jobs'],
    },
  ];
  for (const c of creators) {
    app.post<{ Body: unknown }>(
      c.url,
      {
        schema: {
          tags: c.tags,
          summary: c.summary,
          body: ref(c.schema),
          response: { 200: ref('CreationResponse'), ...errors(400, 403, 409, 413) },
        },
        // The body is validated by parseJobConfig (the same zod schema the
        // document shows), which names the bad field and never coerces.
        validatorCompiler: () => () => true,
      },
      async (request) => ({
        id: await createJob(store, client, c.kind, request.body, {
          ...startOpts,
          allowedEndpoints: allowListOf(settings.aws),
        }),
      }),
    );
  }

  // ------------------------------------------------ terminate (CLP compat) --
  const terminate = (jobId: number) => terminateJob(store, client, jobId, startOpts);
  const terminateSchema = {
    tags: ['IngestionJob'],
    params: jobIdParams,
    response: { 200: ref('TerminateResponse'), ...errors(400, 403, 404) },
  };
  const terminateHandler = async (request: FastifyRequest<{ Params: JobParams }>) => ({
    id: request.params.job_id,
    terminal_status: await terminate(request.params.job_id),
  });
  app.post<{ Params: JobParams }>(
    '/job/:job_id/terminate',
    {
      schema: {
        ...terminateSchema,
        summary: 'Stop an ingestion job (idempotent)',
        description:
          'A running or paused job gets the stop request: it ingests nothing more, flushes its buffer, awaits its compression jobs and ends "finished". An already finished or failed job answers its status. The job record stays queryable.',
      },
    },
    terminateHandler,
  );
  app.delete<{ Params: JobParams }>(
    '/job/:job_id',
    { schema: { ...terminateSchema, summary: 'Same as POST /job/{job_id}/terminate (older CLP releases)' } },
    terminateHandler,
  );

  // ------------------------------------------------------------- inspect --
  app.get<{ Querystring: { status?: string; dataset?: string } }>(
    '/jobs',
    {
      schema: {
        tags: ['Jobs'],
        summary: 'List ingestion jobs',
        querystring: {
          type: 'object',
          properties: {
            status: {
              type: 'string',
              description: `Only jobs with one of these statuses, comma-separated (${JOB_STATUSES.join(', ')}).`,
            },
            dataset: { type: 'string', description: 'Only jobs of this dataset.' },
          },
        },
        response: { 200: ref('JobList'), ...errors(400) },
      },
    },
    async (request) => {
      const { status, dataset } = request.query;
      const statuses = status
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of statuses ?? []) {
        if (!(JOB_STATUSES as readonly string[]).includes(s))
          throw new InvalidConfigError(
            `status: unknown job status "${s}" (one of ${JOB_STATUSES.join(', ')})`,
          );
      }
      const rows = await store.listJobs({ status: statuses as JobStatus[] | undefined, dataset });
      return { jobs: rows.map((r) => jobView(r, workflowUrl)) };
    },
  );

  app.get<{ Params: JobParams }>(
    '/job/:job_id',
    {
      schema: {
        tags: ['Jobs'],
        summary: "A job's record, file counts by status and live progress",
        params: jobIdParams,
        response: { 200: ref('JobDetail'), ...errors(400, 404) },
      },
    },
    async (request) => {
      const jobId = request.params.job_id;
      const row = await store.requireJob(jobId);
      const fileCounts = await store.countFilesByStatus(jobId);
      let progress: ReturnType<typeof progressView> | null = null;
      let progressError: string | null = null;
      try {
        const live = await queryProgress(client, row.workflowId);
        progress = live && progressView(live);
      } catch (err) {
        // The record stands on its own; say why the live part is missing.
        progressError =
          err instanceof QueryNotRegisteredError
            ? 'the job workflow is still starting'
            : `could not query the job workflow: ${(err as Error).message}`;
      }
      return {
        job: jobView(row, workflowUrl),
        file_counts: fileCounts,
        progress,
        progress_error: progressError,
      };
    },
  );

  app.get<{ Params: JobParams; Querystring: { status?: FileStatus; after: number; limit: number } }>(
    '/job/:job_id/files',
    {
      schema: {
        tags: ['Jobs'],
        summary: "A job's files with their compression job ids, in id order, paged",
        params: jobIdParams,
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...FILE_STATUSES], description: 'Only files with this status.' },
            after: { type: 'integer', minimum: 0, default: 0, description: 'Files with ids above this.' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: ref('FilePage'), ...errors(400, 404) },
      },
    },
    async (request) => {
      const jobId = request.params.job_id;
      const { status, after, limit } = request.query;
      await store.requireJob(jobId);
      const files = await store.listFiles(jobId, { status, afterId: after, limit });
      return {
        files: files.map((f) => ({
          id: f.id,
          path: f.path,
          size: f.size,
          status: f.status,
          compression_job_id: f.compressionJobId,
          compression_job_ids: f.compressionJobIds,
          error: f.error,
        })),
        next_after: files.length === limit ? files[files.length - 1].id : null,
      };
    },
  );

  // ------------------------------------------------------------- control --
  for (const request of CONTROL_REQUESTS) {
    app.post<{ Params: JobParams }>(
      `/job/:job_id/${request}`,
      {
        schema: {
          tags: ['Jobs'],
          summary: `${request[0].toUpperCase()}${request.slice(1)} a job`,
          description: {
            pause:
              'Only a running job can be paused: it stops listing/receiving; buffered files still flush.',
            resume: 'Only a paused job can be resumed.',
            stop: 'Like terminate, but refuses (409) a job that is already stopping, finished or failed.',
          }[request],
          params: jobIdParams,
          response: { 202: ref('ControlResponse'), ...errors(400, 403, 404, 409) },
        },
      },
      async (req, reply) => {
        await controlJob(store, client, req.params.job_id, request);
        return reply.code(202).send({ id: req.params.job_id, requested: request });
      },
    );
  }

  // ------------------------------------------------------- meta and UI --
  app.get(
    '/auth/scope',
    {
      schema: {
        tags: ['Meta'],
        summary: 'What the presented token may do (the dashboard hides what it may not)',
        response: {
          200: {
            type: 'object',
            properties: {
              auth: { type: 'boolean', description: 'Whether this API asks for tokens at all.' },
              scope: {
                type: 'string',
                enum: ['read', 'operator'],
                description: 'read: list and inspect; operator: also create, pause, resume, stop, terminate.',
              },
            },
            required: ['auth', 'scope'],
          },
          ...errors(),
        },
      },
    },
    async (request) => ({ auth: authOn, scope: granted.get(request) ?? 'read' }),
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['Meta'],
        summary: 'This OpenAPI document',
        response: {
          200: { type: 'object', additionalProperties: true, description: 'OpenAPI 3.1' },
          ...errors(),
        },
      },
    },
    async (_req, reply) => reply.type('application/json; charset=utf-8').send(JSON.stringify(app.swagger())),
  );

  const sendUi = (reply: FastifyReply, name: string) => {
    const file = ui.get(name);
    if (!file) return reply.code(404).send({ error: `no dashboard file ${name}` });
    return reply.headers(UI_HEADERS).type(file.type).send(file.body);
  };
  const uiSchema = {
    tags: ['Meta'],
    produces: ['text/html'],
    security: [],
    response: { 200: { type: 'string', description: 'A static file' }, 404: ref('Error') },
  };
  app.get('/ui', { schema: { ...uiSchema, summary: 'The dashboard' } }, async (_req, reply) =>
    sendUi(reply, 'index.html'),
  );
  app.get<{ Params: { file: string } }>(
    '/ui/:file',
    {
      schema: {
        ...uiSchema,
        summary: "The dashboard's static files",
        produces: ['text/javascript', 'text/css', 'text/html'],
        params: { type: 'object', properties: { file: { type: 'string' } }, required: ['file'] },
      },
    },
    async (request, reply) => sendUi(reply, request.params.file),
  );

  return app;
}
