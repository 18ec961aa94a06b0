/** Loading and checking the REST API's scoped tokens (src/client/http/api-tokens.ts). No server, no stack. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiTokens, grants, loadApiTokens, parseTokensFile } from '../../src/client/http/api-tokens';
import { SettingsError } from '../../src/config/settings';

const R1 = 'read-token-aaaaaaaaaaaa';
const R2 = 'read-token-bbbbbbbbbbbb';
const O1 = 'operator-token-cccccccccc';
const O2 = 'operator-token-dddddddddd';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clp-tokens-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

test('scopes: operator may do everything, read only reading', () => {
  expect(grants('operator', 'operator')).toBe(true);
  expect(grants('operator', 'read')).toBe(true);
  expect(grants('read', 'read')).toBe(true);
  expect(grants('read', 'operator')).toBe(false);
});

test('several tokens of each scope, from a file of lines, the environment and the older single token', () => {
  const f = file('tokens', `# API tokens\n\nread ${R1}\n  operator   ${O1}  \r\n`);
  const tokens = loadApiTokens({
    CLP_INGESTOR_API_TOKENS_FILE: f,
    CLP_INGESTOR_API_READ_TOKENS: ` ${R2} ,`,
    CLP_INGESTOR_API_OPERATOR_TOKENS: '',
    CLP_INGESTOR_API_TOKEN: O2,
  });
  expect(tokens.enabled).toBe(true);
  expect(tokens.counts()).toEqual({ read: 2, operator: 2 });
  expect([R1, R2, O1, O2, 'nope', '', `${R1}x`, R1.slice(0, -1)].map((t) => tokens.scopeOf(t))).toEqual([
    'read',
    'read',
    'operator',
    'operator',
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

test('a JSON file works the same', () => {
  const f = file('tokens.json', JSON.stringify({ read: [R1], operator: [O1, O2] }));
  const tokens = loadApiTokens({ CLP_INGESTOR_API_TOKENS_FILE: f });
  expect(tokens.counts()).toEqual({ read: 1, operator: 2 });
  expect(tokens.scopeOf(O2)).toBe('operator');
});

test('no token anywhere: auth is off', () => {
  expect(loadApiTokens({}).enabled).toBe(false);
  expect(ApiTokens.none().scopeOf('anything')).toBeUndefined();
});

test('the older single token keeps working as it did: an operator token of any length', () => {
  const tokens = loadApiTokens({ CLP_INGESTOR_API_TOKEN: 'short' });
  expect(tokens.scopeOf('short')).toBe('operator');
});

test('bad token settings stop start-up naming the variable and line, never echoing a token', () => {
  const cases: [NodeJS.ProcessEnv, RegExp][] = [
    [
      { CLP_INGESTOR_API_TOKENS_FILE: path.join(dir, 'missing') },
      /CLP_INGESTOR_API_TOKENS_FILE: no such file/,
    ],
    [{ CLP_INGESTOR_API_TOKENS_FILE: file('bad-scope', `admin ${O1}\n`) }, /line 1: unknown scope "admin"/],
    [{ CLP_INGESTOR_API_TOKENS_FILE: file('bad-line', `read\nread ${R1} extra\n`) }, /line 1: expected/],
    [{ CLP_INGESTOR_API_TOKENS_FILE: file('bad.json', `{"read": "${R1}"}`) }, /"read" must be an array/],
    [{ CLP_INGESTOR_API_TOKENS_FILE: file('bad2.json', `{"read": ["${R1}"`) }, /not valid JSON/],
    [
      { CLP_INGESTOR_API_TOKENS_FILE: file('short', 'read short-token\n') },
      /CLP_INGESTOR_API_TOKENS_FILE: a read token is shorter than 16/,
    ],
    [{ CLP_INGESTOR_API_READ_TOKENS: 'tooshort' }, /CLP_INGESTOR_API_READ_TOKENS: a read token is shorter/],
    [{ CLP_INGESTOR_API_OPERATOR_TOKENS: `${O1},x` }, /CLP_INGESTOR_API_OPERATOR_TOKENS: an? operator token/],
    [
      { CLP_INGESTOR_API_READ_TOKENS: O1, CLP_INGESTOR_API_OPERATOR_TOKENS: O1 },
      /both as read and as operator/,
    ],
  ];
  for (const [env, message] of cases) {
    let err: unknown;
    try {
      loadApiTokens(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    expect((err as Error).message).toMatch(message);
    for (const t of [R1, O1, 'short-token', 'tooshort']) expect((err as Error).message).not.toContain(t);
  }
});

test('parseTokensFile ignores comments and blank lines', () => {
  expect(parseTokensFile(`\n# read ${R2}\nread ${R1}\n`)).toEqual({ read: [R1], operator: [] });
});
