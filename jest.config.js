/** Tests run against the real local stack (scripts/stack.sh up), in their own
 * Temporal namespace (temporal-config/test-namespace) and one MariaDB, so
 * suites run one at a time. The global setup tags the run and makes sure the
 * namespace exists; the teardown fails the run if any of its workflows still runs. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // test/final/ last: it checks what every other suite left (no secret in any Temporal history).
  testSequencer: '<rootDir>/test/support/sequencer.js',
  testTimeout: 120_000,
  maxWorkers: 1,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};
