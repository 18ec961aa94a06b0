/**
 * compression_tasks.clp_paths_to_compress: the files of one task, as CLP's
 * scheduler writes them (PathsToCompress: file_paths, group_ids, st_sizes),
 * msgpack-packed and compressed with the release line's codec (zstd on CLP
 * head, brotli on v0.9-v0.13), the same codec as clp_config. For S3 inputs
 * the paths are object keys; for fs inputs, paths as CLP's workers see them.
 */
import { decodeCompressedMsgpack, encodeCompressedMsgpack } from './clp-config';
import type { ClpConfigCodec } from './compat';

export interface PathsToCompress {
  file_paths: string[];
  group_ids?: number[];
  st_sizes?: number[];
  empty_directories?: string[];
}

export function encodeTaskPaths(paths: PathsToCompress, codec: ClpConfigCodec): Promise<Buffer> {
  return encodeCompressedMsgpack(paths, codec);
}

/** Decodes either codec (zstd recognised by its magic number); throws on anything that is not PathsToCompress. */
export async function decodeTaskPaths(blob: Buffer): Promise<PathsToCompress> {
  const value = (await decodeCompressedMsgpack(blob)) as Partial<PathsToCompress> | null;
  if (!value || !Array.isArray(value.file_paths) || !value.file_paths.every((p) => typeof p === 'string')) {
    throw new Error('clp_paths_to_compress is not a PathsToCompress (no file_paths list of strings)');
  }
  return value as PathsToCompress;
}

/**
 * A path as CLP's scheduler writes it into a task: `str(pathlib.Path(p))`.
 * Both an fs path and an S3 key pass through pathlib there, which collapses
 * repeated slashes (two leading slashes stay two), drops `.` components and
 * a trailing slash, and keeps `..`. Comparing a file's path with a task's
 * therefore compares both in this form.
 */
export function normalizeTaskPath(p: string): string {
  let root = '';
  let rest = p;
  if (p.startsWith('/')) {
    root = p.startsWith('//') && !p.startsWith('///') ? '//' : '/';
    rest = p.slice(root.length);
  }
  const parts = rest.split('/').filter((x) => x !== '' && x !== '.');
  return root + parts.join('/') || '.';
}
