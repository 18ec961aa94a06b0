#!/usr/bin/env node
/**
 * clp-ingestor: create and control ingestion jobs, inspect their files, search
 * what they ingested.
 * Same configuration sources as the worker (environment, CLP_INGESTOR_ENV_FILE).
 * Errors are one line on stderr and a non-zero exit code.
 */
import { Command } from 'commander';
import { InvalidConfigError } from '../config/job-config';
import { SettingsError } from '../config/settings';
import { ConflictError, NotFoundError } from '../store/ingestion-store';
import { addCreateCommands } from './commands/create-commands';
import { addDbCommands } from './commands/db-commands';
import { addJobCommands, addReconcileCommand } from './commands/job-commands';
import { addSearchCommand } from './commands/search-command';
import { IllegalRequestError } from '../job-control';

export const EXIT = { ok: 0, error: 1, usage: 2, notFound: 3, refused: 4 } as const;

/** The commands, in the order --help lists them; each group's module defines its own. */
export function buildProgram(): Command {
  const program = new Command('clp-ingestor')
    .description('Fault-tolerant log ingestion into CLP, on Temporal')
    .showHelpAfterError()
    .exitOverride();
  addCreateCommands(program);
  addJobCommands(program);
  addSearchCommand(program);
  addDbCommands(program);
  addReconcileCommand(program);
  return program;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof NotFoundError) return EXIT.notFound;
  if (err instanceof ConflictError || err instanceof IllegalRequestError) return EXIT.refused;
  if (err instanceof InvalidConfigError || err instanceof SettingsError) return EXIT.usage;
  return EXIT.error;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code?.startsWith('commander.')) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    console.error(`clp-ingestor: ${e.message ?? String(err)}`);
    return exitCodeFor(err);
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => process.exit(code));
}
