/** What our compression jobs tell CLP: the release line's rules, and the archive sizes. */
import { clpCompat, releaseName, type AwsAuthType, type ClpCompat, type S3InputType } from '../clp/compat';
import type { Env } from './env-schema';
import { SettingsError } from './env';

export interface ClpSettings {
  compat: ClpCompat;
  s3InputType: S3InputType;
  authType: AwsAuthType;
  authProfile?: string;
  /** '' when CLP sees host paths as they are. */
  fsMountRoot: string;
  maxCompressionAttempts: number;
}

export interface ClpOutputSettings {
  target_archive_size: number;
  target_dictionaries_size: number;
  target_encoded_file_size: number;
  target_segment_size: number;
  compression_level: number;
}

/** CLP_TARGET_* and CLP_COMPRESSION_LEVEL, with CLP's clp_config field names. */
export function clpOutputSettings(e: Env): ClpOutputSettings {
  return {
    target_archive_size: e.CLP_TARGET_ARCHIVE_SIZE,
    target_dictionaries_size: e.CLP_TARGET_DICTIONARIES_SIZE,
    target_encoded_file_size: e.CLP_TARGET_ENCODED_FILE_SIZE,
    target_segment_size: e.CLP_TARGET_SEGMENT_SIZE,
    compression_level: e.CLP_COMPRESSION_LEVEL,
  };
}

/** The CLP release line's rules, checked together: a job CLP would refuse is refused here, at start-up. */
export function clpSettings(e: Env, haveCredentials: boolean): ClpSettings {
  const compat = clpCompat(e.CLP_COMPAT);
  const release = releaseName(compat.release);
  if (e.CLP_CONFIG_CODEC !== undefined) {
    throw new SettingsError(
      `invalid setting CLP_CONFIG_CODEC: replaced by CLP_COMPAT (${release} uses ${compat.codec}); unset it`,
    );
  }
  const s3InputType = e.CLP_S3_INPUT_TYPE ?? compat.s3InputTypes[0];
  if (!compat.s3InputTypes.includes(s3InputType)) {
    throw new SettingsError(
      `invalid setting CLP_S3_INPUT_TYPE: ${release} (CLP_COMPAT=${compat.release}) has no "${s3InputType}" input; use ${compat.s3InputTypes.join(' or ')}`,
    );
  }
  const authType = e.CLP_S3_AUTH_TYPE;
  if (!compat.authTypes.includes(authType)) {
    throw new SettingsError(
      `invalid setting CLP_S3_AUTH_TYPE: ${release} (CLP_COMPAT=${compat.release}) does not know "${authType}" authentication; use ${compat.authTypes.join(', ')}`,
    );
  }
  if (authType === 'credentials' && !haveCredentials) {
    throw new SettingsError(
      'invalid setting CLP_S3_AUTH_TYPE: "credentials" needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  if (authType === 'profile' && !e.CLP_S3_AUTH_PROFILE) {
    throw new SettingsError(
      'invalid setting CLP_S3_AUTH_PROFILE: required when CLP_S3_AUTH_TYPE is "profile"',
    );
  }
  return {
    compat,
    s3InputType,
    authType,
    authProfile: e.CLP_S3_AUTH_PROFILE,
    fsMountRoot: e.CLP_FS_MOUNT_ROOT,
    maxCompressionAttempts: e.CLP_COMPRESSION_MAX_ATTEMPTS,
  };
}
