/**
 * Search (src/clp/search.ts, the CLI's `search`, REST `GET /search`) on the
 * real stack: archives made by CLP's clp-s from JSON lines written here,
 * registered in CLP's metadata tables of a throwaway DB as CLP's compression
 * worker registers them, in a directory and in MinIO; searched with the API's
 * least-privilege DB user.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createS3Client } from '../../src/aws';
import { ApiTokens } from '../../src/client/http/api-tokens';
import { buildServer } from '../../src/client/http/server';
import { connectClient } from '../../src/temporal';
import {
  ArchiveSearchError,
  collectSearch,
  countEvents,
  InvalidQueryError,
  MAX_TIMESTAMP_MS,
  parseSearchTime,
  searchContext,
  searchDataset,
  SearchInputError,
  UnknownDatasetError,
  type SearchContext,
  type SearchOptions,
} from '../../src/clp/search';
import type { Db } from '../../src/store/db';
import { IngestionStore } from '../../src/store/ingestion-store';
import { makeArchive, registerArchive, type ArchiveStats } from '../support/archives';
import { ensureDataset } from '../../src/clp/metadata';
import { CLI, runCli } from '../support/cli';
import { TEST_API_TOKENS } from '../support/secrets';
import { createTestBucket, createTestDb, rolePool, type TestDb } from '../support/stack';

// The module object search.ts calls spawn on (a namespace import would be a copy).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const childProcess = require('node:child_process') as typeof import('node:child_process');

const T_OLD = 1_700_000_000_000;
const T_MID = 1_750_000_000_000;
const T_NEW = 1_800_000_000_000;

/** Ten events a second apart from t0, alternating INFO and ERROR, tagged with their archive. */
const events = (tag: string, t0: number, n = 10) =>
  Array.from({ length: n }, (_, i) => ({
    ts: t0 + i * 1000,
    level: i % 2 ? 'ERROR' : 'INFO',
    msg: `${tag} event ${i}`,
    tag,
    i,
  }));

let db: TestDb;
let apiPool: Db;
let ctx: SearchContext;
let archiveRoot: string;
/** The registered archives of dataset `app`, by tag. */
const app: Record<string, ArchiveStats> = {};
let leftover: ArchiveStats;
const APP_EVENTS = 10 + 10 + 5 + 5;

beforeAll(async () => {
  db = await createTestDb();
  apiPool = rolePool(db.settings, 'api');
  ctx = searchContext(db.settings, apiPool);
  archiveRoot = mkdtempSync(path.join(tmpdir(), 'search-archives-'));
  const dir = path.join(archiveRoot, 'app');
  await ensureDataset(db.pool, 'app', dir);
  const make = async (evs: object[], singleFile = true) => {
    const [stats] = await makeArchive(ctx.clpS, dir, evs, { singleFile });
    return stats;
  };
  app.old = await make(events('old', T_OLD));
  app.new = await make(events('new', T_NEW));
  // No timestamps at all: CLP's row says 0/0.
  app.nots = await make(events('nots', 0, 5).map(({ ts: _ts, ...e }) => e));
  // clp-s's directory layout rather than a single file.
  app.dir = await make(events('dir', T_MID, 5), false);
  for (const a of Object.values(app)) await registerArchive(db.pool, 'app', a);
  // Compressed into the dataset's directory but never registered: must never be searched.
  leftover = await make(events('leftover', T_MID, 7));

  await ensureDataset(db.pool, 'empty', path.join(archiveRoot, 'empty'));
});

afterAll(async () => {
  await apiPool?.end();
  await db?.drop();
  if (archiveRoot) rmSync(archiveRoot, { recursive: true, force: true });
});

const search = (opts: Omit<SearchOptions, 'dataset'> & { dataset?: string }, c = ctx) =>
  collectSearch(c, { dataset: 'app', ...opts });

const tags = (hits: { event: Record<string, unknown> }[]) => hits.map((h) => h.event.tag);
const count = (xs: unknown[]) =>
  xs.reduce<Record<string, number>>((m, x) => ({ ...m, [String(x)]: (m[String(x)] ?? 0) + 1 }), {});

