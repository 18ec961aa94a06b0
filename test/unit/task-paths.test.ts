/**
 * compression_tasks.clp_paths_to_compress: msgpack `{file_paths, group_ids,
 * st_sizes}` compressed with the release line's codec, and paths compared in
 * the form CLP's scheduler writes them (str(pathlib.Path(p))).
 */
import { brotliCompressSync } from 'node:zlib';
import { encode } from '@msgpack/msgpack';
import {
  decodeTaskPaths,
  encodeTaskPaths,
  normalizeTaskPath,
  type PathsToCompress,
} from '../../src/clp/task-paths';

const paths: PathsToCompress = {
  file_paths: ['app/a.log', 'app/ü b+c.log', '/mnt/logs/var/log/x.log'],
  group_ids: [0, 0, 1],
  st_sizes: [10, 20, 2 ** 40],
};

test.each(['zstd', 'brotli'] as const)('%s round trip', async (codec) => {
  const blob = await encodeTaskPaths(paths, codec);
  expect(blob.readUInt32LE(0) === 0xfd2fb528).toBe(codec === 'zstd');
  expect(await decodeTaskPaths(blob)).toEqual(paths);
});

test('empty directories and a task with only file_paths survive as well', async () => {
  for (const codec of ['zstd', 'brotli'] as const) {
    const bare = { file_paths: ['k'] };
    expect(await decodeTaskPaths(await encodeTaskPaths(bare, codec))).toEqual(bare);
    const dirs = { ...paths, empty_directories: ['/mnt/logs/empty'] };
    expect(await decodeTaskPaths(await encodeTaskPaths(dirs, codec))).toEqual(dirs);
  }
});

test('what is not a task blob is refused', async () => {
  await expect(decodeTaskPaths(Buffer.from('not a task blob'))).rejects.toThrow();
  // Uncompressed msgpack is neither codec.
  await expect(decodeTaskPaths(Buffer.from(encode(paths)))).rejects.toThrow();
  // Valid brotli msgpack, but no list of strings.
  for (const value of [{ file_paths: 'a.log' }, { file_paths: [1] }, { paths: ['a'] }, null]) {
    await expect(decodeTaskPaths(brotliCompressSync(encode(value)))).rejects.toThrow(/file_paths/);
  }
});

test.each([
  ['app/a.log', 'app/a.log'],
  ['app//a.log', 'app/a.log'],
  ['app/./a.log', 'app/a.log'],
  ['./app/a.log', 'app/a.log'],
  ['app/../a.log', 'app/../a.log'],
  ['app/dir/', 'app/dir'],
  ['/mnt/logs//var/log/a.log', '/mnt/logs/var/log/a.log'],
  ['//host/a', '//host/a'],
  ['///a', '/a'],
  ['/', '/'],
  ['', '.'],
  ['.', '.'],
  ['a b/ü+c.log', 'a b/ü+c.log'],
])('normalizeTaskPath(%j) is %j, as str(pathlib.PurePosixPath(p))', (p, expected) => {
  expect(normalizeTaskPath(p)).toBe(expected);
});
