/** The env file: variables the processes read (env-schema.ts) set from a file. */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { readSettings } from './env-schema';
import { SettingsError } from './settings-error';

export { SettingsError } from './settings-error';

/** Loads the env file named by CLP_INGESTOR_ENV_FILE; variables already set win. */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env): void {
  const file = readSettings(env, ['CLP_INGESTOR_ENV_FILE']).CLP_INGESTOR_ENV_FILE;
  if (!file) return;
  if (!existsSync(file)) throw new SettingsError(`CLP_INGESTOR_ENV_FILE: no such file: ${file}`);
  for (const [key, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) {
    if (env[key] === undefined) env[key] = value;
  }
}
