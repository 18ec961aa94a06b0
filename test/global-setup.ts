/**
 * Once per jest run: tags the run (every task queue, bucket and database name
 * a test makes carries the tag, see test/support/stack.ts) and makes sure the
 * test namespace exists with the search attributes. Without Temporal (unit
 * tests only) it says so and carries on.
 */
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { connectConfig, temporalAddress } from '../src/temporal';
import { loadEnvFile } from '../src/config/settings';
import { probeTcp } from '../src/dependencies';
import { ensureNamespace, testNamespace } from './support/namespace';
import { newRunTag } from './support/stack';

export default async function globalSetup(): Promise<void> {
  process.env.CLP_INGESTOR_ENV_FILE ??= path.join(__dirname, '..', 'config', 'local.env');
  process.env.TEMPORAL_NAMESPACE = testNamespace();
  loadEnvFile();
  process.env.CLP_INGESTOR_TEST_RUN = newRunTag();
  const address = temporalAddress();
  try {
    await probeTcp(address, 2_000);
  } catch {
    console.log(`\nglobal setup: Temporal at ${address} not reachable; tests that need it will fail`);
    return;
  }
  const connection = await Connection.connect(connectConfig().connectionOptions);
  try {
    if ((await ensureNamespace(connection, process.env.TEMPORAL_NAMESPACE)) === 'created') {
      console.log(`\nglobal setup: created Temporal namespace ${process.env.TEMPORAL_NAMESPACE}`);
    }
  } finally {
    await connection.close();
  }
}
