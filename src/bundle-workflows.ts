/**
 * Bundles the workflow code once at build time (dist/workflow-bundle.js), so a
 * worker starts in about a second instead of bundling with webpack on every
 * start: that is most of a restarted worker's recovery time.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

export const WORKFLOW_BUNDLE = path.join(__dirname, 'workflow-bundle.js');

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: new DefaultLogger('WARN'),
  });
  writeFileSync(WORKFLOW_BUNDLE, code);
  console.log(
    `bundled workflows into ${path.relative(process.cwd(), WORKFLOW_BUNDLE)} (${code.length} bytes)`,
  );
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`bundle-workflows: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
