/** The Temporal CLI that scripts/stack.sh builds (its pinned version), which runs the tests' private dev servers. */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function temporalCli(): string {
  const script = readFileSync(path.join(__dirname, '..', '..', 'scripts', 'stack.sh'), 'utf8');
  const version = /^TEMPORAL_VERSION=(\S+)$/m.exec(script)?.[1];
  if (!version) throw new Error('scripts/stack.sh names no TEMPORAL_VERSION');
  const tools = process.env.CLP_INGESTOR_TOOLS ?? path.join(os.homedir(), '.cache', 'clp-ingestor', 'bin');
  const bin = path.join(tools, `temporal-${version}`);
  if (!existsSync(bin)) throw new Error(`${bin} is missing: scripts/stack.sh install builds it`);
  return bin;
}
