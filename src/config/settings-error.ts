/** The one error type every bad setting is reported with: its message names the variable. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}
