/**
 * Beyond CLP: job listing and detail with the workflow's live progress, paged
 * files, and pause / resume / stop (Updates the job's workflow validates). The
 * DB is the record: every answer about a job comes from it, with the
 * workflow's live progress added where asked for.
 */
import { QueryNotRegisteredError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { InvalidConfigError, jobSource } from '../../../config/job-config';
import { allowedRequests, CONTROL_REQUESTS } from '../../../lifecycle';
import {
  FILE_STATUSES,
  JOB_STATUSES,
  type FileStatus,
  type JobRow,
  type JobStatus,
} from '../../../store/ingestion-store';
import type { JobProgress } from '../../../workflows/messages';
import { controlJob, queryProgress } from '../../../job-control';
import type { ApiContext, JobParams } from '../context';
import { errors, jobIdParams, ref } from '../schemas';

export function jobView(row: JobRow, workflowUrl: (workflowId: string) => string) {
  const c = row.config;
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    dataset: row.dataset,
    source: jobSource(c),
    config: c.config,
    num_files_ingested: row.numFilesIngested,
    num_files_compressed: row.numFilesCompressed,
    num_files_failed: row.numFilesFailed,
    num_messages_ignored: row.numMessagesIgnored,
    error_msg: row.errorMsg,
    creation_ts: row.creationTs,
    last_update_ts: row.lastUpdateTs,
    workflow_id: row.workflowId,
    workflow_url: workflowUrl(row.workflowId),
    allowed_requests: allowedRequests(row.status, false),
  };
}

function progressView(p: JobProgress) {
  return {
    status: p.status,
    stop_requested: p.stopRequested,
    error: p.error,
    buffer: { files: p.buffer.files, bytes: p.buffer.bytes, oldest_ts: p.buffer.oldestTs },
    outstanding_compression_jobs: p.outstandingCompressionJobs,
    files_recorded: p.filesRecorded,
    files_submitted: p.filesSubmitted,
    files_compressed: p.filesCompressed,
    files_failed: p.filesFailed,
    compression_jobs_submitted: p.compressionJobsSubmitted,
    listing_exhausted: p.listingExhausted,
    input_ended: p.inputEnded === true,
    runs: p.runs,
  };
}

export async function jobRoutes(app: FastifyInstance, { store, client, workflowUrl }: ApiContext) {
  // ------------------------------------------------------------- inspect --
  app.get<{ Querystring: { status?: string; dataset?: string } }>(
    '/jobs',
    {
      schema: {
        tags: ['Jobs'],
        summary: 'List ingestion jobs',
        querystring: {
          type: 'object',
          properties: {
            status: {
              type: 'string',
              description: `Only jobs with one of these statuses, comma-separated (${JOB_STATUSES.join(', ')}).`,
            },
            dataset: { type: 'string', description: 'Only jobs of this dataset.' },
          },
        },
        response: { 200: ref('JobList'), ...errors(400) },
      },
    },
    async (request) => {
      const { status, dataset } = request.query;
      const statuses = status
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of statuses ?? []) {
        if (!(JOB_STATUSES as readonly string[]).includes(s))
          throw new InvalidConfigError(
            `status: unknown job status "${s}" (one of ${JOB_STATUSES.join(', ')})`,
          );
      }
      const rows = await store.listJobs({ status: statuses as JobStatus[] | undefined, dataset });
      return { jobs: rows.map((r) => jobView(r, workflowUrl)) };
    },
  );

  app.get<{ Params: JobParams }>(
    '/job/:job_id',
    {
      schema: {
        tags: ['Jobs'],
        summary: "A job's record, file counts by status and live progress",
        params: jobIdParams,
        response: { 200: ref('JobDetail'), ...errors(400, 404) },
      },
    },
    async (request) => {
      const jobId = request.params.job_id;
      const row = await store.requireJob(jobId);
      const fileCounts = await store.countFilesByStatus(jobId);
      let progress: ReturnType<typeof progressView> | null = null;
      let progressError: string | null = null;
      try {
        const live = await queryProgress(client, row.workflowId);
        progress = live && progressView(live);
      } catch (err) {
        // The record stands on its own; say why the live part is missing.
        progressError =
          err instanceof QueryNotRegisteredError
            ? 'the job workflow is still starting'
            : `could not query the job workflow: ${(err as Error).message}`;
      }
      return {
        job: jobView(row, workflowUrl),
        file_counts: fileCounts,
        progress,
        progress_error: progressError,
      };
    },
  );

  app.get<{ Params: JobParams; Querystring: { status?: FileStatus; after: number; limit: number } }>(
    '/job/:job_id/files',
    {
      schema: {
        tags: ['Jobs'],
        summary: "A job's files with their compression job ids, in id order, paged",
        params: jobIdParams,
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...FILE_STATUSES], description: 'Only files with this status.' },
            after: { type: 'integer', minimum: 0, default: 0, description: 'Files with ids above this.' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: ref('FilePage'), ...errors(400, 404) },
      },
    },
    async (request) => {
      const jobId = request.params.job_id;
      const { status, after, limit } = request.query;
      await store.requireJob(jobId);
      const files = await store.listFiles(jobId, { status, afterId: after, limit });
      return {
        files: files.map((f) => ({
          id: f.id,
          path: f.path,
          size: f.size,
          status: f.status,
          compression_job_id: f.compressionJobId,
          compression_job_ids: f.compressionJobIds,
          error: f.error,
        })),
        next_after: files.length === limit ? files[files.length - 1].id : null,
      };
    },
  );

  // ------------------------------------------------------------- control --
  for (const request of CONTROL_REQUESTS) {
    app.post<{ Params: JobParams }>(
      `/job/:job_id/${request}`,
      {
        schema: {
          tags: ['Jobs'],
          summary: `${request[0].toUpperCase()}${request.slice(1)} a job`,
          description: {
            pause:
              'Only a running job can be paused: it stops listing/receiving; buffered files still flush.',
            resume: 'Only a paused job can be resumed.',
            stop: 'Like terminate, but refuses (409) a job that is already stopping, finished or failed.',
          }[request],
          params: jobIdParams,
          response: { 202: ref('ControlResponse'), ...errors(400, 403, 404, 409) },
        },
      },
      async (req, reply) => {
        await controlJob(store, client, req.params.job_id, request);
        return reply.code(202).send({ id: req.params.job_id, requested: request });
      },
    );
  }
}
