/** Commands on the CLP DB itself: migrate, db-grants. */
import type { Command } from 'commander';
import { InvalidConfigError } from '../../config/job-config';
import { loadEnvFile, loadSettings, type DbRole } from '../../config/settings';
import { account, applyGrants, configuredGrantees, DB_ROLES, grantStatements } from '../../store/grants';
import { migrate } from '../../store/schema';
import { withCtx } from './context';

export function addDbCommands(program: Command): void {
  program
    .command('migrate')
    .description(
      'create or upgrade the CLP DB tables as the schema owner (CLP_DB_USER), then grant the worker, executor and API users theirs (idempotent)',
    )
    .action(async () =>
      withCtx(async (ctx) => {
        const applied = await migrate(ctx.store.db);
        console.log(applied.length ? `applied migrations ${applied.join(', ')}` : 'schema up to date');
        const granted = await applyGrants(
          ctx.store.db,
          configuredGrantees(ctx.settings),
          ctx.settings.dbGranteeHost,
        );
        for (const g of granted) console.log(`granted ${g}`);
      }, 'owner'),
    );

  program
    .command('db-grants')
    .description('print the GRANT statements each role needs on the CLP DB (for a DBA)')
    .option('--role <role>', `only this role (${DB_ROLES.join(', ')})`)
    .option('--user <user>', "the grantee (default: the role's configured user)")
    .option('--host <host>', "the grantee's host part (default: CLP_DB_GRANTEE_HOST)")
    .action((o: { role?: string; user?: string; host?: string }) => {
      loadEnvFile();
      const settings = loadSettings();
      if (o.role !== undefined && !(DB_ROLES as readonly string[]).includes(o.role)) {
        throw new InvalidConfigError(`--role: must be one of ${DB_ROLES.join(', ')}`);
      }
      const roles = o.role ? [o.role as DbRole] : DB_ROLES;
      for (const role of roles) {
        const user = o.user ?? settings.dbRoles[role].user;
        const grantee = account(user, o.host ?? settings.dbGranteeHost);
        console.log(`-- ${role}`);
        for (const sql of grantStatements(role, settings.db.database, grantee)) console.log(`${sql};`);
      }
    });
}
