/**
 * JSON schemas of the REST API: the route schemas fastify serializes with and
 * @fastify/swagger turns into /openapi.json, so the document cannot drift from
 * the routes. Job configs are generated from each kind's zod schema,
 * the same ones every request body is validated with.
 */
import { z } from 'zod';
import { JOB_KINDS } from '../../config/job-config';
import { SOURCE_DEFINITIONS } from '../../sources/definitions';
import { CONTROL_REQUESTS, TERMINAL_STATUSES } from '../../lifecycle';
import { FILE_STATUSES, JOB_STATUSES } from '../../store/ingestion-store';

type Schema = Record<string, unknown>;

/** A zod config schema as a JSON schema of what a client may send (defaults optional). */
function configSchema(schema: z.ZodType, description: string): Schema {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as Schema;
  delete json.$schema;
  return { ...json, description };
}

/** Shared schemas, registered with app.addSchema and referenced as { $ref: '<Name>#' }. */
export const SHARED_SCHEMAS: Schema[] = [
  {
    $id: 'Error',
    type: 'object',
    description: 'Every error answer.',
    properties: { error: { type: 'string' } },
    required: ['error'],
  },
  // Each job kind's config, in JOB_KINDS order (src/sources/<kind>/config.ts).
  ...JOB_KINDS.map((kind) => {
    const { schema, rest } = SOURCE_DEFINITIONS[kind];
    return { $id: rest.schemaId, ...configSchema(schema, rest.description) };
  }),
  {
    $id: 'CreationResponse',
    type: 'object',
    properties: { id: { type: 'integer', description: 'The id of the created ingestion job.' } },
    required: ['id'],
  },
  {
    $id: 'TerminateResponse',
    type: 'object',
    properties: {
      id: { type: 'integer' },
      terminal_status: {
        type: 'string',
        enum: [...TERMINAL_STATUSES],
        description:
          'How the job ends: "finished" for a job that stops cleanly (it drains its buffer first), "failed" for one that failed.',
      },
    },
    required: ['id', 'terminal_status'],
  },
  {
    $id: 'ControlResponse',
    type: 'object',
    description:
      "The job's workflow accepted the request (an Update): a pause or resume is in the job's record; a stopped job is draining and ends finished.",
    properties: {
      id: { type: 'integer' },
      requested: { type: 'string', enum: [...CONTROL_REQUESTS] },
    },
    required: ['id', 'requested'],
  },
  {
    $id: 'Job',
    type: 'object',
    description: "An ingestion job's record in the CLP DB.",
    properties: {
      id: { type: 'integer' },
      kind: { type: 'string', enum: [...JOB_KINDS] },
      status: { type: 'string', enum: [...JOB_STATUSES] },
      dataset: { type: 'string' },
      source: { type: 'string', description: 's3://bucket/prefix, or the directory of an fs job.' },
      config: {
        type: 'object',
        additionalProperties: true,
        description:
          'The config as created, defaults filled in (S3ScannerConfig, SqsListenerConfig, FsConfig or S3ObjectListConfig).',
      },
      num_files_ingested: { type: 'integer' },
      num_files_compressed: { type: 'integer' },
      num_files_failed: { type: 'integer' },
      num_messages_ignored: { type: 'integer' },
      error_msg: { type: ['string', 'null'] },
      creation_ts: { type: 'integer', description: 'ms since the epoch' },
      last_update_ts: { type: 'integer', description: 'ms since the epoch' },
      workflow_id: { type: 'string' },
      workflow_url: { type: 'string', description: "The job's workflow in the Temporal Web UI." },
      allowed_requests: {
        type: 'array',
        items: { type: 'string', enum: [...CONTROL_REQUESTS] },
        description:
          "The requests the job's status allows (src/lifecycle.ts); the dashboard offers just these.",
      },
    },
    required: [
      'id',
      'kind',
      'status',
      'dataset',
      'source',
      'config',
      'num_files_ingested',
      'num_files_compressed',
      'num_files_failed',
      'num_messages_ignored',
      'error_msg',
      'creation_ts',
      'last_update_ts',
      'workflow_id',
      'workflow_url',
      'allowed_requests',
    ],
  },
  {
    $id: 'FileCounts',
    type: 'object',
    properties: Object.fromEntries(FILE_STATUSES.map((s) => [s, { type: 'integer' }])),
    required: [...FILE_STATUSES],
  },
  {
    $id: 'Progress',
    type: 'object',
    description: "The job workflow's live state (its status query).",
    properties: {
      status: { type: 'string', enum: [...JOB_STATUSES] },
      stop_requested: { type: 'boolean' },
      error: { type: ['string', 'null'] },
      buffer: {
        type: 'object',
        properties: {
          files: { type: 'integer' },
          bytes: { type: 'integer' },
          oldest_ts: { type: ['integer', 'null'] },
        },
        required: ['files', 'bytes', 'oldest_ts'],
      },
      outstanding_compression_jobs: { type: 'integer' },
      files_recorded: { type: 'integer' },
      files_submitted: { type: 'integer' },
      files_compressed: { type: 'integer' },
      files_failed: { type: 'integer' },
      compression_jobs_submitted: { type: 'integer' },
      listing_exhausted: { type: 'boolean' },
      input_ended: {
        type: 'boolean',
        description: 'A one-time job has read all its input: it drains and finishes.',
      },
      runs: { type: 'integer', description: 'Workflow runs so far (continue-as-new).' },
    },
    required: [
      'status',
      'stop_requested',
      'error',
      'buffer',
      'outstanding_compression_jobs',
      'files_recorded',
      'files_submitted',
      'files_compressed',
      'files_failed',
      'compression_jobs_submitted',
      'listing_exhausted',
      'input_ended',
      'runs',
    ],
  },
  {
    $id: 'JobDetail',
    type: 'object',
    properties: {
      job: { $ref: 'Job#' },
      file_counts: { $ref: 'FileCounts#' },
      progress: {
        anyOf: [{ $ref: 'Progress#' }, { type: 'null' }],
        description: 'null when no workflow run is open (or it could not be asked; see progress_error).',
      },
      progress_error: { type: ['string', 'null'] },
    },
    required: ['job', 'file_counts', 'progress', 'progress_error'],
  },
  {
    $id: 'JobList',
    type: 'object',
    properties: { jobs: { type: 'array', items: { $ref: 'Job#' } } },
    required: ['jobs'],
  },
  {
    $id: 'FilePage',
    type: 'object',
    properties: {
      files: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            id: { type: 'integer' },
            path: { type: 'string', description: 'bucket/key for S3 jobs, the full path for fs jobs' },
            size: { type: 'integer' },
            status: { type: 'string', enum: [...FILE_STATUSES] },
            compression_job_id: { type: ['integer', 'null'] },
            compression_job_ids: {
              type: 'array',
              items: { type: 'integer' },
              description:
                'Every compression job the file went through, oldest first: more than one when CLP killed a job and its files were resubmitted.',
            },
            error: {
              type: ['string', 'null'],
              description:
                'Why the file failed without a compression job (a listed object that does not exist); else null.',
            },
          },
          required: ['id', 'path', 'size', 'status', 'compression_job_id', 'compression_job_ids', 'error'],
        },
      },
      next_after: {
        type: ['integer', 'null'],
        description: 'Pass as `after` for the next page; null on the last page.',
      },
    },
    required: ['files', 'next_after'],
  },
];

export const ref = (name: string) => ({ $ref: `${name}#` });

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: a bad config field, path parameter or query parameter.',
  401: 'Missing or wrong bearer token (only when API tokens are configured).',
  403: 'The token may only read; this route needs an operator token.',
  404: 'No such ingestion job.',
  409: 'Refused: a key-prefix conflict with an active job, or a request the job cannot take in its state.',
  413: 'Request body over the size limit.',
  500: 'Internal error (details in the server log).',
};

/** Response entries for the error statuses a route can answer. */
export function errors(...codes: number[]): Record<number, Schema> {
  return Object.fromEntries(
    [...codes, 401, 500].map((c) => [c, { description: ERROR_DESCRIPTIONS[c], ...ref('Error') }]),
  );
}

export const jobIdParams = {
  type: 'object',
  properties: { job_id: { type: 'integer', minimum: 1, description: 'Ingestion job id.' } },
  required: ['job_id'],
};
