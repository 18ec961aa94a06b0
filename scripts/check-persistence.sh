#!/usr/bin/env bash
# Checks the stack's promises (run by CI after the tests): `up` twice is
# harmless, and `down` then `up` keeps the data: a row written before is
# still there and the Temporal namespace still exists.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
set -a; . config/local.env; set +a
sql() { mariadb --no-defaults -h 127.0.0.1 -P "$CLP_DB_PORT" -u "$CLP_DB_USER" -p"$CLP_DB_PASS" "$CLP_DB_NAME" -N -e "$1"; }

bash scripts/stack.sh up >/dev/null
bash scripts/stack.sh up >/dev/null   # twice: nothing new starts
marker="persistence-$(date +%s)-$$"
sql "CREATE TABLE IF NOT EXISTS persistence_check (marker VARCHAR(64) PRIMARY KEY); INSERT INTO persistence_check VALUES ('$marker')"
pids_before=$(cat .stack/run/{temporal,mariadb,minio,goaws}.pid)
bash scripts/stack.sh up >/dev/null
[ "$pids_before" = "$(cat .stack/run/{temporal,mariadb,minio,goaws}.pid)" ] || { echo "persistence: a second up restarted a server" >&2; exit 1; }
bash scripts/stack.sh down >/dev/null
bash scripts/stack.sh up >/dev/null
[ "$(sql "SELECT COUNT(*) FROM persistence_check WHERE marker = '$marker'")" = 1 ] || { echo "persistence: the row written before down is gone" >&2; exit 1; }
bash scripts/stack.sh temporal operator namespace describe -n "$TEMPORAL_NAMESPACE" >/dev/null || { echo "persistence: namespace $TEMPORAL_NAMESPACE is gone" >&2; exit 1; }
sql "DROP TABLE persistence_check"
echo "persistence: up twice kept the same servers; after down and up the row and the namespace are still there"
