/** What the REST API's route plugins share: the store, the Temporal client and the settings. */
import type { Client } from '@temporalio/client';
import type { Settings } from '../../config/settings';
import type { StartOptions } from '../jobs';
import type { FileRecords, JobRecords } from '../../store/ingestion-store';

export interface ApiContext {
  /** The store roles the routes read and write through (an IngestionStore in production). */
  store: JobRecords & FileRecords;
  client: Client;
  settings: Settings;
  /** How jobs' workflows are started (the task queue). */
  startOpts: StartOptions;
  /** A workflow's page in the Temporal Web UI. */
  workflowUrl: (workflowId: string) => string;
}

export interface JobParams {
  job_id: number;
}
