/** The CLI as its users run it (`node dist/client/cli.js`), on a test's database and task queue. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { JobHost } from './worker';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'dist', 'client', 'cli.js');

/** Builds dist/ if the CLI is missing, or always when `fresh` (a stale build would miss new commands). */
export async function buildCli(fresh = false): Promise<void> {
  if (fresh || !existsSync(CLI)) await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI against the host's DB and task queue; a non-zero exit is a result, not an error. */
export function runCli(
  host: Pick<JobHost, 'settings' | 'taskQueue'>,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return run('node', [CLI, ...args], {
    env: {
      ...process.env,
      CLP_DB_NAME: host.settings.db.database,
      CLP_INGESTOR_TASK_QUEUE: host.taskQueue,
      ...env,
    },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
  );
}
