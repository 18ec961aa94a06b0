// Screenshots a job's workflow page in the local Temporal Web UI with Debian's Chromium
// (headless, loopback only): node scripts/web-ui-screenshot.mjs <workflow-id> <out.png> [tab]
// (tab: a tab of the workflow page to open first, e.g. "User Metadata"; TEMPORAL_NAMESPACE picks the namespace)
import { chromium } from 'playwright-core';

const [workflowId, out, tab] = process.argv.slice(2);
const namespace = process.env.TEMPORAL_NAMESPACE ?? 'clp-ingestor';
if (!workflowId || !out) {
  console.error('usage: node scripts/web-ui-screenshot.mjs <workflow-id> <out.png> [tab]');
  process.exit(2);
}
const ui = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
  await page.goto(
    `${ui}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`,
    {
      waitUntil: 'networkidle',
    },
  );
  if (tab) await page.getByRole('tab', { name: tab }).click();
  await page.waitForTimeout(2_000); // the timeline draws after the history arrives
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
