#!/usr/bin/env bash
# The main job: sets everything up (stack, Node dependencies, build, worker,
# executor), then ingests sample logs from MinIO end to end and prints a summary.
# Everything keeps running afterwards; `scripts/stack.sh down` stops it all.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CLP_INGESTOR_ENV_FILE="${CLP_INGESTOR_ENV_FILE:-$ROOT/config/local.env}"
bash scripts/stack.sh up
bash scripts/setup-node.sh
. scripts/node-env.sh
node_require
npm run --silent build
node dist/client/cli.js migrate
bash scripts/stack.sh app-up
node dist/client/demo.js
echo "Temporal Web UI: http://127.0.0.1:8233   stop everything: bash scripts/stack.sh down"
