#!/usr/bin/env bash
# Installs the Node dependencies from package-lock.json when they are missing or stale.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v node >/dev/null 2>&1 || { echo "setup: Node.js >= 20.3 not found; install it and retry" >&2; exit 1; }
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "setup: installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || { echo "setup: npm ci failed" >&2; exit 1; }
fi