describe('searchDataset', () => {
  test('what clp-s writes: archives without timestamps are 0/0, the others span their events', () => {
    expect([app.nots.begin_timestamp, app.nots.end_timestamp]).toEqual([0, 0]);
    expect([app.old.begin_timestamp, app.old.end_timestamp]).toEqual([T_OLD, T_OLD + 9000]);
    expect(existsSync(path.join(archiveRoot, 'app', app.dir.id))).toBe(true);
  });

  test('finds every event of every registered archive exactly once, each with its archive id', async () => {
    const r = await search({ query: '*', limit: 100 });
    expect(r).toMatchObject({ hits: APP_EVENTS, truncated: false, archivesSelected: 4, archivesSearched: 4 });
    expect(count(tags(r.results))).toEqual({ old: 10, new: 10, nots: 5, dir: 5 });
    for (const h of r.results) expect(h.archive_id).toBe(app[h.event.tag as string].id);
    const keys = r.results.map((h) => `${h.event.tag}/${h.event.i}`);
    expect(new Set(keys).size).toBe(APP_EVENTS);
    // Newest archive first, as CLP's scheduler orders them.
    expect(r.results[0].archive_id).toBe(app.new.id);
    expect(r.results[0].event).toEqual(
      expect.objectContaining({ ts: expect.any(Number), level: expect.any(String) }),
    );
    expect(await countEvents(ctx, 'app')).toBe(APP_EVENTS);
  });

  test('an archive file in the directory without a row is never searched (clp-s itself would find its events)', async () => {
    const { stdout } = await promisify(execFile)(ctx.clpS, [
      's',
      path.join(archiveRoot, 'app'),
      'tag: leftover',
      '--archive-id',
      leftover.id,
    ]);
    expect(stdout.trim().split('\n')).toHaveLength(7);
    expect((await search({ query: 'tag: leftover' })).hits).toBe(0);
    expect(await countEvents(ctx, 'app', 'tag: leftover')).toBe(0);
  });

  test('KQL queries select events', async () => {
    const errors = await search({ query: 'level: ERROR' });
    expect(errors.hits).toBe(5 + 5 + 2 + 2);
    expect(errors.results.every((h) => h.event.level === 'ERROR')).toBe(true);
    expect(tags((await search({ query: 'msg: "new event*" AND i > 7' })).results)).toEqual(['new', 'new']);
    expect((await search({ query: 'level: error' })).hits).toBe(0);
    expect((await search({ query: 'level: error', ignoreCase: true })).hits).toBe(14);
  });

  test('a time range leaves out archives outside it, though they hold matching events', async () => {
    // The old archive matches the query when no range is given ...
    const unranged = await search({ query: 'level: INFO' });
    expect(count(tags(unranged.results))).toEqual({ old: 5, new: 5, nots: 3, dir: 3 });
    // ... and is not even searched with a begin after its end.
    const ranged = await search({ query: 'level: INFO', begin: T_MID });
    expect(ranged.archivesSelected).toBe(2); // dir and new; nots has no timestamps
    expect(count(tags(ranged.results))).toEqual({ new: 5, dir: 3 });
    const upTo = await search({ query: '*', end: T_MID + 10_000 });
    expect(upTo.archivesSelected).toBe(2); // old and dir
    expect(count(tags(upTo.results))).toEqual({ old: 10, dir: 5 });
    // Within an archive clp-s keeps to the range (--tge / --tle, both inclusive).
    const inside = await search({ query: '*', begin: T_OLD + 3000, end: T_OLD + 6000 });
    expect(inside.archivesSelected).toBe(1);
    expect(inside.results.map((h) => h.event.i).sort()).toEqual([3, 4, 5, 6]);
    expect(await countEvents(ctx, 'app', '*', { begin: T_NEW })).toBe(10);
    expect((await search({ query: '*', begin: T_NEW + 60_000 })).archivesSelected).toBe(0);
  });

  test('the limit: at most that many hits, truncated only when more exist, the child stopped', async () => {
    const cut = await search({ query: '*', limit: 7 });
    expect(cut).toMatchObject({ hits: 7, truncated: true, archivesSearched: 1 });
    expect(cut.results).toHaveLength(7);
    expect((await search({ query: '*', limit: APP_EVENTS })).truncated).toBe(false);
    expect((await search({ query: '*', limit: APP_EVENTS - 1 })).truncated).toBe(true);
    // The last hit is the limit: the search goes on only until it finds one more.
    const edge = await search({ query: '*', limit: 10 });
    expect(edge).toMatchObject({ hits: 10, truncated: true, archivesSearched: 2 });

    // Leaving the loop early stops clp-s: no child is left running.
    const spawn = jest.spyOn(childProcess, 'spawn');
    try {
      const gen = searchDataset(ctx, { dataset: 'app', query: '*' });
      await gen.next();
      await gen.return(undefined as never);
      const child = spawn.mock.results.at(-1)!.value as ChildProcess;
      expect(child.exitCode !== null || child.signalCode !== null).toBe(true);
    } finally {
      spawn.mockRestore();
    }
  });

  test('a bad query is refused naming the query and quoting clp-s, with or without archives', async () => {
    for (const dataset of ['app', 'empty']) {
      await expect(search({ dataset, query: 'level: (' })).rejects.toThrow(InvalidQueryError);
      await expect(search({ dataset, query: 'level: (' })).rejects.toThrow(
        /query "level: \(" is not valid KQL: Parser error: /,
      );
      await expect(search({ dataset, query: 'msg: "unterminated' })).rejects.toThrow(/Lexer error/);
    }
    await expect(search({ query: 'i > abc' })).rejects.toThrow(/query "i > abc" .*logically false/);
    await expect(search({ query: '  ' })).rejects.toThrow(/^query: must not be empty/);
    await expect(countEvents(ctx, 'empty', 'a: (')).rejects.toThrow(InvalidQueryError);
    expect(await countEvents(ctx, 'empty')).toBe(0);
  });

  test('an unknown dataset is named; a malformed one is refused', async () => {
    await expect(search({ dataset: 'nosuch', query: '*' })).rejects.toThrow(UnknownDatasetError);
    await expect(search({ dataset: 'nosuch', query: '*' })).rejects.toThrow(
      /dataset "nosuch" does not exist/,
    );
    await expect(countEvents(ctx, 'nosuch')).rejects.toThrow(/dataset "nosuch"/);
    await expect(search({ dataset: 'a-b', query: '*' })).rejects.toThrow(SearchInputError);
    await expect(search({ dataset: 'a-b', query: '*' })).rejects.toThrow(
      /^dataset: dataset "a-b" is not a valid/,
    );
  });

  test('bad options name themselves', async () => {
    await expect(search({ query: '*', limit: 0 })).rejects.toThrow(/^limit: /);
    await expect(search({ query: '*', limit: 100_001 })).rejects.toThrow(/^limit: /);
    await expect(search({ query: '*', begin: 5, end: 4 })).rejects.toThrow(/^begin \(5\) is after end \(4\)/);
    await expect(search({ query: '*', end: MAX_TIMESTAMP_MS + 1 })).rejects.toThrow(/^end: /);
  });

  test('times: epoch ms or ISO-8601, refused with the field named otherwise', () => {
    expect(parseSearchTime('1700000000000', '--begin')).toBe(T_OLD);
    expect(parseSearchTime('2023-11-14T22:13:20Z', '--begin')).toBe(T_OLD);
    expect(parseSearchTime('2023-11-14T23:13:20.000+01:00', 'begin')).toBe(T_OLD);
    expect(parseSearchTime('2023-11-14', 'begin')).toBe(Date.UTC(2023, 10, 14));
    expect(parseSearchTime('-5', 'begin')).toBe(-5);
    for (const bad of ['yesterday', '2023-02-30', '2023-11-14T22:13:20', '1.5', '']) {
      expect(() => parseSearchTime(bad, '--end')).toThrow(/^--end: /);
    }
    expect(() => parseSearchTime(String(MAX_TIMESTAMP_MS + 1), '--end')).toThrow(/^--end: .*2262/);
    expect(() => parseSearchTime('+275760-09-13T00:00:00Z', '--end')).toThrow(/^--end: /);
  });

  test('a registered archive that is missing is an error naming it', async () => {
    const dir = path.join(archiveRoot, 'gone');
    await ensureDataset(db.pool, 'gone', dir);
    const [a] = await makeArchive(ctx.clpS, dir, events('gone', T_OLD, 2));
    await registerArchive(db.pool, 'gone', a);
    expect(await countEvents(ctx, 'gone')).toBe(2);
    unlinkSync(path.join(dir, a.id));
    const err = await collectSearch(ctx, { dataset: 'gone', query: '*' }).catch((e) => e);
    expect(err).toBeInstanceOf(ArchiveSearchError);
    expect(err.message).toContain(`archive ${a.id} of dataset "gone"`);
  });
});

