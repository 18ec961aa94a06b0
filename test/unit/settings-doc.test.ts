import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  PROCESSES,
  readSettings,
  SETTING_GROUPS,
  SETTINGS,
  type SettingSpec,
} from '../../src/config/env-schema';
import { SettingsError } from '../../src/config/settings';
import { CONFIGURATION_PAGE, defaultText, withSettingsTables } from '../../src/config/settings-doc';
import { AWS_ENDPOINTS } from '../../src/security/endpoints';

const ROOT = path.resolve(__dirname, '../..');

function srcFiles(dir = path.join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? srcFiles(path.join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [path.join(dir, e.name)]
        : [],
  );
}

test("docs/configuration.md's settings tables are the schema's (regenerate: npm run docs:settings)", () => {
  const page = readFileSync(path.join(ROOT, CONFIGURATION_PAGE), 'utf8');
  expect(page).toBe(withSettingsTables(page));
});

test('every setting says what it is, in one line, and who reads it; groups hold each once', () => {
  for (const [name, spec] of Object.entries(SETTINGS) as [string, SettingSpec][]) {
    expect([name, spec.description.length > 0, spec.description.includes('\n')]).toEqual([name, true, false]);
    expect([name, spec.readBy.length > 0, spec.readBy.every((p) => PROCESSES.includes(p))]).toEqual([
      name,
      true,
      true,
    ]);
  }
  const grouped = SETTING_GROUPS.flatMap(([, group]) => Object.keys(group));
  expect(grouped.sort()).toEqual(Object.keys(SETTINGS).sort());
});

test("the allow-list's documented default is the code's", () => {
  expect(defaultText(SETTINGS.CLP_ALLOWED_ENDPOINTS)).toBe(`\`${AWS_ENDPOINTS}\``);
});

test('src reads the environment only through the schema', () => {
  const declared = Object.keys(SETTINGS);
  const offenders: string[] = [];
  for (const file of srcFiles()) {
    const rel = path.relative(ROOT, file);
    if (rel === path.join('src', 'config', 'env-schema.ts')) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const where = `${rel}:${i + 1}`;
        // Reading one variable straight from process.env (passing the whole of it on is fine).
        // search.ts hands clp-s the system's PATH, HOME, locale and so on: not settings of ours.
        if (
          /process\.env\s*(\.|\[)/.test(line) &&
          !/for \(const name of \['PATH'/.test(line) &&
          !/env\[name\] = process\.env\[name\]/.test(line)
        )
          offenders.push(`${where}: ${line.trim()}`);
        // A variable named in a string that the schema does not declare (a prefix of declared ones is fine).
        for (const m of line.matchAll(/['"`]((?:CLP|DEMO|TEMPORAL|AWS)_[A-Z0-9_]+)/g)) {
          if (!declared.some((d) => d === m[1] || d.startsWith(`${m[1]}_`)))
            offenders.push(`${where}: ${m[1]}`);
        }
      });
  }
  expect(offenders).toEqual([]);
});

test('a bad value stops the reader with one line naming the variable', () => {
  const cases: [Record<string, string>, string][] = [
    [{ CLP_DB_PORT: 'x' }, 'CLP_DB_PORT'],
    [{ CLP_INGESTOR_LOG_LEVEL: 'loud' }, 'CLP_INGESTOR_LOG_LEVEL'],
    [{ DEMO_FILES: '0' }, 'DEMO_FILES'],
    [{ CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE: '-1' }, 'CLP_INGESTOR_FAULT_KILL_BEFORE_DELETE'],
    [{ CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER: 'maybe' }, 'CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER'],
  ];
  for (const [env, name] of cases) {
    expect(() => readSettings(env)).toThrow(SettingsError);
    expect(() => readSettings(env)).toThrow(new RegExp(`^invalid setting ${name}: `));
  }
});

test('a reader gets only the settings it names, defaulted', () => {
  const s = readSettings({ CLP_INGESTOR_LOG_LEVEL: 'WARN', CLP_DB_PORT: 'not read here' }, [
    'CLP_INGESTOR_LOG_LEVEL',
    'DEMO_FILES',
    'CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER',
  ]);
  expect(s).toEqual({
    CLP_INGESTOR_LOG_LEVEL: 'warn',
    DEMO_FILES: 200,
    CLP_INGESTOR_FAULT_KILL_AFTER_REGISTER: false,
  });
});
