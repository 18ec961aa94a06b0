/**
 * Least privilege on the CLP DB: what each of the ingestor's processes may do
 * to which table, defined once. `clp-ingestor migrate` applies these grants
 * (as the schema owner, CLP_DB_USER) to the users named by CLP_DB_WORKER_USER,
 * CLP_DB_EXECUTOR_USER and CLP_DB_API_USER; `clp-ingestor db-grants` prints
 * them as SQL for a DBA; docs/security.md's table is checked against them.
 *
 * An UPDATE ... WHERE reads the columns it filters on, so every role that
 * updates a table also selects from it. None of them may create, alter or
 * drop anything, delete rows, or touch another database: the schema owner
 * alone migrates.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { DB_ROLES, type DbRole, type Settings } from '../config/settings';
import type { Db } from './db';
import { TABLES } from './schema';
import { DATASETS_TABLE } from '../clp/metadata';
import { ADD_DATASET_PROCEDURE, DATASET_GRANTS } from './migrations/datasets';

export { DB_ROLES, type DbRole };

export type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'EXECUTE';

/** ROLE_GRANTS keys of this form name a stored procedure, not a table. */
const PROCEDURE = 'PROCEDURE ';

export const ROLE_GRANTS: Record<DbRole, Partial<Record<string, Privilege[]>>> = {
  /**
   * Activities and the start-up reconciliation: record files, submit and finalize compression jobs,
   * and record the job of a workflow started with a kind and config (INSERT on the job tables).
   */
  worker: {
    [TABLES.migrations]: ['SELECT'],
    [TABLES.ingestionJobs]: ['SELECT', 'INSERT', 'UPDATE'],
    [TABLES.s3ScannerState]: ['SELECT', 'INSERT', 'UPDATE'],
    [TABLES.s3ScanRanges]: ['SELECT', 'INSERT', 'UPDATE'],
    [TABLES.ingestedFiles]: ['SELECT', 'INSERT', 'UPDATE'],
    [TABLES.ignoredMessages]: ['INSERT'],
    [TABLES.submissions]: ['SELECT', 'INSERT', 'UPDATE'],
    [TABLES.attempts]: ['SELECT', 'INSERT'],
    [TABLES.compressionJobs]: ['SELECT', 'INSERT'],
    // Which files a KILLED compression job's SUCCEEDED tasks compressed (they are not resubmitted).
    [TABLES.compressionTasks]: ['SELECT'],
    // Only to see that the view is ours (CLP_S3_INPUT_TYPE=s3_object_metadata).
    [TABLES.clpObjectMetadata]: ['SELECT'],
  },
  /** The stand-in for CLP's scheduler and workers: claim, run and end compression jobs. */
  executor: {
    [TABLES.migrations]: ['SELECT'],
    [TABLES.compressionJobs]: ['SELECT', 'UPDATE'],
    [TABLES.compressionTasks]: ['SELECT', 'INSERT', 'UPDATE'],
    [TABLES.executorLeases]: ['SELECT', 'INSERT', 'UPDATE'],
    [TABLES.clpObjectMetadata]: ['SELECT'],
    // CLP's metadata: a dataset's tables are created (and granted) by the procedure, run as the schema owner.
    [DATASETS_TABLE]: ['SELECT'],
    [`${PROCEDURE}${ADD_DATASET_PROCEDURE}`]: ['EXECUTE'],
  },
  /** The CLI and the REST API: create jobs, change their status, read what they recorded. */
  api: {
    [TABLES.ingestionJobs]: ['SELECT', 'INSERT', 'UPDATE'],
    [TABLES.s3ScannerState]: ['SELECT', 'INSERT'],
    [TABLES.ingestedFiles]: ['SELECT'],
    [TABLES.ignoredMessages]: ['SELECT'],
    [TABLES.submissions]: ['SELECT'],
    [TABLES.attempts]: ['SELECT'],
    // Search: the datasets' archives tables are granted per dataset by the procedure.
    [DATASETS_TABLE]: ['SELECT'],
  },
};

/** 'user'@'host' with MariaDB/MySQL quoting. */
export function account(user: string, host: string): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return `${q(user)}@${q(host)}`;
}

const ident = (s: string) => `\`${s.replace(/`/g, '``')}\``;

/** The GRANT statements that give `role` its privileges, and no more, on `database`. */
export function grantStatements(role: DbRole, database: string, grantee: string): string[] {
  return statements('GRANT', 'TO', role, database, grantee);
}

