/**
 * The worker as one version of a Temporal Worker Deployment (docs/upgrades.md).
 *
 * Every ingestion-job run is pinned to the version it started on, so a run
 * only ever replays the code it was written by: a change to the workflow's
 * commands ships as a new build (a new version) instead of a `patched()`
 * branch. A job moves to a newer version at its next continue-as-new, which
 * it makes as soon as Temporal says its deployment has a new target version
 * (job-state.ts: continueAsNewDue).
 *
 * The build id defaults to a hash of the workflow bundle: any change to the
 * workflow code is a new version, and a rebuild of the same code is not.
 *
 *   node dist/worker-deployment.js build-id       prints this build's version
 *   node dist/worker-deployment.js make-current   waits for this build's workers
 *                                                 and makes it the current version
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, type WorkerOptions } from '@temporalio/worker';
import { WORKFLOW_BUNDLE } from './bundle-workflows';
import type { DeploymentSettings } from './config/settings';

/** The workflow code a worker runs: the build's bundle, or one bundled now from `workflowsPath`. */
export type WorkflowCode = { code: string } | { codePath: string };

/** The build's prebundled workflow code when present (npm run build); else bundled now. */
export async function workflowCode(workflowsPath = require.resolve('./workflows')): Promise<WorkflowCode> {
  if (workflowsPath === require.resolve('./workflows') && existsSync(WORKFLOW_BUNDLE)) {
    return { codePath: WORKFLOW_BUNDLE };
  }
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  return { code };
}

/** A build id from the bundle's bytes: the same code gives the same version. */
export function bundleBuildId(code: WorkflowCode): string {
  const bytes = 'code' in code ? code.code : readFileSync(code.codePath);
  return `wf-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
}

export interface DeploymentVersion {
  deploymentName: string;
  buildId: string;
}

export function deploymentVersion(settings: DeploymentSettings, code: WorkflowCode): DeploymentVersion {
  return { deploymentName: settings.name, buildId: settings.buildId ?? bundleBuildId(code) };
}

/**
 * Worker.create's options for the deployment: versioned, every workflow pinned
 * by default; none when versioning is off.
 */
export function workerDeploymentOptions(
  settings: DeploymentSettings,
  code: WorkflowCode,
): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  if (!settings.versioning) return {};
  return {
    workerDeploymentOptions: {
      version: deploymentVersion(settings, code),
      useWorkerVersioning: true,
      defaultVersioningBehavior: 'PINNED',
    },
  };
}

/** What the server knows of a version: undefined until one of its workers has polled. */
export async function describeVersion(client: Client, v: DeploymentVersion) {
  try {
    const res = await client.workflowService.describeWorkerDeploymentVersion({
      namespace: client.options.namespace,
      deploymentVersion: v,
    });
    return res.workerDeploymentVersionInfo ?? undefined;
  } catch (err) {
    if ((err as { code?: number }).code === 5) return undefined; // NOT_FOUND
    throw err;
  }
}

/** The deployment's current version's build id (undefined: none, or no deployment yet). */
export async function currentBuildId(client: Client, deploymentName: string): Promise<string | undefined> {
  try {
    const res = await client.workflowService.describeWorkerDeployment({
      namespace: client.options.namespace,
      deploymentName,
    });
    return res.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? undefined;
  } catch (err) {
    if ((err as { code?: number }).code === 5) return undefined;
    throw err;
  }
}

/**
 * Makes `v` the deployment's current version once its workers have polled
 * (new jobs, and jobs continuing as new, go to it); nothing when it already is.
 * Returns the build id that was current before.
 */
export async function makeCurrent(
  client: Client,
  v: DeploymentVersion,
  opts: { timeoutMs?: number; identity?: string } = {},
): Promise<{ changed: boolean; previous?: string }> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const previous = await currentBuildId(client, v.deploymentName);
    if (previous === v.buildId) return { changed: false, previous };
    if (await describeVersion(client, v)) {
      await client.workflowService.setWorkerDeploymentCurrentVersion({
        namespace: client.options.namespace,
        deploymentName: v.deploymentName,
        buildId: v.buildId,
        identity: opts.identity ?? 'clp-ingestor',
        // A task queue this version has not polled yet must not block the switch.
        ignoreMissingTaskQueues: true,
      });
      return { changed: true, previous };
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no worker of ${v.deploymentName}/${v.buildId} has polled Temporal yet; start one, then retry`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The version's drainage: 'DRAINING' while pinned runs remain open on it, then 'DRAINED'. */
export async function drainageStatus(client: Client, v: DeploymentVersion): Promise<string | undefined> {
  const info = await describeVersion(client, v);
  const status = info?.drainageInfo?.status;
  if (status === undefined || status === null) return undefined;
  const names: Record<number, string> = { 1: 'DRAINING', 2: 'DRAINED' };
  return names[Number(status)] ?? 'UNSPECIFIED';
}

async function main(): Promise<void> {
  const { loadEnvFile, loadSettings, readSettings } = await import('./config/settings');
  const { connectClient } = await import('./temporal');
  loadEnvFile();
  const settings = loadSettings();
  const v = deploymentVersion(settings.deployment, await workflowCode());
  const command = process.argv[2];
  if (command === 'build-id') {
    console.log(v.buildId);
    return;
  }
  if (command !== 'make-current') throw new Error('usage: worker-deployment build-id|make-current');
  if (!settings.deployment.versioning) {
    console.log('worker versioning is off (CLP_INGESTOR_WORKER_VERSIONING=false); nothing to do');
    return;
  }
  const client = await connectClient();
  try {
    const r = await makeCurrent(client, v, {
      timeoutMs: readSettings(process.env, ['CLP_INGESTOR_MAKE_CURRENT_WAIT_MS'])
        .CLP_INGESTOR_MAKE_CURRENT_WAIT_MS,
    });
    console.log(
      r.changed
        ? `current version of ${v.deploymentName}: ${v.buildId} (was ${r.previous ?? 'none'})`
        : `current version of ${v.deploymentName} is already ${v.buildId}`,
    );
  } finally {
    await client.connection.close();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(`worker-deployment: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
