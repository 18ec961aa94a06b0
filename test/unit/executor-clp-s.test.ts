/**
 * How the compression worker turns a job into clp-s runs, as CLP's worker
 * does: files split into tasks by target_archive_size, and the exact
 * `clp-s c` command line of each task.
 */
import { clpSCompressArgs, type ClpSCompressOptions } from '../../src/executor/clp-s-run';
import { partition } from '../../src/executor/partition';

const MiB = 1024 * 1024;
const file = (name: string, size: number) => ({ name, size });
const names = (tasks: { name: string }[][]) => tasks.map((t) => t.map((f) => f.name));

describe('partition: tasks by target_archive_size', () => {
  test('a task takes files until their size reaches the target; the last takes the rest', () => {
    const files = [file('a', 4), file('b', 4), file('c', 2), file('d', 5), file('e', 1)];
    // a+b = 8 < 10, +c = 10: full. d+e = 6: the rest.
    expect(names(partition(files, 10))).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
  });

  test("the job's order is kept, and every file is in exactly one task", () => {
    const files = Array.from({ length: 100 }, (_, i) => file(`f${String(i).padStart(3, '0')}`, (i % 7) + 1));
    const tasks = partition(files, 25);
    expect(tasks.flat()).toEqual(files);
    for (const t of tasks.slice(0, -1)) {
      const size = t.reduce((n, f) => n + f.size, 0);
      // Full, and full only with its last file.
      expect(size).toBeGreaterThanOrEqual(25);
      expect(size - t[t.length - 1].size).toBeLessThan(25);
    }
  });

  test('a file larger than the target is a task of its own; small jobs are one task', () => {
    expect(names(partition([file('small', 1), file('huge', 300 * MiB), file('next', 1)], 256 * MiB))).toEqual(
      [['small', 'huge'], ['next']],
    );
    expect(names(partition([file('huge', 300 * MiB)], 256 * MiB))).toEqual([['huge']]);
    expect(names(partition([file('a', 1), file('b', 2)], 256 * MiB))).toEqual([['a', 'b']]);
  });

  test('empty files ride along; no files is no task', () => {
    expect(names(partition([file('e1', 0), file('a', 5), file('e2', 0)], 5))).toEqual([['e1', 'a'], ['e2']]);
    expect(names(partition([file('e1', 0), file('e2', 0)], 5))).toEqual([['e1', 'e2']]);
    expect(partition([], 5)).toEqual([]);
  });
});

describe("clpSCompressArgs: CLP's worker's command line", () => {
  const base: ClpSCompressOptions = {
    bin: '/opt/clp/bin/clp-s',
    outputDir: '/archives/.staging/claim/task-7/archives',
    filesFrom: '/archives/.staging/claim/task-7/inputs.txt',
    // target_segment_size + target_dictionaries_size, as CLP's worker adds them.
    targetEncodedSize: 256 * MiB + 32 * MiB,
    compressionLevel: 3,
    singleFileArchive: false,
  };
  const head = [
    'c',
    '/archives/.staging/claim/task-7/archives',
    '--print-archive-stats',
    '--target-encoded-size',
    String(288 * MiB),
    '--compression-level',
    '3',
  ];
  const filesFrom = ['--files-from', '/archives/.staging/claim/task-7/inputs.txt'];

  test('fs input into an archive directory: the base command, then --files-from', () => {
    expect(clpSCompressArgs(base)).toEqual([...head, ...filesFrom]);
  });

  test('S3 input: --auth s3 (credentials go in the environment, never on the command line)', () => {
    const args = clpSCompressArgs({
      ...base,
      s3Credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' },
    });
    expect(args).toEqual([...head, '--auth', 's3', ...filesFrom]);
    expect(args.join(' ')).not.toMatch(/AKIAEXAMPLE|secret|token/);
  });

  test('archives to S3: --single-file-archive; the timestamp key when the job names one', () => {
    expect(
      clpSCompressArgs({
        ...base,
        s3Credentials: { accessKeyId: 'k', secretAccessKey: 's' },
        singleFileArchive: true,
        timestampKey: 'ts.epoch_ms',
        compressionLevel: 19,
        targetEncodedSize: 1000,
      }),
    ).toEqual([
      'c',
      base.outputDir,
      '--print-archive-stats',
      '--target-encoded-size',
      '1000',
      '--compression-level',
      '19',
      '--auth',
      's3',
      '--single-file-archive',
      '--timestamp-key',
      'ts.epoch_ms',
      ...filesFrom,
    ]);
  });

  test('no timestamp key (null or empty) adds no flag', () => {
    expect(clpSCompressArgs({ ...base, timestampKey: null })).toEqual([...head, ...filesFrom]);
    expect(clpSCompressArgs({ ...base, timestampKey: '' })).toEqual([...head, ...filesFrom]);
  });

  test('unstructured: the converted records (a directory) with --timestamp-key timestamp, and no --auth', () => {
    expect(
      clpSCompressArgs({
        ...base,
        filesFrom: undefined,
        inputDir: '/archives/.staging/claim/task-7/converted',
        timestampKey: 'timestamp',
      }),
    ).toEqual([...head, '--timestamp-key', 'timestamp', '/archives/.staging/claim/task-7/converted']);
  });
});
