/**
 * The Node the project runs on is stated once per place that needs it: package.json's engines,
 * scripts/node-env.sh's minimum and pin. These agree, and the tests themselves run on it (CI's
 * scripts put it first on PATH).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const envSh = readFileSync(path.join(ROOT, 'scripts', 'node-env.sh'), 'utf8');
const setting = (name: string) => new RegExp(`^${name}=(\\S+)$`, 'm').exec(envSh)?.[1];

test('engines, the minimum and the pinned build name the same Node major, and the tests run on it', () => {
  const engines = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).engines.node as string;
  const min = Number(setting('NODE_MIN_MAJOR'));
  expect(engines).toBe(`>=${min}`);
  expect(Number(setting('NODE_PIN_VERSION')!.split('.')[0])).toBe(min);
  expect(setting('NODE_PIN_SHA512')).toMatch(/^[0-9a-f]{128}$/);
  expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(min);
});

test('scripts/node.sh runs the Node the scripts pick, without downloading anything', () => {
  const version = execFileSync(
    'bash',
    [path.join(ROOT, 'scripts', 'node.sh'), '-p', 'process.versions.node'],
    {
      encoding: 'utf8',
    },
  ).trim();
  expect(Number(version.split('.')[0])).toBeGreaterThanOrEqual(Number(setting('NODE_MIN_MAJOR')));
});
