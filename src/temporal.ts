/**
 * Temporal connections configured the way every Temporal SDK and the CLI are:
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*,
 * TEMPORAL_PROFILE and TOML profiles, through @temporalio/envconfig.
 */
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';

export const DEFAULT_NAMESPACE = 'clp-ingestor';

export function connectConfig() {
  const config = loadClientConnectConfig();
  return { connectionOptions: config.connectionOptions, namespace: config.namespace ?? DEFAULT_NAMESPACE };
}

/** The server address connections go to (the SDK's default when none is configured). */
export function temporalAddress(): string {
  return connectConfig().connectionOptions.address ?? 'localhost:7233';
}

export async function connectClient(): Promise<Client> {
  const { connectionOptions, namespace } = connectConfig();
  const connection = await Connection.connect(connectionOptions);
  return new Client({ connection, namespace });
}

export async function connectWorker(): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = connectConfig();
  const connection = await NativeConnection.connect(connectionOptions);
  return { connection, namespace };
}
