/** Polling and sleeping for tests (shared with bench/ through support/wait.ts). */
export { eventually, sleep } from '../../support/wait';
