/** The CLP DB settings: the schema owner's connection and each process's own user. */
import type { Env } from './env-schema';
import { SettingsError } from './env';

export interface DbSettings {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  connectionLimit: number;
  /** CLP_DB_IDLE_TRANSACTION_TIMEOUT_SEC (MariaDB only; 0 or absent: off). */
  idleTransactionTimeoutSec?: number;
}

export const DB_ROLES = ['worker', 'executor', 'api'] as const;
export type DbRole = (typeof DB_ROLES)[number];

export interface DbCredentials {
  user: string;
  password: string;
}

/** The DB part of Settings. */
export interface DbPartOfSettings {
  db: DbSettings;
  dbRoles: Record<DbRole, DbCredentials>;
  dbGranteeHost: string;
}

export function dbSettings(e: Env): DbPartOfSettings {
  return {
    db: {
      host: e.CLP_DB_HOST,
      port: e.CLP_DB_PORT,
      database: e.CLP_DB_NAME,
      user: e.CLP_DB_USER,
      password: e.CLP_DB_PASS,
      connectionLimit: e.CLP_DB_CONNECTION_LIMIT,
      idleTransactionTimeoutSec: e.CLP_DB_IDLE_TRANSACTION_TIMEOUT_SEC,
    },
    dbRoles: {
      worker: roleCredentials(e, e.CLP_DB_WORKER_USER, e.CLP_DB_WORKER_PASS, 'CLP_DB_WORKER'),
      executor: roleCredentials(e, e.CLP_DB_EXECUTOR_USER, e.CLP_DB_EXECUTOR_PASS, 'CLP_DB_EXECUTOR'),
      api: roleCredentials(e, e.CLP_DB_API_USER, e.CLP_DB_API_PASS, 'CLP_DB_API'),
    },
    dbGranteeHost: e.CLP_DB_GRANTEE_HOST,
  };
}

function roleCredentials(
  e: Env,
  user: string | undefined,
  password: string | undefined,
  name: string,
): DbCredentials {
  if (user === undefined) {
    if (password !== undefined) {
      throw new SettingsError(`invalid setting ${name}_PASS: set ${name}_USER too, or neither`);
    }
    return { user: e.CLP_DB_USER, password: e.CLP_DB_PASS };
  }
  return { user, password: password ?? '' };
}

/** The DB settings a process in `role` connects with: its own user when configured. */
export function dbFor(settings: Pick<DbPartOfSettings, 'db' | 'dbRoles'>, role: DbRole): DbSettings {
  return { ...settings.db, ...settings.dbRoles[role] };
}
