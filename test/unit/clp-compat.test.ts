/**
 * CLP_COMPAT picks the clp_config codec, the S3 input type and the allowed
 * authentication types together; a combination CLP would refuse stops the
 * process at start-up with one line naming the variable.
 */
import { loadSettings, SettingsError } from '../../src/config/settings';

const base = { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' };
const load = (env: Record<string, string>) => loadSettings({ ...base, ...env });

test('CLP head (the default): zstd, s3_object_metadata, default authentication, CLP package mount root', () => {
  const { clp } = load({});
  expect(clp.compat.release).toBe('head');
  expect(clp.compat.codec).toBe('zstd');
  expect(clp.s3InputType).toBe('s3_object_metadata');
  expect(clp.authType).toBe('default');
  expect(clp.fsMountRoot).toBe('/mnt/logs');
  expect(clp.maxCompressionAttempts).toBe(3);
});

test.each(['0.13', '0.12', '0.11', '0.10', '0.9'])(
  'CLP %s: brotli, and s3 key lists by default',
  (release) => {
    const { clp } = load({ CLP_COMPAT: release, CLP_S3_AUTH_TYPE: 'credentials' });
    expect(clp.compat.codec).toBe('brotli');
    expect(clp.s3InputType).toBe('s3');
  },
);

test.each(['0.13', '0.12', '0.11'])('CLP %s: its scheduler takes s3_object_metadata too', (release) => {
  const { clp } = load({ CLP_COMPAT: release, CLP_S3_INPUT_TYPE: 's3_object_metadata' });
  expect(clp.compat.codec).toBe('brotli');
  expect(clp.s3InputType).toBe('s3_object_metadata');
  expect(clp.compat.s3InputTypes).toEqual(['s3', 's3_object_metadata']);
});

test('CLP head may still be given s3 key lists', () => {
  expect(load({ CLP_S3_INPUT_TYPE: 's3' }).clp.s3InputType).toBe('s3');
});

test.each([
  [
    { CLP_COMPAT: '0.10', CLP_S3_AUTH_TYPE: 'credentials', CLP_S3_INPUT_TYPE: 's3_object_metadata' },
    /^invalid setting CLP_S3_INPUT_TYPE: CLP v0\.10 .* has no "s3_object_metadata" input; use s3$/,
  ],
  [
    { CLP_COMPAT: '0.9', CLP_S3_AUTH_TYPE: 'credentials', CLP_S3_INPUT_TYPE: 's3_object_metadata' },
    /^invalid setting CLP_S3_INPUT_TYPE: CLP v0\.9 /,
  ],
  [{ CLP_COMPAT: '0.10' }, /^invalid setting CLP_S3_AUTH_TYPE: CLP v0\.10 .* "default"/],
  [{ CLP_COMPAT: '0.9', CLP_S3_AUTH_TYPE: 'default' }, /^invalid setting CLP_S3_AUTH_TYPE: CLP v0\.9/],
  [{ CLP_COMPAT: '1.0' }, /^invalid setting CLP_COMPAT/],
  [{ CLP_CONFIG_CODEC: 'brotli' }, /^invalid setting CLP_CONFIG_CODEC: replaced by CLP_COMPAT/],
  [{ CLP_S3_AUTH_TYPE: 'profile' }, /^invalid setting CLP_S3_AUTH_PROFILE: required/],
  [{ CLP_S3_AUTH_TYPE: 'ec2' }, /^invalid setting CLP_S3_AUTH_TYPE/],
  [{ CLP_FS_MOUNT_ROOT: 'mnt/logs' }, /^invalid setting CLP_FS_MOUNT_ROOT/],
  [{ CLP_FS_MOUNT_ROOT: '/mnt/logs/' }, /^invalid setting CLP_FS_MOUNT_ROOT/],
  [{ CLP_COMPRESSION_MAX_ATTEMPTS: '0' }, /^invalid setting CLP_COMPRESSION_MAX_ATTEMPTS/],
])('refused at start-up: %j', (env, message) => {
  expect(() => load(env)).toThrow(SettingsError);
  expect(() => load(env)).toThrow(message);
});

test('credentials authentication needs the worker to have keys', () => {
  expect(() => loadSettings({ CLP_S3_AUTH_TYPE: 'credentials' })).toThrow(
    /CLP_S3_AUTH_TYPE: "credentials" needs AWS_ACCESS_KEY_ID/,
  );
});

test('profile authentication on CLP v0.10, and an empty mount root for a CLP on this host', () => {
  const { clp } = load({
    CLP_COMPAT: '0.10',
    CLP_S3_AUTH_TYPE: 'profile',
    CLP_S3_AUTH_PROFILE: 'ingest',
    CLP_FS_MOUNT_ROOT: '',
  });
  expect(clp.authType).toBe('profile');
  expect(clp.authProfile).toBe('ingest');
  expect(clp.fsMountRoot).toBe('');
});
