import { readFileSync } from 'node:fs';
import path from 'node:path';
import { METRICS } from '../../src/metrics';

test("docs/operations.md's metrics table lists every metric src/metrics.ts defines, with its type", () => {
  const page = readFileSync(path.resolve(__dirname, '../../docs/operations.md'), 'utf8');
  const section = page.split('\n## Metrics\n')[1]?.split(/\n#{2,3} /)[0];
  if (!section) throw new Error('docs/operations.md has no "Metrics" section');
  const rows = section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split('|').map((c) => c.trim()));
  const listed = Object.fromEntries(rows.map((r) => [r[1].replace(/`/g, ''), r[2]]));
  // Counters are exported with the Prometheus _total suffix.
  const defined = Object.fromEntries(
    Object.values(METRICS).map(([name, type]) => [type === 'counter' ? `${name}_total` : name, type]),
  );
  expect(listed).toEqual(defined);
});
