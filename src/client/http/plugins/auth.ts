/**
 * Scoped bearer tokens (../api-tokens.ts) on every route but /health and the
 * dashboard's static files (they hold no data; the page asks for the token
 * and sends it with each API call): GET routes need a read or operator token,
 * every other method an operator token (401 without a valid token, 403 with a
 * read one). Applies to every route (not encapsulated); also serves
 * GET /auth/scope.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiTokens, grants, type Scope } from '../api-tokens';
import { errors } from '../schemas';

/** Routes reachable without a token: the health check and the dashboard's static files. */
function isPublic(routeUrl: string | undefined): boolean {
  return routeUrl === '/health' || routeUrl === '/ui' || routeUrl === '/ui/:file';
}

/** What a route needs: reading is GET; anything that changes something needs an operator. */
function scopeNeeded(method: string): Scope {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'operator';
}

export function tokensFor(opts: {
  tokens?: ApiTokens;
  authToken?: string;
  settings: { http: { apiToken?: string } };
}): ApiTokens {
  if (opts.tokens) return opts.tokens;
  if (opts.authToken !== undefined)
    return opts.authToken ? ApiTokens.of({ operator: [opts.authToken] }) : ApiTokens.none();
  const single = opts.settings.http.apiToken;
  return single ? ApiTokens.of({ operator: [single] }) : ApiTokens.none();
}

export const authPlugin = fp(async (app: FastifyInstance, { tokens }: { tokens: ApiTokens }) => {
  const authOn = tokens.enabled;
  /** The scope each authenticated request was granted (for GET /auth/scope). */
  const granted = new WeakMap<FastifyRequest, Scope>();

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
});
