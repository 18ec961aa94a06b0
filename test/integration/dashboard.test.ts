/**
 * The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; scripts/install-browser.sh installs it) against the real
 * API, worker and stack: jobs appear with their counters, rates, failed files
 * and Temporal links, and the pause button pauses a job for real; the search
 * box finds events in archives clp-s made and lists them with their archive ids.
 *
 * The screenshot goes to .stack/screenshots/dashboard.png; with
 * CLP_UPDATE_DOCS_SCREENSHOT=1 also to docs/dashboard.png (committed).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
// The page functions below run in the browser; this project's tsconfig has no DOM types.
import { chromium, type Browser, type Page } from 'playwright-core';
import { ApiTokens } from '../../src/client/http/api-tokens';
import { CompressionJobStatus } from '../../src/store/schema';
import { makeArchive, registerArchive, type ArchiveStats } from '../support/archives';
import { ensureDataset } from '../../src/clp/metadata';
import { apiServer } from '../support/http';
import { TEST_API_TOKENS } from '../support/secrets';
import { createTestBucket, putObjects, jsonEvents } from '../support/stack';
import { completeCompressionJobs, startHarness, waitForStatus, type Harness } from '../support/worker';
import { eventually, sleep } from '../support/wait';
import { s3ScannerConfig, timeoutOnlyBuffer } from '../support/configs';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const ROOT = path.resolve(__dirname, '..', '..');
const TOKEN = TEST_API_TOKENS.dashboard;
const READ_TOKEN = TEST_API_TOKENS.dashboardRead;

let h: Harness;
let bucket: string;
let api: FastifyInstance;
let base: string;
let browser: Browser;

async function post(url: string, body?: unknown, token?: string): Promise<any> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${url}`, {
    method: 'POST',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const put = (keys: string[]) => putObjects(h.s3, bucket, keys, { body: (key) => jsonEvents(key, 20) });

const s3Job = (prefix: string, extra: Record<string, unknown> = {}) =>
  s3ScannerConfig(bucket, prefix, { buffer_config: timeoutOnlyBuffer(), ...extra });

async function newPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  return { page, errors };
}

const row = (id: number) => `#jobs tr[data-job-id="${id}"]`;

if (!haveChromium) {
  test.skip(`dashboard browser test skipped: ${CHROMIUM} is absent (run scripts/install-browser.sh)`, () => {});
} else {
  beforeAll(async () => {
    h = await startHarness();
    bucket = await createTestBucket(h.s3);
    api = await apiServer(h);
    await api.listen({ host: '127.0.0.1', port: 0 });
    const addr = api.server.address();
    if (!addr || typeof addr === 'string') throw new Error('no listening address');
    base = `http://127.0.0.1:${addr.port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
    await browser?.close();
    await api?.close();
    await h?.close();
  });

  test('jobs appear with counters, rates, failed files and Temporal links; pause from the page pauses the job', async () => {
    // A job whose compression job fails: its files are listed with the compression job id.
    await put(['batch/part-1.log', 'batch/part-2.log', 'batch/part-3.log']);
    const failing = (await post('/s3_scanner', s3Job('batch/', { dataset: 'batch' }))).id;
    await eventually(
      async () => (await h.store.countFilesByStatus(failing)).submitted === 3,
      30_000,
      'submitted',
    );
    await completeCompressionJobs(h.pool, CompressionJobStatus.FAILED);
    await eventually(async () => (await h.store.requireJob(failing)).numFilesFailed === 3, 30_000, 'failed');

    // A job that compressed its files, one that failed outright, and the one to pause.
    await put(Array.from({ length: 40 }, (_, i) => `web/access-${String(i).padStart(3, '0')}.log`));
    const web = (await post('/s3_scanner', s3Job('web/', { dataset: 'web' }))).id;
    await eventually(async () => (await h.store.countFilesByStatus(web)).submitted === 40, 30_000, 'web');
    await completeCompressionJobs(h.pool);
    const broken = (await post('/s3_scanner', { ...s3Job('x/'), bucket_name: 'no-such-bucket-dashboard' }))
      .id;
    await waitForStatus(h, broken, 'failed');
    const target = (await post('/s3_scanner', s3Job('app/', { dataset: 'app' }))).id;

    const { page, errors } = await newPage();
    await page.goto(`${base}/ui`);
    await page.waitForSelector(`${row(target)}[data-status="running"]`, { timeout: 30_000 });
    for (const id of [failing, web, broken, target]) await page.waitForSelector(row(id));
    expect(await page.textContent(`${row(broken)} .status`)).toBe('failed');
    expect(await page.textContent(`${row(broken)} .error-msg`)).toMatch(/NoSuchBucket/);
    await eventually(
      async () => (await page.textContent(`${row(web)} .compressed`)) === '40',
      15_000,
      'web counters',
    );
    expect(await page.textContent(`${row(failing)} .failed`)).toBe('3');

    // The Temporal Web UI link of each job.
    expect(await page.getAttribute(`${row(target)} a.workflow-link`, 'href')).toBe(
      `http://127.0.0.1:8233/namespaces/${h.client.options.namespace}/workflows/clp-ingestion-job-${target}`,
    );

    // Failed files with their compression job ids.
    const failedRows = await page.$$eval('#failed-files tbody tr', (trs: any[]) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td: any) => td.textContent)),
    );
    const failedFiles = await h.store.listFiles(failing, { status: 'failed' });
    expect(failedRows).toEqual(
      failedFiles.map((f) => [
        `#${failing}`,
        f.path,
        f.size.toLocaleString('en-US'),
        String(f.compressionJobId),
      ]),
    );

    // Rates appear once two refreshes have been sampled (~2 s apart).
    await page.waitForFunction(
      (sel) => /^\d/.test((globalThis as any).document.querySelector(sel)?.textContent ?? ''),
      `${row(web)} .ingest-rate`,
      { timeout: 10_000 },
    );

    // Pause from the page: the row, the DB and the workflow all say paused.
    expect(await page.isEnabled(`${row(target)} button[data-action="resume"]`)).toBe(false);
    await page.click(`${row(target)} button[data-action="pause"]`);
    await page.waitForSelector(`${row(target)}[data-status="paused"]`, { timeout: 30_000 });
    expect((await h.store.requireJob(target)).status).toBe('paused');
    expect(await page.textContent('#message')).toBe(`job ${target}: pause accepted`);
    expect(await page.isEnabled(`${row(target)} button[data-action="resume"]`)).toBe(true);
    expect(await page.isEnabled(`${row(target)} button[data-action="pause"]`)).toBe(false);

    // The detail panel shows the live workflow state.
    await page.click(`${row(target)} td:first-child button`);
    await page.waitForSelector('#detail:not([hidden])');
    await eventually(
      async () => /paused/.test((await page.textContent('#detail-fields')) ?? ''),
      10_000,
      'detail',
    );

    // New objects while the page refreshes: the web job's ingest rate goes above zero.
    const more = Array.from({ length: 30 }, (_, i) => `web/late-${String(i).padStart(3, '0')}.log`);
    const trickle = (async () => {
      for (let i = 0; i < more.length; i += 5) {
        await put(more.slice(i, i + 5));
        await sleep(400);
      }
    })();
    await page.waitForFunction(
      (sel) => Number((globalThis as any).document.querySelector(sel)?.textContent) > 0,
      `${row(web)} .ingest-rate`,
      { timeout: 20_000 },
    );
    await trickle;
    const shots = path.join(ROOT, '.stack', 'screenshots');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'dashboard.png'), fullPage: true });
    if (process.env.CLP_UPDATE_DOCS_SCREENSHOT === '1') {
      mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, 'docs', 'dashboard.png'), fullPage: true });
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  test('with API tokens the page asks for one; a read-only token sees the jobs but no controls', async () => {
    const secured = await apiServer(h, {
      tokens: ApiTokens.of({ read: [READ_TOKEN], operator: [TOKEN] }),
    });
    await secured.listen({ host: '127.0.0.1', port: 0 });
    try {
      const addr = secured.server.address();
      if (!addr || typeof addr === 'string') throw new Error('no listening address');
      const { page, errors } = await newPage();
      await page.goto(`http://127.0.0.1:${addr.port}/ui`);
      await page.waitForSelector('#token-form:not([hidden])');
      expect(await page.textContent('#refresh-state')).toMatch(/missing bearer token/);

      // Read-only: the jobs, no pause/resume/stop, no Actions column, a read-only badge.
      await page.fill('#token-input', READ_TOKEN);
      await page.click('#token-form button[type="submit"]');
      await page.waitForSelector('#jobs tbody tr[data-job-id]');
      expect(await page.isHidden('#token-form')).toBe(true);
      await page.waitForSelector('body[data-scope="read"]');
      expect(await page.$$('#jobs button[data-action]')).toHaveLength(0);
      expect(await page.isHidden('#actions-header')).toBe(true);
      expect(await page.isVisible('#scope-badge')).toBe(true);

      // Operator: the controls are back.
      await page.click('#set-token');
      await page.fill('#token-input', TOKEN);
      await page.click('#token-form button[type="submit"]');
      await page.waitForSelector('body[data-scope="operator"]');
      await page.waitForSelector('#jobs button[data-action="stop"]');
      expect(await page.isVisible('#actions-header')).toBe(true);
      expect(await page.isHidden('#scope-badge')).toBe(true);
      expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
      await page.close();
    } finally {
      await secured.close();
    }
  });

  test('the search box lists the matching events with their archive ids, and says why a search fails', async () => {
    // Two archives clp-s made, registered as CLP's compression worker registers them.
    const root = mkdtempSync(path.join(tmpdir(), 'dashboard-archives-'));
    cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
    await ensureDataset(h.pool, 'weblogs', root);
    const archives: ArchiveStats[] = [];
    for (const t0 of [1_700_000_000_000, 1_800_000_000_000]) {
      const events = Array.from({ length: 6 }, (_, i) => ({
        ts: t0 + i,
        level: i % 3 ? 'INFO' : 'ERROR',
        msg: `request ${t0 + i}`,
      }));
      const [a] = await makeArchive(h.settings.executor.clpS, root, events);
      await registerArchive(h.pool, 'weblogs', a);
      archives.push(a);
    }

    const { page, errors } = await newPage();
    await page.goto(`${base}/ui`);
    await page.fill('#search-dataset', 'weblogs');
    await page.fill('#search-query', 'level: ERROR');
    await page.click('#search-form button[type="submit"]');
    await page.waitForSelector('#search-results:not([hidden]) tbody tr');
    const rows = await page.$$eval('#search-results tbody tr', (trs: any[]) =>
      trs.map((tr) => [tr.dataset.archiveId, JSON.parse(tr.querySelector('td.event').textContent)]),
    );
    // Newest archive first; each ERROR event once, under its archive.
    expect(rows.map(([id]) => id)).toEqual([archives[1].id, archives[1].id, archives[0].id, archives[0].id]);
    expect(rows.map(([, e]) => e.ts).sort()).toEqual([
      1_700_000_000_000, 1_700_000_000_003, 1_800_000_000_000, 1_800_000_000_003,
    ]);
    for (const [, e] of rows) expect(e).toEqual({ ts: e.ts, level: 'ERROR', msg: `request ${e.ts}` });
    expect(await page.textContent('#search-summary')).toBe('4 hits in 2 of 2 archives');

    // A time range and a limit: the older archive is not searched, and the rest is truncated.
    await page.fill('#search-query', '*');
    await page.fill('#search-begin', '2027-01-01T00:00:00Z');
    await page.fill('#search-limit', '2');
    await page.click('#search-form button[type="submit"]');
    await page.waitForSelector('#search-summary[data-truncated="true"]');
    expect(await page.textContent('#search-summary')).toMatch(/^2 hits in 1 of 1 archives \(truncated/);
    expect(
      await page.$$eval('#search-results tbody tr', (trs: any[]) => trs.map((tr) => tr.dataset.archiveId)),
    ).toEqual([archives[1].id, archives[1].id]);
    const shots = path.join(ROOT, '.stack', 'screenshots');
    mkdirSync(shots, { recursive: true });
    await (await page.$('#search'))!.screenshot({ path: path.join(shots, 'dashboard-search.png') });

    // A bad query and a bad time: the API's reason, naming the query or the field.
    await page.fill('#search-query', 'level: (');
    await page.click('#search-form button[type="submit"]');
    await page.waitForFunction(() =>
      /Parser error/.test((globalThis as any).document.querySelector('#search-summary').textContent),
    );
    expect(await page.isHidden('#search-results')).toBe(true);
    await page.fill('#search-query', '*');
    await page.fill('#search-begin', 'last week');
    await page.click('#search-form button[type="submit"]');
    await page.waitForFunction(() =>
      /^search failed: begin: /.test(
        (globalThis as any).document.querySelector('#search-summary').textContent,
      ),
    );
    expect(errors.filter((e) => !/400/.test(e))).toEqual([]);
    await page.close();
  });
}
