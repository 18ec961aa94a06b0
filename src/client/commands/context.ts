/** What every CLI command runs with, and how it prints. */
import type { Client } from '@temporalio/client';
import { InvalidConfigError } from '../../config/job-config';
import { dbFor, loadEnvFile, loadSettings, type DbRole, type Settings } from '../../config/settings';
import { createPool } from '../../store/db';
import { IngestionStore } from '../../store/ingestion-store';
import { connectClient } from '../../temporal';

export interface Ctx {
  settings: Settings;
  store: IngestionStore;
  client(): Promise<Client>;
  close(): Promise<void>;
}

/** Runs a command as the API's DB user (CLP_DB_API_USER), or as the schema owner (CLP_DB_USER). */
export async function withCtx<T>(fn: (ctx: Ctx) => Promise<T>, role: DbRole | 'owner' = 'api'): Promise<T> {
  loadEnvFile();
  const settings = loadSettings();
  const pool = createPool(role === 'owner' ? settings.db : dbFor(settings, role));
  let client: Client | undefined;
  const ctx: Ctx = {
    settings,
    store: new IngestionStore(pool),
    client: async () => (client ??= await connectClient()),
    close: async () => {
      await client?.connection.close();
      await pool.end();
    },
  };
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

export function print(json: boolean, value: unknown, human: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : human());
}

export function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)';
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(width[i]))
      .join('  ')
      .trimEnd();
  return [
    line(cols),
    line(width.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => String(r[c] ?? '')))),
  ].join('\n');
}

/** A numeric option's parser: refuses what is not a number, naming the flag. */
export const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidConfigError(`${name}: not a number: ${v}`);
  return n;
};

export function parseId(id: string): number {
  const n = Number(id);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidConfigError(`job id must be a positive integer, got "${id}"`);
  return n;
}
