/** What the REST API's route plugins share: the store, the Temporal client, the settings and the DB pool for search. */
import type { Client } from '@temporalio/client';
import type { Pool } from 'mysql2/promise';
import type { Settings } from '../../config/settings';
import type { StartOptions } from '../../job-control';
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
  /** What GET /search reads CLP's metadata tables with (the API's own pool). */
  searchDb?: Pool;
}

export interface JobParams {
  job_id: number;
}
