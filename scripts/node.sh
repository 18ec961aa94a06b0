#!/usr/bin/env bash
# Runs Node with the project's Node (scripts/node-env.sh: the machine's when it
# is new enough, else the pinned build the install step put in the tool cache),
# e.g. `bash scripts/node.sh dist/worker.js`. The systemd units and the npm
# scripts that start a process use it. It never downloads anything.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
node_require
exec node "$@"
