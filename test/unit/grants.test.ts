import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DB_ROLES } from '../../src/config/settings';
import { account, grantStatements, revokeStatements, ROLE_GRANTS } from '../../src/store/grants';

/** docs/security.md's grants table, as role -> table -> privileges. */
function readmeGrants(): Record<string, Record<string, string[]>> {
  const page = readFileSync(path.resolve(__dirname, '../../docs/security.md'), 'utf8');
  const section = page.split('\n## Least privilege on the CLP DB\n')[1]?.split(/\n#{2,3} /)[0];
  if (!section) throw new Error('docs/security.md has no "Least privilege on the CLP DB" section');
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  const header = section.split('\n').find((l) => l.startsWith('| Table'))!;
  const roles = header
    .split('|')
    .slice(2, -1)
    .map((c) => c.trim().toLowerCase());
  const out: Record<string, Record<string, string[]>> = Object.fromEntries(roles.map((r) => [r, {}]));
  for (const row of rows) {
    const [table, ...cells] = row
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const name = /^`([^`]+)`/.exec(table)![1];
    cells.forEach((cell, i) => {
      if (cell) out[roles[i]][name] = cell.split(', ');
    });
  }
  return out;
}

test("docs/security.md's grants table is the code's, role by role and table by table", () => {
  expect(readmeGrants()).toEqual(ROLE_GRANTS);
  expect(Object.keys(readmeGrants())).toEqual([...DB_ROLES]);
});

test('no role may create, alter, drop or delete: only SELECT, INSERT and UPDATE (EXECUTE on procedures), and SELECT beside every UPDATE', () => {
  for (const role of DB_ROLES) {
    for (const [table, privileges] of Object.entries(ROLE_GRANTS[role])) {
      const allowed = table.startsWith('PROCEDURE ') ? ['EXECUTE'] : ['SELECT', 'INSERT', 'UPDATE'];
      expect([table, privileges!.every((p) => allowed.includes(p))]).toEqual([table, true]);
      if (privileges!.includes('UPDATE'))
        expect([role, table, privileges]).toEqual([role, table, expect.arrayContaining(['SELECT'])]);
    }
  }
});

test('statements quote names, and each REVOKE undoes its GRANT', () => {
  const grantee = account("o'brien", '10.0.%');
  expect(grantee).toBe("'o''brien'@'10.0.%'");
  const grants = grantStatements('executor', 'clp`db', grantee);
  expect(grants).toContain("GRANT SELECT, UPDATE ON `clp``db`.`compression_jobs` TO 'o''brien'@'10.0.%'");
  expect(revokeStatements('executor', 'clp`db', grantee)).toEqual(
    grants.map((g) => g.replace('GRANT', 'REVOKE').replace(" TO 'o''brien'", " FROM 'o''brien'")),
  );
});
