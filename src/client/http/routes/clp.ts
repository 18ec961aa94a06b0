/**
 * CLP log-ingestor compatible routes: `GET /`, `GET /health`, `POST /s3_scanner`,
 * `POST /sqs_listener` (and beyond CLP `POST /fs`, `POST /s3_object_list`),
 * `POST /job/{job_id}/terminate` and the older `DELETE /job/{job_id}`, with
 * CLP's request bodies and answers.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JOB_KINDS } from '../../../config/job-config';
import { SOURCE_DEFINITIONS } from '../../../sources/definitions';
import { workflowIdFor } from '../../../lifecycle';
import { allowListOf } from '../../../security/endpoints';
import { createJob, terminateJob } from '../../../job-control';
import type { ApiContext, JobParams } from '../context';
import { errors, jobIdParams, ref } from '../schemas';

export const HEALTH_TEXT = 'log-ingestor is running';

export async function clpRoutes(app: FastifyInstance, { store, client, settings, startOpts }: ApiContext) {
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
  for (const kind of JOB_KINDS) {
    const { rest } = SOURCE_DEFINITIONS[kind];
    app.post<{ Body: unknown }>(
      `/${kind}`,
      {
        schema: {
          tags: rest.tags,
          summary: rest.summary,
          body: ref(rest.schemaId),
          response: { 200: ref('CreationResponse'), ...errors(400, 403, 409, 413) },
        },
        // The body is validated by parseJobConfig (the same zod schema the
        // document shows), which names the bad field and never coerces.
        validatorCompiler: () => () => true,
      },
      async (request) => {
        const id = await createJob(store, client, kind, request.body, {
          ...startOpts,
          allowedEndpoints: allowListOf(settings.aws),
        });
        request.log.info({ job_id: id, workflowId: workflowIdFor(id), kind }, 'job created');
        return { id };
      },
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
}
