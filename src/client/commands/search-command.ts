/** `search`: a dataset's events through CLP's clp-s (src/clp/search.ts), one JSON line per hit. */
import type { Command } from 'commander';
import {
  DEFAULT_SEARCH_LIMIT,
  MAX_SEARCH_LIMIT,
  parseSearchTime,
  searchContext,
  searchDataset,
  SearchInputError,
  type SearchSummary,
} from '../../clp/search';
import { withCtx } from './context';

function parseLimit(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1 || n > MAX_SEARCH_LIMIT) {
    throw new SearchInputError(`--limit: must be an integer from 1 to ${MAX_SEARCH_LIMIT}, got "${v}"`);
  }
  return n;
}

export function addSearchCommand(program: Command): void {
  program
    .command('search <query>')
    .description(
      "search a dataset's archives with CLP's clp-s (KQL, e.g. 'level: \"ERROR\" AND msg: \"*timeout*\"'; '*' matches every event); prints one JSON line per hit",
    )
    .requiredOption('--dataset <name>', 'the dataset to search')
    .option('--begin <time>', 'only events at or after this time (epoch ms or ISO-8601)')
    .option('--end <time>', 'only events at or before this time (epoch ms or ISO-8601)')
    .option(
      '--limit <n>',
      `at most this many hits (1 to ${MAX_SEARCH_LIMIT}; default ${DEFAULT_SEARCH_LIMIT})`,
      parseLimit,
    )
    .option('--ignore-case', 'also match values that differ in case')
    .action(
      async (
        query: string,
        o: { dataset: string; begin?: string; end?: string; limit?: number; ignoreCase?: boolean },
      ) => {
        const begin = o.begin === undefined ? undefined : parseSearchTime(o.begin, '--begin');
        const end = o.end === undefined ? undefined : parseSearchTime(o.end, '--end');
        if (begin !== undefined && end !== undefined && begin > end) {
          throw new SearchInputError(`--begin (${o.begin}) is after --end (${o.end})`);
        }
        await withCtx(async (ctx) => {
          const search = searchDataset(searchContext(ctx.settings, ctx.store.db), {
            dataset: o.dataset,
            query,
            begin,
            end,
            limit: o.limit,
            ignoreCase: o.ignoreCase,
          });
          // A reader that went away (`| head`) ends the search quietly.
          let gone = false;
          const onError = (err: NodeJS.ErrnoException) => {
            if (err.code !== 'EPIPE') throw err;
            gone = true;
          };
          process.stdout.on('error', onError);
          try {
            let summary: SearchSummary | undefined;
            for (let next = await search.next(); ; next = await search.next()) {
              if (next.done) {
                summary = next.value;
                break;
              }
              if (gone) {
                await search.return(undefined as never);
                break;
              }
              process.stdout.write(`${JSON.stringify(next.value)}\n`);
            }
            if (summary?.truncated) {
              console.error(
                `clp-ingestor: search truncated after ${summary.hits} hits (--limit ${o.limit ?? DEFAULT_SEARCH_LIMIT}); narrow the query or the time range, or raise --limit`,
              );
            }
          } finally {
            process.stdout.off('error', onError);
          }
        });
      },
    );
}
