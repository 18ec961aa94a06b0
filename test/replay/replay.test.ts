/**
 * Deterministic replay: every recorded history in test/fixtures/histories is
 * replayed against the current workflow code. A change to workflow code that
 * would break running workflows fails here (regenerate fixtures only for a
 * deliberate change guarded by patched(); see docs/design.md, "Changing workflow code safely").
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  bundleWorkflowCode,
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  Worker,
  type WorkflowBundle,
} from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';

const DIR = path.join(__dirname, '..', 'fixtures', 'histories');
const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.json'));

/** Each workflow code bundled once, for all its histories (webpack takes seconds a bundle). */
let current: WorkflowBundle;
let careless: WorkflowBundle;

beforeAll(async () => {
  // The nondeterminism test makes the core log a warning per history: expected, so quiet.
  const logger = new DefaultLogger('ERROR');
  Runtime.install({
    logger,
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  [current, careless] = await Promise.all(
    [require.resolve('../../src/workflows'), require.resolve('./nondeterministic-workflows')].map(
      (workflowsPath) => bundleWorkflowCode({ workflowsPath, logger }),
    ),
  );
});

function histories() {
  return fixtures.map((f) => ({
    workflowId: path.basename(f, '.json'),
    history: JSON.parse(readFileSync(path.join(DIR, f), 'utf8')),
  }));
}

async function replayAll(workflowBundle: WorkflowBundle) {
  const results: { workflowId: string; error?: unknown }[] = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle }, histories())) results.push(r);
  return results;
}

test('the fixtures cover scans with flushes, pause/resume/stop, failure, continue-as-new, SQS, fs and one-time jobs', () => {
  expect(fixtures.sort()).toEqual(
    expect.arrayContaining([
      's3-scan-several-flushes.json',
      's3-pause-resume-stop.json',
      's3-failure-missing-bucket.json',
      's3-continue-as-new-first-run.json',
      'sqs-listener-pause-resume-stop.json',
      'fs-several-flushes.json',
      'fs-several-flushes-fs-scan-stops-for-flush.json',
      's3-one-time-scan.json',
      's3-object-list-missing-object.json',
      's3-temporal-start-updates.json',
    ]),
  );
  const events = (f: string) => readFileSync(path.join(DIR, f), 'utf8');
  expect(events('s3-continue-as-new-first-run.json')).toContain(
    'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
  );
  expect(events('s3-pause-resume-stop.json')).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
  expect(events('s3-failure-missing-bucket.json')).toContain('NoSuchBucket');
  // Started with a kind and config (the workflow records its job); pause, resume and stop as Updates.
  expect(events('s3-temporal-start-updates.json')).toContain('"registerJob"');
  expect(
    events('s3-temporal-start-updates.json').match(/EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED/g),
  ).toHaveLength(3);
  // One-time jobs finish by themselves, behind the 'one-time-jobs' patch marker.
  const patches = (f: string): string[] =>
    JSON.parse(events(f))
      .events.filter((e: any) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
      .map(
        (e: any) =>
          JSON.parse(
            Buffer.from(
              e.markerRecordedEventAttributes.details['patch-data'].payloads[0].data,
              'base64',
            ).toString(),
          ).id,
      );
  for (const f of ['s3-one-time-scan.json', 's3-object-list-missing-object.json'])
    expect(patches(f)).toContain('one-time-jobs');
  expect(events('s3-object-list-missing-object.json')).toContain('recordS3ObjectList');
  // The job's start as a local activity (a marker, no activity task), behind 'start-job-locally'.
  for (const f of [
    's3-scan-several-flushes-start-job-locally.json',
    's3-pause-resume-stop-start-job-locally.json',
  ]) {
    expect(patches(f)).toContain('start-job-locally');
    expect(events(f)).toContain('core_local_activity');
    expect(events(f)).not.toMatch(/"activityType":\s*\{\s*"name":\s*"startJob"/);
  }
  expect(patches('s3-scan-several-flushes.json')).not.toContain('start-job-locally');
});

test('every recorded history replays against the current workflow code', async () => {
  const results = await replayAll(current);
  expect(results.map((r) => r.workflowId).sort()).toEqual(
    fixtures.map((f) => path.basename(f, '.json')).sort(),
  );
  for (const r of results)
    expect({ workflowId: r.workflowId, error: r.error }).toEqual({
      workflowId: r.workflowId,
      error: undefined,
    });
});

test('a nondeterministic edit to the workflow fails replay', async () => {
  const results = await replayAll(careless);
  expect(results).toHaveLength(fixtures.length);
  for (const r of results) expect(r.error).toBeInstanceOf(DeterminismViolationError);
});
