#!/usr/bin/env bash
# Sets everything up and runs the whole test suite against the real stack:
# installs what is missing, starts the stack, builds, lints, runs jest.
# Extra arguments go to jest (e.g. scripts/test.sh test/unit).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/stack.sh up
bash scripts/setup-node.sh
. scripts/node-env.sh
node_require   # Node 24 first on PATH for npm, jest and every process the tests start
bash scripts/install-browser.sh   # Debian's Chromium, for the dashboard test
export CLP_INGESTOR_ENV_FILE="${CLP_INGESTOR_ENV_FILE:-$ROOT/config/local.env}"
npm run --silent lint
npm run --silent build
exec npx jest "$@"
