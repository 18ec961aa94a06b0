/**
 * What a job cost Temporal: every event of every run of its workflow (runs
 * continued-as-new are followed back through continuedExecutionRunId).
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { workflowIdFor } from '../../src/workflows/messages';

// temporal.api.enums.v1.EventType values.
const WORKFLOW_TASK_COMPLETED = 7;
const ACTIVITY_TASK_SCHEDULED = 10;
const TIMER_STARTED = 17;

export interface HistoryStats {
  runs: number;
  events: number;
  /** Bytes of history, as the server reports it (summed over runs). */
  bytes: number;
  workflowTasks: number;
  activities: number;
  timers: number;
  activitiesByType: Record<string, number>;
}

export async function jobHistory(client: Client, jobId: number): Promise<HistoryStats> {
  const workflowId = workflowIdFor(jobId);
  const stats: HistoryStats = {
    runs: 0,
    events: 0,
    bytes: 0,
    workflowTasks: 0,
    activities: 0,
    timers: 0,
    activitiesByType: {},
  };
  let runId: string | undefined = undefined;
  for (;;) {
    const handle: WorkflowHandle = client.workflow.getHandle(workflowId, runId);
    const [history, desc] = await Promise.all([handle.fetchHistory(), handle.describe()]);
    const events = history.events ?? [];
    stats.runs += 1;
    stats.events += events.length;
    stats.bytes += desc.historySize ?? 0;
    for (const e of events) {
      if (e.eventType === WORKFLOW_TASK_COMPLETED) stats.workflowTasks += 1;
      else if (e.eventType === TIMER_STARTED) stats.timers += 1;
      else if (e.eventType === ACTIVITY_TASK_SCHEDULED) {
        stats.activities += 1;
        const type = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
        stats.activitiesByType[type] = (stats.activitiesByType[type] ?? 0) + 1;
      }
    }
    const previous: string | null | undefined =
      events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) return stats;
    runId = previous;
  }
}

/** Per 1,000 files, to one decimal. */
export function per1k(count: number, files: number): number {
  return files > 0 ? Math.round((count * 10_000) / files) / 10 : 0;
}
