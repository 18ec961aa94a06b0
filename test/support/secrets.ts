/**
 * Secrets the test suites use beyond the stack's own (config/local.env): the
 * REST API tokens. Suites take their tokens from here so the final scan of
 * Temporal histories (test/zz-final/secrets-in-history.test.ts) looks for
 * every one of them.
 */
export const TEST_API_TOKENS = {
  /** The older single token (CLP_INGESTOR_API_TOKEN), an operator token. */
  single: 'test-token-4f9c',
  dashboard: 'dashboard-test-token',
  dashboardRead: 'dashboard-read-token-5e6a7b91',
  read: ['read-token-http-api-1f0a7c2d', 'read-token-http-api-2b9e4d3f'],
  operator: ['operator-token-http-api-3c8d5e4a', 'operator-token-http-api-4d7f6a5b'],
} as const;

export function allTestTokens(): string[] {
  const t = TEST_API_TOKENS;
  return [t.single, t.dashboard, t.dashboardRead, ...t.read, ...t.operator];
}
