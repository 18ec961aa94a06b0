/**
 * Errors as CLP's log-ingestor answers them, `{"error": ...}`: 400 invalid
 * config, 404 unknown job or route, 409 conflict or illegal request, 500
 * internal (logged, with the request id). Applies to every route (not encapsulated).
 */
import { QueryNotRegisteredError } from '@temporalio/client';
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { InvalidConfigError } from '../../../config/job-config';
import { ConflictError, NotFoundError } from '../../../store/ingestion-store';
import { IllegalRequestError } from '../../../job-control';

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

export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { code, message } = statusFor(err);
    if (code >= 500) request.log.error({ err }, 'request failed');
    return reply.code(code).send({ error: code >= 500 ? `${message} (request ${request.id})` : message });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
});
