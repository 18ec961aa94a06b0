/** The env file, and the one error type every bad setting is reported with. */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

/** Loads the env file named by CLP_INGESTOR_ENV_FILE; variables already set win. */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env): void {
  const file = env.CLP_INGESTOR_ENV_FILE;
  if (!file) return;
  if (!existsSync(file)) throw new SettingsError(`CLP_INGESTOR_ENV_FILE: no such file: ${file}`);
  for (const [key, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) {
    if (env[key] === undefined) env[key] = value;
  }
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}
