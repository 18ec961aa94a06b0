/**
 * Least privilege on the CLP DB (src/store/grants.ts): the worker, executor
 * and API connect with users of their own (config/local.env), granted only
 * what they need by the schema owner's `clp-ingestor migrate`. The rest of the
 * suite runs its workers, executors and API stores with these users.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { DB_ROLES, dbFor, type DbRole } from '../../src/config/settings';
import type { Db } from '../../src/store/db';
import { ROLE_GRANTS } from '../../src/store/grants';
import { ADD_DATASET_PROCEDURE, datasetTables, ensureDataset } from '../../src/clp/metadata';
import { ensureSchema, TABLES } from '../../src/store/schema';
import { ensureBuilt } from '../fault/support';
import { createEmptyTestDb, createTestDb, rolePool, type TestDb } from '../support/stack';

const run = promisify(execFile);
const CLI = [path.resolve(__dirname, '../../dist/client/cli.js')];

/** table -> privileges, from the grants a user sees of its own (SHOW GRANTS). */
async function grantsOf(pool: Db, database: string): Promise<Record<string, string[]>> {
  const [rows] = await pool.query<any[]>('SHOW GRANTS');
  const out: Record<string, string[]> = {};
  for (const row of rows) {
    const line = String(Object.values(row)[0]);
    if (/^GRANT USAGE ON \*\.\*/.test(line)) continue;
    const m = /^GRANT (.+) ON (PROCEDURE )?`([^`]+)`\.`([^`]+)` TO /.exec(line);
    if (!m) throw new Error(`a grant beyond single tables and procedures: ${line}`);
    if (m[3].replace(/\\_/g, '_') !== database) continue; // another test's database
    out[`${m[2] ?? ''}${m[4]}`] = m[1].split(', ').sort();
  }
  return out;
}

const expected = (role: DbRole) =>
  Object.fromEntries(Object.entries(ROLE_GRANTS[role]).map(([t, p]) => [t, [...p!].sort()]));

let db: TestDb;
const pools: Partial<Record<DbRole, Db>> = {};
beforeAll(async () => {
  await ensureBuilt();
  db = await createTestDb();
  for (const role of DB_ROLES) pools[role] = rolePool(db.settings, role);
});
afterAll(async () => {
  for (const p of Object.values(pools)) await p.end();
  await db?.drop();
});

test('the suite runs with a user of its own for each role, none of them the schema owner', () => {
  const users = DB_ROLES.map((r) => dbFor(db.settings, r).user);
  expect(new Set([...users, db.settings.db.user]).size).toBe(DB_ROLES.length + 1);
});

test.each(DB_ROLES)('%s holds exactly the grants src/store/grants.ts lists, table by table', async (role) => {
  expect(await grantsOf(pools[role]!, db.settings.db.database)).toEqual(expected(role));
});

test('each role is refused what it was not granted: DDL, deletes, other roles’ tables', async () => {
  const refused = async (role: DbRole, sql: string) => {
    await expect(pools[role]!.query(sql)).rejects.toMatchObject({
      code: expect.stringMatching(/^ER_(TABLEACCESS|DBACCESS|COLUMNACCESS)_DENIED_ERROR$/),
    });
  };
  // Each statement would succeed for the owner: prove that first.
  const probes: [DbRole, string][] = [
    ['worker', `DELETE FROM ${TABLES.ingestedFiles} WHERE id = -1`],
    ['worker', `ALTER TABLE ${TABLES.ingestedFiles} COMMENT = 'x'`],
    ['worker', `UPDATE compression_jobs SET status = status WHERE id = -1`],
    ['worker', `SELECT COUNT(*) FROM ${TABLES.executorLeases}`],
    ['executor', `SELECT COUNT(*) FROM ${TABLES.ingestionJobs}`],
    ['executor', `SELECT COUNT(*) FROM ${TABLES.ingestedFiles}`],
    ['executor', `INSERT INTO compression_jobs (clp_config) VALUES ('x')`],
    ['api', `INSERT INTO ${TABLES.ingestedFiles} () VALUES ()`],
    ['api', `SELECT COUNT(*) FROM compression_jobs`],
    ['api', `UPDATE ${TABLES.s3ScannerState} SET last_ingested_key = NULL WHERE id = -1`],
    ['api', `DROP TABLE ${TABLES.submissions}`],
  ];
  for (const [role, sql] of probes) {
    if (!/^(INSERT|DROP|ALTER)/.test(sql)) await db.pool.query(sql); // the owner may
    await refused(role, sql);
  }
});

