#!/usr/bin/env bash
# The Node install step: the pinned Node 24 when the machine's is older
# (scripts/node-env.sh), then the Node dependencies from package-lock.json when
# they are missing or stale. Their binaries (Temporal's core bridge, @swc/core)
# are N-API prebuilt ones, the same for every Node major: no rebuild on a switch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/node-env.sh
node_install || { echo "setup: no Node >= $NODE_MIN_MAJOR" >&2; exit 1; }
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "setup: installing Node dependencies (npm ci, Node $(node -v))"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || { echo "setup: npm ci failed" >&2; exit 1; }
fi
