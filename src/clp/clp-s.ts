/**
 * CLP's `clp-s` binary: where it is, and a start-up check that it runs.
 * scripts/stack.sh installs the pinned yscope-clp-core wheel into the tool
 * cache; CLP_S_PATH names another binary (a CLP package's, say).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { readSettings } from '../config/env-schema';

/** The yscope-clp-core release scripts/stack.sh installs (CLP_CORE_VERSION there). */
export const CLP_CORE_VERSION = '0.12.1b0';

/** Where scripts/stack.sh unpacks clp-s: in the tool cache, CLP_INGESTOR_TOOLS (default ~/.cache/clp-ingestor/bin). */
export function defaultClpSPath(
  tools: string | undefined = readSettings(process.env, ['CLP_INGESTOR_TOOLS']).CLP_INGESTOR_TOOLS,
): string {
  tools ||= path.join(os.homedir(), '.cache', 'clp-ingestor', 'bin');
  return path.join(tools, `yscope-clp-core-${CLP_CORE_VERSION}`, 'yscope_clp_core', 'bin', 'clp-s');
}

/** Throws one line naming the binary when it is missing, not executable or does not run. */
export async function checkClpS(bin: string): Promise<void> {
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(
      `CLP_S_PATH: ${bin} is missing or not executable (scripts/stack.sh install puts CLP's clp-s there)`,
    );
  }
  try {
    const { stdout, stderr } = await promisify(execFile)(bin, ['--help'], { timeout: 10_000 });
    if (!/\bc - compress\b/.test(stdout + stderr))
      throw new Error('its --help does not list the compress command');
  } catch (err) {
    throw new Error(`CLP_S_PATH: ${bin} is not a working clp-s: ${(err as Error).message.split('\n')[0]}`);
  }
}
