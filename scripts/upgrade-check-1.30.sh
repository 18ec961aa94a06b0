#!/usr/bin/env bash
# The half of docs/upgrades.md that the pinned dev server (Temporal 1.29) cannot show: a job
# pinned to version 1 moves to version 2 at its next continue-as-new. Builds Temporal server
# 1.30.8 (the newest 1.30 the Go module proxy serves that builds with this machine's Go) once
# into the tool cache, starts it on loopback (SQLite in memory, ports 7633/6633-6639/7643/8600),
# creates the test namespace and search attributes, runs test/integration/worker-versioning.test.ts
# against it with the rest of the stack from $CLP_INGESTOR_ENV_FILE (default config/local.env,
# which must be up), and stops the server. Not part of CI: the first build takes about 25 minutes.
#
#   bash scripts/upgrade-check-1.30.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VERSION=v1.30.8
PORT=7633
TOOLS="${CLP_INGESTOR_TOOLS:-$HOME/.cache/clp-ingestor/bin}"
BIN="$TOOLS/temporal-server-$VERSION"
ENV_FILE="${CLP_INGESTOR_ENV_FILE:-$ROOT/config/local.env}"
say() { echo "upgrade-check: $*"; }

if [ ! -x "$BIN" ]; then
  say "building Temporal server $VERSION (once)"
  tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-trimpath go install "go.temporal.io/server/cmd/server@$VERSION"
  mkdir -p "$TOOLS" && mv "$tmp/server" "$BIN" && rmdir "$tmp"
fi

work=$(mktemp -d /tmp/clp-temporal-130.XXXXXX)
module="$(go env GOMODCACHE)/go.temporal.io/server@$VERSION"
[ -f "$module/config/development-sqlite.yaml" ] \
  || GOFLAGS=-mod=mod go mod download "go.temporal.io/server@$VERSION"
# The server's own SQLite development config, every port moved off the stack's, every listener on
# loopback, namespaces' archival off, and our dynamic config (temporal-config/dynamic-config).
sed -e "s/7233/$PORT/g; s/6933/6633/g; s/7234/7634/g; s/6934/6634/g; s/7235/7635/g; s/6935/6635/g" \
  -e "s/7239/7639/g; s/6939/6639/g; s/7243/7643/g; s/8000/8600/g; s/7936/7966/g" \
  -e "s#config/dynamicconfig/development-sql.yaml#$work/dynamic-config.yaml#" \
  "$module/config/development-sqlite.yaml" >"$work/config.yaml"
sed -i '/^namespaceDefaults:/,$ s/state: "enabled"/state: "disabled"/' "$work/config.yaml"
while read -r kv; do
  [[ -z "$kv" || "$kv" == \#* ]] && continue
  printf '%s:\n  - value: %s\n' "${kv%%=*}" "${kv#*=}"
done <temporal-config/dynamic-config >"$work/dynamic-config.yaml"

"$BIN" --config-file "$work/config.yaml" --allow-no-auth start >"$work/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
CLI="$TOOLS/temporal-v1.5.1" # the stack's Temporal CLI (scripts/stack.sh install)
[ -x "$CLI" ] || { echo "upgrade-check: no $CLI: run scripts/stack.sh install first" >&2; exit 1; }
tctl() { "$CLI" "$@" --address "127.0.0.1:$PORT"; }
for ((i = 0; i < 120; i++)); do
  tctl operator cluster system >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.5
done
ns=$(tr -d '[:space:]' <temporal-config/test-namespace)
tctl operator namespace create -n "$ns" --retention 24h >/dev/null
for ((i = 0; i < 100; i++)); do tctl operator namespace describe -n "$ns" >/dev/null 2>&1 && break; sleep 0.2; done
while read -r name type _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  tctl operator search-attribute create -n "$ns" --name "$name" --type "$type" >/dev/null
done <temporal-config/search-attributes
say "Temporal $(tctl operator cluster system 2>/dev/null | awk 'NR==2 {print $1}') on 127.0.0.1:$PORT"

sed "s/^TEMPORAL_ADDRESS=.*/TEMPORAL_ADDRESS=127.0.0.1:$PORT/" "$ENV_FILE" >"$work/env"
grep -q '^TEMPORAL_ADDRESS=' "$work/env" || echo "TEMPORAL_ADDRESS=127.0.0.1:$PORT" >>"$work/env"
. scripts/node-env.sh
node_require
CLP_INGESTOR_ENV_FILE="$work/env" TEMPORAL_ADDRESS="127.0.0.1:$PORT" \
  npx jest test/integration/worker-versioning.test.ts