/** Their REVOKE counterparts: table grants outlive a dropped database unless revoked. */
export function revokeStatements(role: DbRole, database: string, grantee: string): string[] {
  return statements('REVOKE', 'FROM', role, database, grantee);
}

function statements(
  verb: 'GRANT' | 'REVOKE',
  preposition: 'TO' | 'FROM',
  role: DbRole,
  database: string,
  grantee: string,
): string[] {
  return Object.entries(ROLE_GRANTS[role]).map(([target, privileges]) => {
    const on = target.startsWith(PROCEDURE)
      ? `PROCEDURE ${ident(database)}.${ident(target.slice(PROCEDURE.length))}`
      : `${ident(database)}.${ident(target)}`;
    return `${verb} ${privileges!.join(', ')} ON ${on} ${preposition} ${grantee}`;
  });
}

/** The datasets CLP's clp_datasets lists (none before the table exists). */
async function datasetNames(db: Db): Promise<string[]> {
  const [rows] = await db.query<RowDataPacket[]>(`SELECT name FROM ${DATASETS_TABLE}`).catch((err) => {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return [[] as RowDataPacket[]];
    throw err;
  });
  return rows.map((r) => String(r.name));
}

export interface Grantee {
  role: DbRole;
  user: string;
}

/** The roles configured with a user of their own (not the schema owner's). */
export function configuredGrantees(settings: Pick<Settings, 'db' | 'dbRoles'>): Grantee[] {
  return DB_ROLES.filter((role) => settings.dbRoles[role].user !== settings.db.user).map((role) => ({
    role,
    user: settings.dbRoles[role].user,
  }));
}

/**
 * Gives each grantee its role's privileges on the pool's database; run by the
 * schema owner (who needs GRANT OPTION there) after migrating, so tables a
 * migration added are covered. Idempotent: GRANT adds, never duplicates.
 */
export async function applyGrants(db: Db, grantees: Grantee[], host: string): Promise<string[]> {
  const database = await currentDatabase(db);
  const done: string[] = [];
  for (const g of grantees) {
    for (const sql of grantStatements(g.role, database, account(g.user, host))) {
      try {
        await db.query(sql);
      } catch (err) {
        throw new Error(
          `granting ${g.role} privileges to ${account(g.user, host)} failed: ${(err as Error).message} (the schema owner needs GRANT OPTION on ${database}, and the user must exist)`,
        );
      }
    }
    await db.query(
      `INSERT INTO ${TABLES.dbAccounts} (role, user, host) VALUES (?, ?, ?)
       ON DUPLICATE KEY UPDATE user = VALUES(user), host = VALUES(host)`,
      [g.role, g.user, host],
    );
    done.push(`${g.role}: ${account(g.user, host)}`);
  }
  // Datasets added before (or before this user existed): the procedure grants again, idempotently.
  for (const name of await datasetNames(db)) {
    const [[row]] = await db.query<RowDataPacket[]>(
      `SELECT archive_storage_directory AS dir FROM ${DATASETS_TABLE} WHERE name = ?`,
      [name],
    );
    await db.query(`CALL ${ADD_DATASET_PROCEDURE}(?, ?)`, [name, row.dir]);
  }
  return done;
}

/** Takes back what applyGrants gave (before a database is dropped for good). */
export async function revokeGrants(db: Db, grantees: Grantee[], host: string): Promise<void> {
  const database = await currentDatabase(db);
  const datasets = await datasetNames(db);
  for (const g of grantees) {
    const perDataset = datasets.flatMap((ds) =>
      Object.entries(DATASET_GRANTS[g.role] ?? {}).map(
        ([table, privileges]) =>
          `REVOKE ${privileges!.join(', ')} ON ${ident(database)}.${ident(`clp_${ds}_${table}`)} FROM ${account(g.user, host)}`,
      ),
    );
    for (const sql of [...revokeStatements(g.role, database, account(g.user, host)), ...perDataset]) {
      // Idempotent: a grant already gone (or never given) is what we want.
      await db.query(sql).catch((err: { code?: string }) => {
        if (err.code !== 'ER_NONEXISTING_TABLE_GRANT' && err.code !== 'ER_NONEXISTING_PROC_GRANT') throw err;
      });
    }
  }
}

async function currentDatabase(db: Db): Promise<string> {
  const [[{ database }]] = await db.query<RowDataPacket[]>('SELECT DATABASE() AS `database`');
  if (typeof database !== 'string') throw new Error('grants: the connection has no database selected');
  return database;
}
