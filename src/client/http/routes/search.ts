/**
 * Beyond CLP: `GET /search`, a dataset's events through CLP's clp-s
 * (src/clp/search.ts), streamed as JSON lines: one `{"archive_id", "event"}`
 * per hit, then one `{"summary": {...}}` line. Errors found before the first
 * line (bad parameter or query, unknown dataset, an archive that cannot be
 * searched) are ordinary error answers; one after it ends the stream with an
 * `{"error": ...}` line instead of the summary.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  DEFAULT_SEARCH_LIMIT,
  MAX_SEARCH_LIMIT,
  parseSearchTime,
  searchContext,
  searchDataset,
  type SearchHit,
  type SearchSummary,
} from '../../../clp/search';
import { InvalidConfigError } from '../../../config/job-config';
import { NotFoundError } from '../../../store/records';
import type { ApiContext } from '../context';
import { errors } from '../schemas';

export const NDJSON = 'application/x-ndjson';

interface SearchQuery {
  dataset: string;
  query: string;
  begin?: string;
  end?: string;
  limit: number;
  ignore_case?: boolean;
}

const summaryView = (s: SearchSummary) => ({
  hits: s.hits,
  truncated: s.truncated,
  archives_selected: s.archivesSelected,
  archives_searched: s.archivesSearched,
});

export async function searchRoutes(app: FastifyInstance, { settings, searchDb }: ApiContext) {
  app.get<{ Querystring: SearchQuery }>(
    '/search',
    {
      schema: {
        tags: ['Search'],
        summary: "Search a dataset's archives with CLP's clp-s (KQL)",
        description: `Answers ${NDJSON}: one line {"archive_id", "event"} per matching event (archives newest first), then one line {"summary": {"hits", "truncated", "archives_selected", "archives_searched"}}; truncated is true when more than \`limit\` events match. Archives are those registered in clp_<dataset>_archives whose time range overlaps [begin, end]; events without a timestamp never match a time range. A failure after the first line ends the stream with one {"error": ...} line instead of the summary.`,
        produces: [NDJSON],
        querystring: {
          type: 'object',
          properties: {
            dataset: { type: 'string', minLength: 1, description: 'The dataset (clp_datasets.name).' },
            query: {
              type: 'string',
              minLength: 1,
              description: 'KQL, e.g. level: "ERROR" AND msg: "*timeout*"; * matches every event.',
            },
            begin: {
              type: 'string',
              description: 'Only events at or after this time: epoch ms or ISO-8601 (2024-05-01T12:00:00Z).',
            },
            end: { type: 'string', description: 'Only events at or before this time: epoch ms or ISO-8601.' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_SEARCH_LIMIT, default: DEFAULT_SEARCH_LIMIT },
            ignore_case: {
              type: 'boolean',
              default: false,
              description: 'Also match values that differ in case.',
            },
          },
          required: ['dataset', 'query'],
        },
        response: {
          200: {
            description: `${NDJSON}: hit lines, then a summary line.`,
            type: 'string',
          },
          ...errors(400, 404),
        },
      },
    },
    async (request, reply) => {
      if (!searchDb) throw new Error('search: this server was built without a DB pool for search');
      const q = request.query;
      const begin = q.begin === undefined || q.begin === '' ? undefined : parseSearchTime(q.begin, 'begin');
      const end = q.end === undefined || q.end === '' ? undefined : parseSearchTime(q.end, 'end');
      const search = searchDataset(searchContext(settings, searchDb), {
        dataset: q.dataset,
        query: q.query,
        begin,
        end,
        limit: q.limit,
        ignoreCase: q.ignore_case,
      });
      // Up to the first line, errors answer with their status; the search stops if the client goes.
      const first = await search.next();
      reply.type(NDJSON);
      return reply.send(Readable.from(lines(first, search, request)));
    },
  );
}

async function* lines(
  first: IteratorResult<SearchHit, SearchSummary>,
  search: AsyncGenerator<SearchHit, SearchSummary, undefined>,
  request: FastifyRequest,
): AsyncGenerator<string> {
  try {
    for (let next = first; ; next = await search.next()) {
      if (next.done) {
        yield `${JSON.stringify({ summary: summaryView(next.value) })}\n`;
        return;
      }
      yield `${JSON.stringify(next.value)}\n`;
    }
  } catch (err) {
    // The status is sent: the last line says what went wrong (as the error answers would).
    const shown = err instanceof InvalidConfigError || err instanceof NotFoundError;
    if (!shown) request.log.error({ err }, 'search failed');
    yield `${JSON.stringify({ error: shown ? (err as Error).message : `Internal server error (request ${request.id})` })}\n`;
  } finally {
    await search.return(undefined as never);
  }
}
