/** Commands on existing jobs: list, status, pause/resume/stop, files, reconcile. */
import { Option, type Command } from 'commander';
import { jobSource } from '../../config/job-config';
import { CONTROL_REQUESTS } from '../../lifecycle';
import {
  FILE_STATUSES,
  JOB_STATUSES,
  type FileStatus,
  type JobRow,
  type JobStatus,
} from '../../store/ingestion-store';
import { controlJob, queryProgress, reconcileJobs } from '../../job-control';
import { num, parseId, print, table, withCtx } from './context';

function jobSummary(j: JobRow) {
  const src = jobSource(j.config);
  return {
    id: j.id,
    kind: j.kind,
    status: j.status,
    dataset: j.dataset,
    source: src,
    ingested: j.numFilesIngested,
    compressed: j.numFilesCompressed,
    failed: j.numFilesFailed,
  };
}

export function addJobCommands(program: Command): void {
  program
    .command('list')
    .description('list ingestion jobs')
    .addOption(new Option('--status <status>', 'only jobs with this status').choices(JOB_STATUSES))
    .option('--dataset <name>', 'only jobs of this dataset')
    .option('--json', 'print JSON')
    .action(async (o) =>
      withCtx(async (ctx) => {
        const jobs = await ctx.store.listJobs({
          status: o.status ? [o.status as JobStatus] : undefined,
          dataset: o.dataset,
        });
        print(o.json, jobs, () => table(jobs.map(jobSummary)));
      }),
    );

  program
    .command('status <job>')
    .description(
      "a job's record and, while its workflow runs, its live progress (<job>: its id, or its workflow's id)",
    )
    .option('--json', 'print JSON')
    .action(async (id: string, o) =>
      withCtx(async (ctx) => {
        const job = /^\d+$/.test(id)
          ? await ctx.store.requireJob(parseId(id))
          : await ctx.store.requireJobOfWorkflow(id);
        const jobId = job.id;
        const files = await ctx.store.countFilesByStatus(jobId);
        const live = await queryProgress(await ctx.client(), job.workflowId);
        const out = { job, files, live, workflowId: job.workflowId };
        print(o.json, out, () =>
          [
            table([jobSummary(job)]),
            `files: ${FILE_STATUSES.map((s) => `${s} ${files[s]}`).join(', ')}`,
            job.errorMsg ? `error: ${job.errorMsg}` : '',
            live
              ? `live: ${live.status}${live.stopRequested ? ' (stopping)' : ''}, buffer ${live.buffer.files} files / ${live.buffer.bytes} bytes, ${live.outstandingCompressionJobs} compression jobs outstanding, run ${live.runs}`
              : 'live: no running workflow',
            `workflow: ${job.workflowId}`,
          ]
            .filter(Boolean)
            .join('\n'),
        );
      }),
    );

  for (const request of CONTROL_REQUESTS) {
    program
      .command(`${request} <job>`)
      .description(`${request} an ingestion job`)
      .action(async (id: string) =>
        withCtx(async (ctx) => {
          const p = await controlJob(ctx.store, await ctx.client(), parseId(id), request);
          console.log(
            request === 'stop' ? `job ${id} is stopping (draining its buffer)` : `job ${id} is ${p.status}`,
          );
        }),
      );
  }

  program
    .command('files <job>')
    .description("a job's files with their status and compression job id")
    .addOption(new Option('--status <status>', 'only files with this status').choices(FILE_STATUSES))
    .option('--limit <n>', 'at most this many', num('--limit'), 100)
    .option('--after <id>', 'files after this file id (paging)', num('--after'), 0)
    .option('--json', 'print JSON')
    .action(async (id: string, o) =>
      withCtx(async (ctx) => {
        const jobId = parseId(id);
        await ctx.store.requireJob(jobId);
        const files = await ctx.store.listFiles(jobId, {
          status: o.status as FileStatus | undefined,
          limit: o.limit,
          afterId: o.after,
        });
        print(o.json, files, () =>
          table(
            files.map((f) => ({
              id: f.id,
              status: f.status,
              compression_job: f.compressionJobId ?? '',
              // every attempt, when KILLED compression jobs were resubmitted
              attempts: f.compressionJobIds.length > 1 ? f.compressionJobIds.join(' > ') : '',
              size: f.size,
              path: f.path,
              error: f.error ?? '',
            })),
          ),
        );
      }),
    );
}

export function addReconcileCommand(program: Command): void {
  program
    .command('reconcile')
    .description('make Temporal agree with the DB: start missing workflows, drain hand-terminated jobs')
    .option('--json', 'print JSON')
    .action(async (o) =>
      withCtx(async (ctx) => {
        const report = await reconcileJobs(ctx.store, await ctx.client(), ctx.settings.taskQueue);
        print(
          o.json,
          report,
          () =>
            `checked ${report.checked} active jobs; started ${report.started.length ? report.started.join(', ') : 'none'}; draining ${report.drained.length ? report.drained.join(', ') : 'none'}`,
        );
      }),
    );
}
