/**
 * Scanning Temporal histories for secrets: every history of every workflow
 * in a namespace (each run, continued-as-new runs followed), as the proto3
 * JSON the server hands out, with every base64 value (payload data, failure
 * details) decoded and scanned too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { allTestTokens } from './secrets';

export interface Secret {
  /** Where it comes from (a variable name); never the value. */
  name: string;
  value: string;
}

export interface Hit {
  secret: string;
  workflowId: string;
  runId: string;
  eventId: string;
  eventType: string;
  /** JSON path of the value inside the event, with "(base64)" when found decoded. */
  path: string;
}

/** Variables that hold secrets, in any env file or environment of the stack. */
const SECRET_NAME = /PASS(WORD)?$|SECRET|TOKENS?$|API_KEY$|ACCESS_KEY_ID$|SESSION_TOKEN$/;
/** Shorter values would match by chance; none of the stack's secrets is this short. */
const MIN_SECRET_LENGTH = 6;

/**
 * Every secret the stack knows: secret-named variables of the env file and
 * of the environment (AWS keys, DB passwords, API tokens and the tokens file),
 * and the API tokens the suites use.
 */
export function knownSecrets(env: NodeJS.ProcessEnv = process.env): Secret[] {
  /** value -> the names it goes by (one value may be several secrets: minioadmin is key id and secret). */
  const found = new Map<string, Set<string>>();
  const add = (name: string, value: string | undefined) => {
    for (const v of (value ?? '').split(',').map((s) => s.trim())) {
      if (v.length < MIN_SECRET_LENGTH) continue;
      if (!found.has(v)) found.set(v, new Set());
      found.get(v)!.add(name);
    }
  };
  const file = env.CLP_INGESTOR_ENV_FILE;
  if (file && existsSync(file)) {
    for (const [k, v] of Object.entries(parseEnv(readFileSync(file, 'utf8'))))
      if (SECRET_NAME.test(k)) add(k, v);
  }
  for (const [k, v] of Object.entries(env)) if (SECRET_NAME.test(k) && !k.endsWith('_FILE')) add(k, v);
  const tokensFile = env.CLP_INGESTOR_API_TOKENS_FILE;
  if (tokensFile && existsSync(tokensFile)) {
    for (const word of readFileSync(tokensFile, 'utf8').split(/[\s",[\]{}:]+/))
      add('CLP_INGESTOR_API_TOKENS_FILE', word);
  }
  for (const t of allTestTokens()) add('test API token', t);
  return [...found].map(([value, names]) => ({ name: [...names].join(' = '), value }));
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Every string in `node` (and each base64 one decoded), with its JSON path. */
function* strings(node: unknown, path: string): Generator<[string, string]> {
  if (typeof node === 'string') {
    yield [path, node];
    if (node.length >= 8 && BASE64.test(node)) {
      const decoded = Buffer.from(node, 'base64').toString('utf8');
      yield [`${path} (base64)`, decoded];
      // A decoded JSON payload is walked too (its own base64 values decoded in turn).
      if (/^\s*[[{"]/.test(decoded)) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(decoded);
        } catch {
          parsed = undefined;
        }
        if (parsed !== undefined && typeof parsed !== 'string') yield* strings(parsed, `${path} (base64)`);
      }
    }
  } else if (Array.isArray(node)) {
    for (const [i, v] of node.entries()) yield* strings(v, `${path}[${i}]`);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      // Keys can carry data too (memo and search attribute names, headers).
      yield [`${path}.<key>`, k];
      yield* strings(v, `${path}.${k}`);
    }
  }
}

/** Scans one history in proto3 JSON (as `temporal workflow show -o json` and the fixtures have it). */
export function scanHistoryJson(
  history: { events?: Record<string, unknown>[] },
  secrets: readonly Secret[],
  where: { workflowId: string; runId: string },
): Hit[] {
  const hits: Hit[] = [];
  for (const event of history.events ?? []) {
    for (const [path, text] of strings(event, '')) {
      for (const s of secrets) {
        if (text.includes(s.value))
          hits.push({
            secret: s.name,
            ...where,
            eventId: String(event.eventId),
            eventType: String(event.eventType),
            path: path.slice(1),
          });
      }
    }
  }
  return hits;
}

export interface ScanReport {
  workflows: number;
  runs: number;
  events: number;
  hits: Hit[];
}

/**
 * Every run of every workflow in the client's namespace: listed by the
 * visibility store, plus each continued-as-new run a history points to that
 * the listing missed.
 */
export async function scanNamespace(
  client: Client,
  secrets: readonly Secret[],
  opts: { skipWorkflowIds?: ReadonlySet<string> } = {},
): Promise<ScanReport> {
  const report: ScanReport = { workflows: 0, runs: 0, events: 0, hits: [] };
  const queue: { workflowId: string; runId: string }[] = [];
  const seen = new Set<string>();
  const workflows = new Set<string>();
  const enqueue = (workflowId: string, runId: string) => {
    if (opts.skipWorkflowIds?.has(workflowId) || seen.has(runId)) return;
    seen.add(runId);
    workflows.add(workflowId);
    queue.push({ workflowId, runId });
  };
  for await (const wf of client.workflow.list()) enqueue(wf.workflowId, wf.runId);
  while (queue.length > 0) {
    const run = queue.shift()!;
    const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    const json = JSON.parse(historyToJSON(history)) as { events?: Record<string, any>[] };
    report.runs += 1;
    report.events += json.events?.length ?? 0;
    report.hits.push(...scanHistoryJson(json, secrets, run));
    for (const e of json.events ?? []) {
      const next = e.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      if (next) enqueue(run.workflowId, next);
    }
  }
  report.workflows = workflows.size;
  return report;
}
