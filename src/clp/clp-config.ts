/**
 * CLP's compression-job config (the `clp_config` column of compression_jobs):
 * msgpack with named keys, compressed with zstd (the frame carries the content
 * size, as CLP's scheduler expects) or, for CLP v0.9-v0.13, brotli.
 */
import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { decode, encode } from '@msgpack/msgpack';
import { compress as zstdCompress, decompress as zstdDecompress, init as zstdInit } from '@bokuweb/zstd-wasm';
import type { ClpOutputSettings } from '../config/settings';
import type { ClpConfigCodec } from './compat';

export type { ClpConfigCodec } from './compat';

export type AwsAuthentication =
  | { type: 'default' }
  | { type: 'env_vars' }
  | { type: 'profile'; profile: string }
  | {
      type: 'credentials';
      credentials: { access_key_id: string; secret_access_key: string; session_token?: string };
    };

/** The fields every S3 input type shares. */
interface S3InputBase {
  bucket: string;
  /**
   * Null whenever endpoint_url is set: CLP's workers put a region_code into
   * the endpoint's host name (see clpS3Url), which breaks custom endpoints.
   */
  region_code: string | null;
  key_prefix: string;
  endpoint_url: string | null;
  aws_authentication: AwsAuthentication;
  dataset: string;
  timestamp_key: string | null;
  unstructured: boolean;
}

/** Keys listed in the job: CLP sorts them, then lists the bucket from the first to the last. */
export interface S3InputConfig extends S3InputBase {
  type: 's3';
  keys: string[];
}

/**
 * File ids instead of keys (CLP head): CLP reads id, key and size from
 * ingested_s3_object_metadata for these ids and this ingestion job.
 */
export interface S3ObjectMetadataInputConfig extends S3InputBase {
  type: 's3_object_metadata';
  ingestion_job_id: number;
  s3_object_metadata_ids: number[];
}

export interface FsInputConfig {
  type: 'fs';
  paths_to_compress: string[];
  path_prefix_to_remove: string | null;
  dataset: string;
  timestamp_key: string | null;
  unstructured: boolean;
}

export interface ClpConfig {
  input: S3InputConfig | S3ObjectMetadataInputConfig | FsInputConfig;
  output: ClpOutputSettings;
}

let zstdReady: Promise<void> | undefined;
/** The zstd codec is WebAssembly; it must be instantiated once before use. */
export function initCodecs(): Promise<void> {
  zstdReady ??= zstdInit();
  return zstdReady;
}

const ZSTD_MAGIC = 0xfd2fb528;

/** Named-key msgpack, compressed with the release line's codec: how CLP stores clp_config and task paths. */
export async function encodeCompressedMsgpack(value: unknown, codec: ClpConfigCodec): Promise<Buffer> {
  const packed = Buffer.from(encode(value));
  if (codec === 'brotli') return brotliCompressSync(packed);
  await initCodecs();
  return Buffer.from(zstdCompress(packed, 3));
}

export function encodeClpConfig(config: ClpConfig, codec: ClpConfigCodec): Promise<Buffer> {
  return encodeCompressedMsgpack(config, codec);
}

/** Whether `blob` is a zstd frame (recognised by its magic number); anything else is taken for brotli. */
export function isZstdFrame(blob: Buffer): boolean {
  return blob.length >= 4 && blob.readUInt32LE(0) === ZSTD_MAGIC;
}

/** Decodes either encoding (zstd frames are recognised by their magic number). */
export async function decodeCompressedMsgpack(blob: Buffer): Promise<unknown> {
  let packed: Uint8Array;
  if (isZstdFrame(blob)) {
    await initCodecs();
    packed = zstdDecompress(blob);
  } else {
    packed = brotliDecompressSync(blob);
  }
  return decode(packed);
}

export const decodeClpConfig = decodeCompressedMsgpack;
