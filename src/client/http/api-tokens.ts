/**
 * Scoped bearer tokens for the REST API.
 *
 * Two scopes: `read` (job listing, status, files, the OpenAPI document and
 * everything the dashboard reads) and `operator` (read, plus create, pause,
 * resume, stop and terminate). Any number of tokens of each, from
 *
 *   CLP_INGESTOR_API_TOKENS_FILE      a file: one `read <token>` or
 *                                     `operator <token>` per line (# comments),
 *                                     or JSON {"read": [...], "operator": [...]}
 *   CLP_INGESTOR_API_READ_TOKENS      comma-separated read tokens
 *   CLP_INGESTOR_API_OPERATOR_TOKENS  comma-separated operator tokens
 *   CLP_INGESTOR_API_TOKEN            one operator token (the older setting)
 *
 * Tokens in the first three must be at least 16 characters, without spaces.
 *
 * No token anywhere: auth is off (the API listens on 127.0.0.1 by default).
 *
 * Only SHA-256 digests of the tokens are kept. A presented token is hashed
 * and compared with every known digest by crypto.timingSafeEqual (fixed
 * length, no early exit), so the time taken says nothing about how much of a
 * token was right. Tokens are never logged: the request logger never sees
 * headers, and the Authorization header is redacted should anything log it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readSettings, SettingsError } from '../../config/settings';

export const SCOPES = ['read', 'operator'] as const;
export type Scope = (typeof SCOPES)[number];

/** Tokens shorter than this are refused at start-up: guessable. */
export const MIN_TOKEN_LENGTH = 16;

const ENV = {
  file: 'CLP_INGESTOR_API_TOKENS_FILE',
  read: 'CLP_INGESTOR_API_READ_TOKENS',
  operator: 'CLP_INGESTOR_API_OPERATOR_TOKENS',
  single: 'CLP_INGESTOR_API_TOKEN',
} as const;

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class ApiTokens {
  private constructor(private readonly known: readonly { digest: Buffer; scope: Scope }[]) {}

  /** Auth is off: every route is open. */
  static none(): ApiTokens {
    return new ApiTokens([]);
  }

  /**
   * Tokens by scope, as given (no length rule: tests and callers that build
   * servers in-process choose their own). Throws when one token has both scopes.
   */
  static of(tokens: Partial<Record<Scope, readonly string[]>>): ApiTokens {
    const known: { digest: Buffer; scope: Scope }[] = [];
    const seen = new Map<string, Scope>();
    for (const scope of SCOPES) {
      for (const token of tokens[scope] ?? []) {
        const d = digest(token);
        const key = d.toString('hex');
        const other = seen.get(key);
        if (other && other !== scope)
          throw new SettingsError(
            `an API token is listed both as ${other} and as ${scope}; give it one scope`,
          );
        if (other) continue;
        seen.set(key, scope);
        known.push({ digest: d, scope });
      }
    }
    return new ApiTokens(known);
  }

  get enabled(): boolean {
    return this.known.length > 0;
  }

  /** How many tokens of each scope (for the start-up log; never the tokens). */
  counts(): Record<Scope, number> {
    return {
      read: this.known.filter((k) => k.scope === 'read').length,
      operator: this.known.filter((k) => k.scope === 'operator').length,
    };
  }

  /** The scope of `token`, or undefined; constant time in the token's content. */
  scopeOf(token: string): Scope | undefined {
    const given = digest(token);
    let found: Scope | undefined;
    for (const k of this.known) {
      // Every digest is compared: no early exit.
      if (timingSafeEqual(given, k.digest) && found === undefined) found = k.scope;
    }
    return found;
  }
}

/** Whether a token of `scope` may do what needs `needed`. */
export function grants(scope: Scope, needed: Scope): boolean {
  return scope === 'operator' || needed === 'read';
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Parses a tokens file: JSON {"read": [...], "operator": [...]} or lines of `scope token`. */
export function parseTokensFile(text: string, name = 'the tokens file'): Record<Scope, string[]> {
  const out: Record<Scope, string[]> = { read: [], operator: [] };
  if (text.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new SettingsError(`${name}: not valid JSON (${(err as SyntaxError).name})`);
    }
    for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
      if (!(SCOPES as readonly string[]).includes(key))
        throw new SettingsError(`${name}: unknown scope "${key}" (read or operator)`);
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
        throw new SettingsError(`${name}: "${key}" must be an array of strings`);
      out[key as Scope].push(...(value as string[]));
    }
    return out;
  }
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(\S+)\s+(\S+)$/.exec(line);
    // Never echo the line: it holds a token.
    if (!m) throw new SettingsError(`${name} line ${i + 1}: expected "read <token>" or "operator <token>"`);
    if (!(SCOPES as readonly string[]).includes(m[1]))
      throw new SettingsError(`${name} line ${i + 1}: unknown scope "${m[1]}" (read or operator)`);
    out[m[1] as Scope].push(m[2]);
  });
  return out;
}

/** The API's tokens from the environment (and the file it names); throws SettingsError naming the variable. */
export function loadApiTokens(env: NodeJS.ProcessEnv = process.env): ApiTokens {
  const tokens: Record<Scope, string[]> = { read: [], operator: [] };
  const sources: [Scope, string, string[]][] = [];
  const e = readSettings(env, Object.values(ENV));
  const file = e[ENV.file];
  if (file) {
    if (!existsSync(file)) throw new SettingsError(`invalid setting ${ENV.file}: no such file: ${file}`);
    const parsed = parseTokensFile(readFileSync(file, 'utf8'), `${ENV.file} (${file})`);
    for (const scope of SCOPES) sources.push([scope, ENV.file, parsed[scope]]);
  }
  sources.push(['read', ENV.read, splitList(e[ENV.read])]);
  sources.push(['operator', ENV.operator, splitList(e[ENV.operator])]);
  for (const [scope, name, list] of sources) {
    for (const token of list) {
      if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))
        throw new SettingsError(
          `invalid setting ${name}: ${scope === 'operator' ? 'an' : 'a'} ${scope} token is shorter than ${MIN_TOKEN_LENGTH} characters or has whitespace`,
        );
      tokens[scope].push(token);
    }
  }
  // The older single token stays an operator token, as it was (no length rule, so no deployment breaks).
  const single = e[ENV.single]?.trim();
  if (single) tokens.operator.push(single);
  return ApiTokens.of(tokens);
}
