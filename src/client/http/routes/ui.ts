/** The OpenAPI document and the dashboard's static files. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ref, errors } from '../schemas';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The dashboard's files: next to this module when run from src/ (ts-jest),
 * or in the source tree when run from dist/ or dist-bench/src/ (tsc copies no static files).
 */
export function resolveUiDir(): string {
  const candidates = [
    path.join(__dirname, '..', 'ui'),
    path.resolve(__dirname, '..', '..', '..', '..', 'src', 'client', 'http', 'ui'),
    path.resolve(__dirname, '..', '..', '..', '..', '..', 'src', 'client', 'http', 'ui'),
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

export async function uiRoutes(app: FastifyInstance) {
  const ui = loadUi(resolveUiDir());
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
}
