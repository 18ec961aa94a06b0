#!/usr/bin/env node
/**
 * The REST API and dashboard as a process:
 *   node dist/client/http/main.js      (or: npm run api)
 * Listens on CLP_INGESTOR_HTTP_HOST:CLP_INGESTOR_HTTP_PORT (127.0.0.1:8080);
 * same configuration sources as the worker and CLI. Stops on SIGINT/SIGTERM.
 */
import { createLogger, fastifyLoggerOptions, logProcessEvents } from '../../common/log';
import { dbFor, loadEnvFile, loadSettings } from '../../config/settings';
import { createPool } from '../../store/db';
import { IngestionStore } from '../../store/ingestion-store';
import { connectClient } from '../../temporal';
import { loadApiTokens } from './api-tokens';
import { buildServer } from './server';

async function main(): Promise<void> {
  logProcessEvents(createLogger());
  loadEnvFile();
  const settings = loadSettings();
  const tokens = loadApiTokens();
  const pool = createPool(dbFor(settings, 'api'));
  const client = await connectClient();
  const app = await buildServer({
    store: new IngestionStore(pool),
    client,
    settings,
    tokens,
    // Request lines in the shape of every other process's (src/common/log.ts).
    logger: fastifyLoggerOptions(settings.logLevel),
  });
  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    await app.close();
    await client.connection.close();
    await pool.end();
  };
  process.once('SIGINT', () => void close('SIGINT'));
  process.once('SIGTERM', () => void close('SIGTERM'));
  await app.listen({ host: settings.http.host, port: settings.http.port });
  app.log.info(
    {
      auth: tokens.enabled ? { bearerTokens: tokens.counts() } : 'off',
      dashboard: '/ui',
      openapi: '/openapi.json',
    },
    'REST API ready',
  );
}

if (require.main === module) {
  main().catch((err) => {
    createLogger().error(`clp-ingestor-api: ${(err as Error).message ?? String(err)}`);
    process.exit(1);
  });
}
