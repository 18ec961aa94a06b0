import { decodeClpConfig, encodeClpConfig, type ClpConfig } from '../../src/clp/clp-config';

const config: ClpConfig = {
  input: {
    type: 's3',
    keys: ['logs/a.log', 'logs/ü b+c.log'],
    bucket: 'bucket',
    region_code: 'us-east-1',
    key_prefix: 'logs/',
    endpoint_url: 'http://127.0.0.1:9000',
    aws_authentication: { type: 'default' },
    dataset: 'default',
    timestamp_key: null,
    unstructured: false,
  },
  output: {
    target_archive_size: 1,
    target_dictionaries_size: 2,
    target_encoded_file_size: 3,
    target_segment_size: 4,
    compression_level: 3,
  },
};

test('zstd clp_config round-trips and its frame header declares the content size', async () => {
  const blob = await encodeClpConfig(config, 'zstd');
  expect(blob.readUInt32LE(0)).toBe(0xfd2fb528);
  // Frame header descriptor: the Frame_Content_Size_flag (top two bits) or the
  // Single_Segment_flag (bit 5) means the decompressed size is in the header.
  const fhd = blob[4];
  expect(fhd >> 6 !== 0 || (fhd & 0x20) !== 0).toBe(true);
  expect(await decodeClpConfig(blob)).toEqual(config);
});

test('brotli clp_config (CLP v0.9 to v0.13) round-trips', async () => {
  const blob = await encodeClpConfig(config, 'brotli');
  expect(blob.readUInt32LE(0)).not.toBe(0xfd2fb528);
  expect(await decodeClpConfig(blob)).toEqual(config);
});
