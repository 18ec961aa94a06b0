/** What the tests check in every process's log: JSON lines of one shape, and no secret. */

/** The lines that are not one JSON event with `ts` (ISO time), `level` and `msg` (none, for a good log). */
export function notJsonLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .filter((l) => {
      try {
        const r = JSON.parse(l);
        return !(
          typeof r.ts === 'string' &&
          !Number.isNaN(Date.parse(r.ts)) &&
          ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(r.level) &&
          typeof r.msg === 'string'
        );
      } catch {
        return true;
      }
    });
}

/** Every line as its JSON event. */
export function jsonEvents(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The secrets the environment configures for the processes: the DB users' passwords, S3's secret key. */
export function configuredSecrets(env: NodeJS.ProcessEnv): string[] {
  const names = [
    'CLP_DB_PASS',
    'CLP_DB_WORKER_PASS',
    'CLP_DB_EXECUTOR_PASS',
    'CLP_DB_API_PASS',
    'AWS_SECRET_ACCESS_KEY',
  ];
  return names.map((n) => env[n]).filter((v): v is string => !!v && v.length >= 8);
}

/** The secrets that occur in the text (none, for a good log). */
export function secretsIn(text: string, secrets: string[]): string[] {
  return secrets.filter((s) => text.includes(s));
}
