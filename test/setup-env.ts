// Tests run against the local stack unless the environment says otherwise,
// and always in their own Temporal namespace (never the user's jobs').
import path from 'node:path';
import { loadEnvFile } from '../src/config/settings';
import { testNamespace } from './support/namespace';

process.env.CLP_INGESTOR_ENV_FILE ??= path.join(__dirname, '..', 'config', 'local.env');
process.env.TEMPORAL_NAMESPACE = testNamespace();
// The suite's workers run unversioned: each test's task queue would be a deployment of its own,
// and a namespace holds at most 100 (matching.maxDeployments). worker-versioning.test.ts turns it on.
process.env.CLP_INGESTOR_WORKER_VERSIONING ??= 'false';
loadEnvFile();