test("a dataset's CLP tables come from the owner's procedure: the executor may add rows, the API read them, neither alter them", async () => {
  await ensureDataset(pools.executor!, 'lp_dataset', '/archives/lp_dataset');
  const t = datasetTables('lp_dataset');
  await pools.executor!.query(
    `INSERT INTO ${t.archives} (id, begin_timestamp, end_timestamp, uncompressed_size, size, creator_id, creation_ix)
     VALUES ('a1', 0, 0, 10, 5, '', 0)`,
  );
  const [rows] = await pools.api!.query<any[]>(`SELECT id FROM ${t.archives}`);
  expect(rows.map((r) => r.id)).toEqual(['a1']);
  expect((await grantsOf(pools.executor!, db.settings.db.database))[t.archives]).toEqual([
    'INSERT',
    'SELECT',
  ]);
  expect((await grantsOf(pools.api!, db.settings.db.database))[t.archives]).toEqual(['SELECT']);
  for (const role of ['executor', 'api'] as const) {
    await expect(pools[role]!.query(`ALTER TABLE ${t.archives} COMMENT = 'x'`)).rejects.toMatchObject({
      code: 'ER_TABLEACCESS_DENIED_ERROR',
    });
    await expect(pools[role]!.query(`DELETE FROM ${t.archives}`)).rejects.toMatchObject({
      code: 'ER_TABLEACCESS_DENIED_ERROR',
    });
  }
  await expect(pools.api!.query(`CALL ${ADD_DATASET_PROCEDURE}('x', 'y')`)).rejects.toMatchObject({
    code: 'ER_PROCACCESS_DENIED_ERROR',
  });
  // The procedure checks the name itself: nothing but a CLP dataset name reaches its SQL.
  await expect(
    pools.executor!.query(`CALL ${ADD_DATASET_PROCEDURE}(?, 'y')`, [
      'x_archives` (id INT); DROP TABLE compression_jobs; --',
    ]),
  ).rejects.toThrow(/invalid CLP dataset name/);
  await expect(db.pool.query('SELECT 1 FROM compression_jobs LIMIT 1')).resolves.toBeDefined(); // not dropped
});

test('a least-privilege worker facing a schema behind its build says who must migrate', async () => {
  // One migration "not yet applied": the worker's user may read the record but not migrate.
  const [[last]] = await db.pool.query<any[]>(
    `SELECT * FROM ${TABLES.migrations} ORDER BY version DESC LIMIT 1`,
  );
  await db.pool.query(`DELETE FROM ${TABLES.migrations} WHERE version = ?`, [last.version]);
  try {
    await expect(ensureSchema(pools.worker!, dbFor(db.settings, 'worker').user)).rejects.toThrow(
      /schema is not up to date and DB user clp-ingestor-worker may not migrate it .*run `clp-ingestor migrate` as the schema owner/,
    );
    // The owner may: and then the worker finds nothing to do.
    await expect(ensureSchema(db.pool, db.settings.db.user)).resolves.toEqual([last.version]);
    await expect(ensureSchema(pools.worker!, 'worker')).resolves.toEqual([]);
  } finally {
    await db.pool.query(`INSERT IGNORE INTO ${TABLES.migrations} VALUES (?, ?, ?)`, [
      last.version,
      last.description,
      last.applied_ts,
    ]);
  }
});

test('`clp-ingestor migrate` migrates an empty database as the owner and grants each role its privileges; `db-grants` prints them', async () => {
  const empty = await createEmptyTestDb();
  const env = { ...process.env, CLP_DB_NAME: empty.settings.db.database };
  const workerPool = rolePool(empty.settings, 'worker');
  try {
    // Before: the worker's user may not even use the database.
    await expect(workerPool.query('SELECT 1')).rejects.toMatchObject({ code: 'ER_DBACCESS_DENIED_ERROR' });
    const { stdout } = await run('node', [...CLI, 'migrate'], { env });
    expect(stdout).toMatch(/applied migrations 1, 2/);
    for (const role of DB_ROLES) {
      expect(stdout).toContain(`granted ${role}: '${dbFor(empty.settings, role).user}'@'127.0.0.1'`);
    }
    expect(await grantsOf(workerPool, empty.settings.db.database)).toEqual(expected('worker'));
    // Idempotent: a second run applies nothing and grants the same.
    expect((await run('node', [...CLI, 'migrate'], { env })).stdout).toMatch(/^schema up to date/);

    const printed = (
      await run('node', [...CLI, 'db-grants', '--role', 'api', '--user', 'me', '--host', '%'], { env })
    ).stdout;
    expect(printed).toContain(
      `GRANT SELECT, INSERT, UPDATE ON \`${empty.settings.db.database}\`.\`${TABLES.ingestionJobs}\` TO 'me'@'%';`,
    );
    expect(printed).not.toContain('-- worker');
    await expect(run('node', [...CLI, 'db-grants', '--role', 'root'], { env })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--role: must be one of worker, executor, api'),
    });
  } finally {
    await workerPool.end();
    await empty.drop();
  }
});
