/**
 * CLP's per-dataset metadata tables are created when a dataset is first
 * used, by the process that compresses into it (CLP's scheduler does the
 * same). Least privilege forbids that process DDL and grants, so it calls one
 * stored procedure instead, which runs as the schema owner (SQL SECURITY
 * DEFINER): it creates the dataset's tables exactly as CLP's package does,
 * records the dataset in clp_datasets, and grants the ingestor's own DB users
 * (log_ingestor_db_accounts, written by `migrate`) what they need on them:
 * the executor SELECT and INSERT, the API SELECT.
 */
import { ADD_DATASET_PROCEDURE, DATASETS_DDL, DATASETS_TABLE, datasetDdl } from '../../clp/metadata';

export { ADD_DATASET_PROCEDURE };
import { TABLES } from '../tables';

/** What each role gets on every dataset's tables (granted by the procedure when the dataset is added). */
export const DATASET_GRANTS: Partial<
  Record<'worker' | 'executor' | 'api', Partial<Record<'archives' | 'files' | 'column_metadata', string[]>>>
> = {
  executor: {
    archives: ['SELECT', 'INSERT'],
    files: ['SELECT', 'INSERT'],
    column_metadata: ['SELECT', 'INSERT'],
  },
  api: { archives: ['SELECT'], files: ['SELECT'] },
};

/** A dataset name the DDL templates carry; the procedure puts the real (checked) name in its place. */
const PLACEHOLDER = 'DATASET_PLACEHOLDER';

const sqlString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** Runs one statement made by REPLACE(template, placeholder, ds) inside the procedure. */
function prepared(expr: string): string {
  return `SET @log_ingestor_stmt = ${expr};
  PREPARE log_ingestor_st FROM @log_ingestor_stmt;
  EXECUTE log_ingestor_st;
  DEALLOCATE PREPARE log_ingestor_st;`;
}

function grant(privileges: string, table: string): string {
  return prepared(
    `CONCAT('GRANT ${privileges} ON \`', REPLACE(DATABASE(), '\`', '\`\`'), '\`.\`clp_', ds, '_${table}\` TO ', QUOTE(grantee_user), '@', QUOTE(grantee_host))`,
  );
}

export const DATASET_MIGRATION_STATEMENTS: string[] = [
  DATASETS_DDL,
  `CREATE TABLE IF NOT EXISTS ${TABLES.dbAccounts} (
    role VARCHAR(16) NOT NULL PRIMARY KEY,
    user VARCHAR(128) NOT NULL,
    host VARCHAR(255) NOT NULL
  )`,
  `DROP PROCEDURE IF EXISTS ${ADD_DATASET_PROCEDURE}`,
  `CREATE PROCEDURE ${ADD_DATASET_PROCEDURE}(IN ds VARCHAR(64), IN storage_directory VARCHAR(4096))
SQL SECURITY DEFINER
BEGIN
  DECLARE done INT DEFAULT 0;
  DECLARE grantee_role VARCHAR(16);
  DECLARE grantee_user VARCHAR(128);
  DECLARE grantee_host VARCHAR(255);
  DECLARE accounts CURSOR FOR SELECT role, user, host FROM ${TABLES.dbAccounts};
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
  IF ds IS NULL OR ds NOT REGEXP '^[A-Za-z0-9_]{1,44}$' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'invalid CLP dataset name (letters, digits and _, at most 44)';
  END IF;
  ${datasetDdl(PLACEHOLDER)
    .map((ddl) => prepared(`REPLACE(${sqlString(ddl)}, '${PLACEHOLDER}', ds)`))
    .join('\n  ')}
  INSERT IGNORE INTO ${DATASETS_TABLE} (name, archive_storage_directory) VALUES (ds, storage_directory);
  OPEN accounts;
  each_account: LOOP
    FETCH accounts INTO grantee_role, grantee_user, grantee_host;
    IF done THEN LEAVE each_account; END IF;
${Object.entries(DATASET_GRANTS)
  .map(
    ([role, tables]) =>
      `    IF grantee_role = '${role}' THEN\n` +
      Object.entries(tables!)
        .map(([table, privileges]) => `      ${grant(privileges!.join(', '), table)}\n`)
        .join('') +
      `    END IF;\n`,
  )
  .join('')}  END LOOP;
  CLOSE accounts;
END`,
];
