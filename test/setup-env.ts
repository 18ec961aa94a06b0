// Tests run against the local stack unless the environment says otherwise.
import path from 'node:path';
import { loadEnvFile } from '../src/config/settings';

process.env.CLP_INGESTOR_ENV_FILE ??= path.join(__dirname, '..', 'config', 'local.env');
loadEnvFile();