describe('archives in S3 (MinIO)', () => {
  let s3ctx: SearchContext;
  const s3 = () => createS3Client(db.settings.aws);
  const PREFIX = 'clp-archives/';
  let s3archives: ArchiveStats[];

  beforeAll(async () => {
    const client = s3();
    const bucket = await createTestBucket(client);
    // The worker writes each single-file archive to <prefix><dataset>/<archive id>.
    await ensureDataset(db.pool, 's3ds', `${PREFIX}s3ds`);
    const staging = path.join(archiveRoot, 's3-staging');
    s3archives = [
      ...(await makeArchive(db.settings.executor.clpS, staging, events('s3old', T_OLD))),
      ...(await makeArchive(db.settings.executor.clpS, staging, events('s3new', T_NEW, 4))),
    ];
    for (const a of s3archives) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `${PREFIX}s3ds/${a.id}`,
          Body: readFileSync(path.join(staging, a.id)),
        }),
      );
      await registerArchive(db.pool, 's3ds', a);
    }
    // Unregistered, in the dataset's prefix: never searched.
    const [stray] = await makeArchive(db.settings.executor.clpS, staging, events('stray', T_NEW, 3));
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${PREFIX}s3ds/${stray.id}`,
        Body: readFileSync(path.join(staging, stray.id)),
      }),
    );
    client.destroy();
    s3ctx = searchContext(
      { ...db.settings, executor: { ...db.settings.executor, archiveS3: { bucket, keyPrefix: PREFIX } } },
      apiPool,
    );
  });

  test('clp-s reads single-file archives from S3 URLs (path-style, --auth s3); secrets only in its environment', async () => {
    const spawn = jest.spyOn(childProcess, 'spawn');
    try {
      const r = await collectSearch(s3ctx, { dataset: 's3ds', query: '*' });
      expect(count(tags(r.results))).toEqual({ s3old: 10, s3new: 4 });
      const call = spawn.mock.calls.find((c) => (c[1] as string[]).includes('--auth'))!;
      const args = call[1] as string[];
      expect(args.slice(0, 4)).toEqual([
        's',
        `${db.settings.aws.s3Endpoint}/${s3ctx.s3!.bucket}/${PREFIX}s3ds/${s3archives[1].id}`,
        '--auth',
        's3',
      ]);
      const secret = db.settings.aws.credentials!.secretAccessKey;
      expect(args.join(' ')).not.toContain(secret);
      const env = (call[2] as { env: NodeJS.ProcessEnv }).env;
      expect(env.AWS_SECRET_ACCESS_KEY).toBe(secret);
      expect(Object.keys(env).filter((k) => /CLP_DB|PASS/.test(k))).toEqual([]);
    } finally {
      spawn.mockRestore();
    }
    expect(await countEvents(s3ctx, 's3ds', '*', { begin: T_NEW })).toBe(4);
    expect(await countEvents(s3ctx, 's3ds', 'tag: stray')).toBe(0);
  });

  test('without credentials, or with wrong ones, the error says so', async () => {
    const noCreds = { ...s3ctx, s3: { ...s3ctx.s3!, credentials: undefined } };
    await expect(collectSearch(noCreds, { dataset: 's3ds', query: '*' })).rejects.toThrow(
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY .*not set/,
    );
    const wrong = {
      ...s3ctx,
      s3: { ...s3ctx.s3!, credentials: { accessKeyId: 'minioadmin', secretAccessKey: 'not-the-secret' } },
    };
    const err = await collectSearch(wrong, { dataset: 's3ds', query: '*' }).catch((e) => e);
    expect(err).toBeInstanceOf(ArchiveSearchError);
    expect(err.message).toMatch(
      /clp-s could not search archive .* of dataset "s3ds" \(http:\/\/127\.0\.0\.1:9000\//,
    );
    expect(err.message).not.toContain('not-the-secret');
  });
});

describe('CLI: clp-ingestor search', () => {
  const cli = (args: string[]) => runCli({ settings: db.settings, taskQueue: 'unused' }, ['search', ...args]);
  const lines = (out: string) =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));

  beforeAll(async () => {
    // HEAD's build has errors in src/executor/ (being rewritten elsewhere); tsc still emits the CLI.
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], {
      cwd: path.resolve(__dirname, '..', '..'),
    }).catch((err: { stdout?: string }) => {
      const errors = (err.stdout ?? '').split('\n').filter((l) => /error TS/.test(l));
      if (!errors.length || errors.some((l) => !l.startsWith('src/executor/'))) throw err;
    });
    expect(existsSync(CLI)).toBe(true);
  });

  test('prints one JSON line per hit with its archive id; exit 0', async () => {
    const r = await cli([
      '--dataset',
      'app',
      '--begin',
      '2023-11-14T22:13:23Z',
      '--end',
      String(T_OLD + 4000),
      'level: ERROR',
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(lines(r.stdout)).toEqual([{ archive_id: app.old.id, event: events('old', T_OLD)[3] }]);
    const all = await cli(['--dataset', 'app', '*']);
    expect(lines(all.stdout)).toHaveLength(APP_EVENTS);
  });

  test('a truncated search says so on stderr', async () => {
    const r = await cli(['--dataset', 'app', '--limit', '3', '*']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(3);
    expect(r.stderr).toMatch(/search truncated after 3 hits \(--limit 3\)/);
  });

  test('errors: bad input exit 2 naming the flag or query, unknown dataset exit 3', async () => {
    const expectErr = async (args: string[], code: number, re: RegExp) => {
      const r = await cli(args);
      expect([r.code, r.stdout, r.stderr]).toEqual([code, '', expect.stringMatching(re)]);
    };
    await expectErr(['--dataset', 'app', '--begin', 'noon', '*'], 2, /--begin: "noon" is neither epoch/);
    await expectErr(['--dataset', 'app', '--end', '2023-11-14T22:13:20', '*'], 2, /--end: /);
    await expectErr(
      ['--dataset', 'app', '--limit', '0', '*'],
      2,
      /--limit: must be an integer from 1 to 100000/,
    );
    await expectErr(
      ['--dataset', 'app', '--begin', '10', '--end', '5', '*'],
      2,
      /--begin \(10\) is after --end \(5\)/,
    );
    await expectErr(['--dataset', 'app', 'level: ('], 2, /query "level: \(" is not valid KQL: Parser error/);
    await expectErr(['--dataset', 'nosuch', '*'], 3, /dataset "nosuch" does not exist/);
    await expectErr(['*'], 2, /--dataset/);
  });
});

describe('REST: GET /search', () => {
  let client: Client;
  let api: FastifyInstance;
  let store: IngestionStore;

  beforeAll(async () => {
    client = await connectClient();
    store = new IngestionStore(apiPool);
    api = await buildServer({ store, client, settings: db.settings, authToken: '' });
  });
  afterAll(async () => {
    await api?.close();
    await client?.connection.close();
  });

  const get = async (query: Record<string, string>, a = api, headers: Record<string, string> = {}) => {
    const res = await a.inject({ method: 'GET', url: '/search', query, headers });
    return { status: res.statusCode, type: String(res.headers['content-type']), body: res.body };
  };
  const ndjson = (body: string) =>
    body
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));

  test('answers JSON lines: the hits, then a summary', async () => {
    const r = await get({ dataset: 'app', query: 'level: INFO', begin: String(T_MID), limit: '100' });
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^application\/x-ndjson/);
    const out = ndjson(r.body);
    const summary = out.pop();
    expect(summary).toEqual({
      summary: { hits: 8, truncated: false, archives_selected: 2, archives_searched: 2 },
    });
    expect(count(out.map((h) => h.event.tag))).toEqual({ new: 5, dir: 3 });
    for (const h of out) expect(h.archive_id).toBe(app[h.event.tag].id);
  });

  test('the limit truncates, and the summary says so', async () => {
    const out = ndjson((await get({ dataset: 'app', query: '*', limit: '4' })).body);
    expect(out).toHaveLength(5);
    expect(out[4]).toEqual({
      summary: { hits: 4, truncated: true, archives_selected: 4, archives_searched: 1 },
    });
    const dflt = ndjson((await get({ dataset: 'app', query: '*' })).body);
    expect(dflt.at(-1).summary).toMatchObject({ hits: APP_EVENTS, truncated: false });
  });

  test('errors are 400 naming the parameter or query, 404 for an unknown dataset', async () => {
    const expectErr = async (query: Record<string, string>, status: number, re: RegExp) => {
      const r = await get(query);
      expect([r.status, JSON.parse(r.body)]).toEqual([status, { error: expect.stringMatching(re) }]);
    };
    await expectErr({ query: '*' }, 400, /property 'dataset'/);
    await expectErr({ dataset: 'app' }, 400, /property 'query'/);
    await expectErr({ dataset: 'app', query: '*', limit: '0' }, 400, /limit must be >= 1/);
    await expectErr({ dataset: 'app', query: '*', limit: '100001' }, 400, /limit must be <= 100000/);
    await expectErr({ dataset: 'app', query: '*', begin: 'soon' }, 400, /^begin: "soon"/);
    await expectErr({ dataset: 'app', query: '*', end: '1e3' }, 400, /^end: /);
    await expectErr(
      { dataset: 'app', query: '*', begin: '9', end: '3' },
      400,
      /begin \(9\) is after end \(3\)/,
    );
    await expectErr(
      { dataset: 'app', query: 'level: (' },
      400,
      /query "level: \(" is not valid KQL: Parser error/,
    );
    await expectErr({ dataset: 'a-b', query: '*' }, 400, /^dataset: /);
    await expectErr({ dataset: 'nosuch', query: '*' }, 404, /dataset "nosuch" does not exist/);
  });

  test('a read token may search; no token may not', async () => {
    const secured = await buildServer({
      store,
      client,
      settings: db.settings,
      tokens: ApiTokens.of({ read: [TEST_API_TOKENS.dashboardRead], operator: [TEST_API_TOKENS.dashboard] }),
    });
    try {
      expect((await get({ dataset: 'app', query: '*' }, secured)).status).toBe(401);
      const ok = await get({ dataset: 'app', query: 'tag: dir' }, secured, {
        authorization: `Bearer ${TEST_API_TOKENS.dashboardRead}`,
      });
      expect(ok.status).toBe(200);
      expect(ndjson(ok.body)).toHaveLength(6);
    } finally {
      await secured.close();
    }
  });

  test('the OpenAPI document describes it', async () => {
    const doc = (await api.inject({ method: 'GET', url: '/openapi.json' })).json();
    const op = doc.paths['/search'].get;
    expect(op.tags).toEqual(['Search']);
    expect(Object.keys(op.responses['200'].content)).toEqual(['application/x-ndjson']);
    expect(op.parameters.map((p: { name: string }) => p.name).sort()).toEqual([
      'begin',
      'dataset',
      'end',
      'ignore_case',
      'limit',
      'query',
    ]);
    expect(op.responses['400'].description).toEqual(expect.any(String));
  });
});
