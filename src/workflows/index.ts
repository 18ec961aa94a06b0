// What the worker bundles: workflow code only (deterministic, no I/O).
export { ingestionJob } from './ingestion-job';
