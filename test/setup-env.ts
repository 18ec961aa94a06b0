// Tests run against the local stack unless the environment says otherwise,
// and always in their own Temporal namespace (never the user's jobs').
import path from 'node:path';
import { loadEnvFile } from '../src/config/settings';
import { testNamespace } from './support/namespace';

process.env.CLP_INGESTOR_ENV_FILE ??= path.join(__dirname, '..', 'config', 'local.env');
process.env.TEMPORAL_NAMESPACE = testNamespace();
loadEnvFile();
