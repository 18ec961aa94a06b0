#!/usr/bin/env bash
# The local stack: Temporal dev server, MariaDB (the CLP DB), MinIO (S3) and
# goaws (SQS), every one on 127.0.0.1, data under .stack/, logs in .stack/logs.
#
#   scripts/stack.sh install   build/install the servers (idempotent, cached)
#   scripts/stack.sh up        install, then start whatever is not running
#   scripts/stack.sh app-up    start the worker and the executor (from dist/), each
#                              under a supervisor that restarts it when it dies
#   scripts/stack.sh app-down  stop the supervisors and their worker and executor
#   scripts/stack.sh down      stop what this script started (by PID file)
#   scripts/stack.sh status    one line per server and app (with its restarts)
#   scripts/stack.sh logs [s]  tail the logs (s = temporal|mariadb|minio|goaws|worker|executor)
#   scripts/stack.sh temporal  the pinned Temporal CLI, pointed at the stack (e.g. workflow list)
#
# Binaries are built once into $CLP_INGESTOR_TOOLS (default
# ~/.cache/clp-ingestor/bin), one file per pinned version, so a fresh clone
# reuses them and Go's module and build caches make a rebuild cheap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# One env file describes a stack: its ports (from the client settings in it)
# and its data directory. config/local.env is the default; another file (for
# example config/bench.env) runs a second stack beside it. Variables already
# set in the environment win, as they do for the Node processes.
ENV_FILE="${CLP_INGESTOR_ENV_FILE:-$ROOT/config/local.env}"
[ -f "$ENV_FILE" ] || { echo "stack: CLP_INGESTOR_ENV_FILE: no such file: $ENV_FILE" >&2; exit 1; }
export CLP_INGESTOR_ENV_FILE="$ENV_FILE"
while IFS= read -r line || [ -n "$line" ]; do
  [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
  [ -n "${!BASH_REMATCH[1]+x}" ] || export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
done <"$ENV_FILE"

port_of() { # URL-or-host:port -> port
  local p="${1%/}"
  echo "${p##*:}"
}

STACK="${CLP_INGESTOR_STACK_DIR:-$ROOT/.stack}"
case "$STACK" in /*) ;; *) STACK="$ROOT/$STACK" ;; esac
TOOLS="${CLP_INGESTOR_TOOLS:-$HOME/.cache/clp-ingestor/bin}"
LOGS="$STACK/logs"
RUN="$STACK/run"
# The project's Node (the pinned 24 from the tool cache when the machine's is older), installed
# by `install`, first on PATH for everything below that runs node.
. "$ROOT/scripts/node-env.sh"
node_use || true

TEMPORAL_VERSION=v1.5.1
# `go install github.com/minio/minio@latest` resolved to this on 2026-11-21.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
GOAWS_VERSION=v0.5.4
# CLP's clp-s, from CLP's PyPI wheel (the binary and its bundled libraries),
# checked against this sha256 before it is unpacked. src/clp/clp-s.ts names the same version.
CLP_CORE_VERSION=0.12.1b0
CLP_CORE_WHEEL=yscope_clp_core-$CLP_CORE_VERSION-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
CLP_CORE_SHA256=3761e3d1201b512dcc660f0a959fd552868a81ae970eef16fcacd55891c5dfd9

TEMPORAL_BIN="$TOOLS/temporal-$TEMPORAL_VERSION"
MINIO_BIN="$TOOLS/minio-$MINIO_VERSION"
GOAWS_BIN="$TOOLS/goaws-loopback-$GOAWS_VERSION"
CLP_CORE_DIR="$TOOLS/yscope-clp-core-$CLP_CORE_VERSION"
CLP_S_BIN="$CLP_CORE_DIR/yscope_clp_core/bin/clp-s"

TEMPORAL_PORT=$(port_of "$TEMPORAL_ADDRESS")
MARIADB_PORT=$CLP_DB_PORT
MINIO_PORT=$(port_of "$AWS_ENDPOINT_URL_S3")
GOAWS_PORT=$(port_of "$AWS_ENDPOINT_URL_SQS")
# Ports no client setting names, with their defaults.
TEMPORAL_UI_PORT=${CLP_STACK_TEMPORAL_UI_PORT:-8233}
TEMPORAL_HTTP_PORT=${CLP_STACK_TEMPORAL_HTTP_PORT:-7243}
TEMPORAL_METRICS_PORT=${CLP_STACK_TEMPORAL_METRICS_PORT:-7244}
MINIO_CONSOLE_PORT=${CLP_STACK_MINIO_CONSOLE_PORT:-9001}

fail() { echo "stack: $*" >&2; exit 1; }
say() { echo "stack: $*"; }

# ---------------------------------------------------------------- install ---

need_go() {
  command -v go >/dev/null 2>&1 || fail "install: Go toolchain not found (needed to build temporal, minio and goaws); install Go >= 1.24 and retry"
}

go_build() { # name target-binary command...
  local name=$1 bin=$2; shift 2
  [ -x "$bin" ] && return 0
  need_go
  say "building $name (one time; cached in $TOOLS)"
  local tmp; tmp=$(mktemp -d)
  if ! (export GOBIN="$tmp" GOFLAGS=-trimpath; "$@") >"$LOGS/build-$name.log" 2>&1; then
    rm -rf "$tmp"
    fail "install: building $name failed; see $LOGS/build-$name.log: $(grep -m1 -iE 'error|fail|forbidden' "$LOGS/build-$name.log" || tail -n1 "$LOGS/build-$name.log")"
  fi
  mv "$tmp"/* "$bin"
  rm -rf "$tmp"
}

install_mariadb() {
  command -v mariadbd >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || fail "install: mariadb-server is missing and apt-get is not available"
  say "installing mariadb-server from Debian"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server; } \
    >"$LOGS/install-mariadb.log" 2>&1 || fail "install: apt-get install mariadb-server failed; see $LOGS/install-mariadb.log"
  # Debian's package may start its own server on 3306; ours runs separately.
}

# The wheel is downloaded once with pip (from PyPI), checked, and unpacked as
# it is: clp-s finds its libraries in ../../yscope_clp_core.libs by its RPATH.
install_clp_s() {
  if [ -x "$CLP_S_BIN" ] && "$CLP_S_BIN" --help >/dev/null 2>&1; then return 0; fi
  command -v python3 >/dev/null 2>&1 || fail "install: python3 not found (needed to download CLP's clp-s wheel)"
  say "installing clp-s from yscope-clp-core $CLP_CORE_VERSION (one time; cached in $TOOLS)"
  local tmp; tmp=$(mktemp -d)
  if ! python3 -m pip download --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
      --python-version 3.11 -d "$tmp" "yscope-clp-core==$CLP_CORE_VERSION" >"$LOGS/install-clp-s.log" 2>&1; then
    rm -rf "$tmp"; fail "install: downloading yscope-clp-core $CLP_CORE_VERSION failed; see $LOGS/install-clp-s.log"
  fi
  local got; got=$(sha256sum "$tmp/$CLP_CORE_WHEEL" 2>/dev/null | cut -d' ' -f1)
  if [ "$got" != "$CLP_CORE_SHA256" ]; then
    rm -rf "$tmp"; fail "install: $CLP_CORE_WHEEL has sha256 ${got:-(missing)}, expected $CLP_CORE_SHA256"
  fi
  rm -rf "$CLP_CORE_DIR.tmp" && mkdir -p "$CLP_CORE_DIR.tmp"
  python3 -m zipfile -e "$tmp/$CLP_CORE_WHEEL" "$CLP_CORE_DIR.tmp" || { rm -rf "$tmp"; fail "install: unpacking $CLP_CORE_WHEEL failed"; }
  chmod +x "$CLP_CORE_DIR.tmp/yscope_clp_core/bin/clp-s"
  rm -rf "$tmp" "$CLP_CORE_DIR" && mv "$CLP_CORE_DIR.tmp" "$CLP_CORE_DIR"
  "$CLP_S_BIN" --help >/dev/null 2>&1 || fail "install: $CLP_S_BIN does not run; try: $CLP_S_BIN --help"
}

cmd_install() {
  mkdir -p "$TOOLS" "$LOGS" "$RUN"
  node_install || fail "install: no Node >= $NODE_MIN_MAJOR (see the line above)"
  install_mariadb
  go_build temporal "$TEMPORAL_BIN" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_VERSION"
  go_build minio "$MINIO_BIN" go install "github.com/minio/minio@$MINIO_VERSION"
  # `go install github.com/Admiral-Piett/goaws/app/cmd@v0.5.4` fails on this
  # network (the proxy answers 403 for the module's version list, which go
  # install reads to check deprecation), and goaws binds 0.0.0.0. The module in
  # scripts/go-tools/goaws pins the same v0.5.4 packages and binds loopback.
  install_clp_s
  go_build goaws "$GOAWS_BIN" bash -c "cd '$ROOT/scripts/go-tools/goaws' && go build -o \"\$GOBIN/goaws-loopback\" ."
}

# ------------------------------------------------------------ processes ----

pid_of() { # name -> pid if alive
  local f="$RUN/$1.pid"
  [ -f "$f" ] || return 1
  local pid; pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name seconds check-command...
  local name=$1 secs=$2; shift 2
  local i
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! pid_of "$name" >/dev/null; then
      fail "up: $name exited during start-up; last log lines:$(echo; tail -n 15 "$LOGS/$name.log")"
    fi
    sleep 0.2
  done
  fail "up: $name did not become ready within ${secs}s; see $LOGS/$name.log"
}

spawn() { # name command... (detached, own session, PID file)
  local name=$1; shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
}

namespace_of() { tr -d '[:space:]' <"$ROOT/temporal-config/$1"; }
tctl() { "$TEMPORAL_BIN" "$@" --address "127.0.0.1:$TEMPORAL_PORT"; }

# The jobs' namespace and the test suite's (temporal-config/namespace and
# test-namespace), each with the search attributes: a fresh server gets them
# from its flags, a running one (started before either existed) here.
ensure_namespaces() {
  local ns have name type _ i
  for ns in "$(namespace_of namespace)" "$(namespace_of test-namespace)"; do
    if ! tctl operator namespace describe -n "$ns" >/dev/null 2>&1; then
      say "creating Temporal namespace $ns"
      tctl operator namespace create -n "$ns" >/dev/null || fail "up: creating Temporal namespace $ns failed"
    fi
    # A namespace just created takes a few seconds to reach every service.
    for ((i = 0; i < 100; i++)); do
      have=$(tctl operator search-attribute list -n "$ns" 2>/dev/null) && break
      sleep 0.2
    done
    have=$(awk '{print $1}' <<<"$have")
    while read -r name type _; do
      [[ -z "$name" || "$name" == \#* ]] && continue
      grep -qx "$name" <<<"$have" && continue
      tctl operator search-attribute create -n "$ns" --name "$name" --type "$type" >/dev/null \
        || fail "up: creating search attribute $name in namespace $ns failed"
    done <"$ROOT/temporal-config/search-attributes"
  done
}

start_temporal() {
  pid_of temporal >/dev/null && return 0
  port_open $TEMPORAL_PORT && fail "up: port $TEMPORAL_PORT is taken by a process this script did not start"
  mkdir -p "$STACK/temporal"
  local args=(server start-dev --db-filename "$STACK/temporal/temporal.db"
    --ip 127.0.0.1 --port $TEMPORAL_PORT --ui-ip 127.0.0.1 --ui-port $TEMPORAL_UI_PORT
    --http-port $TEMPORAL_HTTP_PORT --metrics-port $TEMPORAL_METRICS_PORT
    --namespace "$(namespace_of namespace)" --namespace "$(namespace_of test-namespace)"
    --log-format json --log-level warn)
  local name type _
  while read -r name type _; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    args+=(--search-attribute "$name=$type")
  done <"$ROOT/temporal-config/search-attributes"
  local kv
  while read -r kv; do
    [[ -z "$kv" || "$kv" == \#* ]] && continue
    args+=(--dynamic-config-value "$kv")
  done <"$ROOT/temporal-config/dynamic-config"
  say "starting temporal dev server on 127.0.0.1:$TEMPORAL_PORT (Web UI http://127.0.0.1:$TEMPORAL_UI_PORT)"
  spawn temporal "$TEMPORAL_BIN" "${args[@]}"
  wait_for temporal 60 "$TEMPORAL_BIN" operator namespace describe --address "127.0.0.1:$TEMPORAL_PORT" -n "$TEMPORAL_NAMESPACE"
}

mariadb_sql() { mariadb --no-defaults -S "$STACK/mariadb/mysqld.sock" -u root "$@"; }

start_mariadb() {
  pid_of mariadb >/dev/null && return 0
  port_open $MARIADB_PORT && fail "up: port $MARIADB_PORT is taken by a process this script did not start"
  local d="$STACK/mariadb"
  mkdir -p "$d"
  if [ ! -d "$d/data/mysql" ]; then
    say "initialising MariaDB data directory $d/data"
    mariadb-install-db --no-defaults --datadir="$d/data" --user="$(id -un)" \
      --auth-root-authentication-method=socket --skip-test-db >"$LOGS/mariadb-init.log" 2>&1 \
      || fail "up: mariadb-install-db failed; see $LOGS/mariadb-init.log"
  fi
  say "starting MariaDB on 127.0.0.1:$MARIADB_PORT"
  spawn mariadb mariadbd --no-defaults --datadir="$d/data" --socket="$d/mysqld.sock" \
    --pid-file="$d/mariadbd.pid" --port=$MARIADB_PORT --bind-address=127.0.0.1 \
    --user="$(id -un)" --innodb-buffer-pool-size=1G --innodb-log-file-size=1G --max-connections=500 \
    --character-set-server=utf8mb4 \
    --skip-name-resolve --log-error="$LOGS/mariadb.err"
  wait_for mariadb 60 mariadb_sql -e "SELECT 1"
}

# Idempotent, on every \`up\` (a running server too): the env file is the truth
# for users and passwords.
mariadb_users() {
  mariadb_sql <<SQL
CREATE DATABASE IF NOT EXISTS \`$CLP_DB_NAME\`;
-- The schema owner: migrations, and the grants below (clp-ingestor migrate).
CREATE USER IF NOT EXISTS '$CLP_DB_USER'@'127.0.0.1' IDENTIFIED BY '$CLP_DB_PASS';
CREATE USER IF NOT EXISTS '$CLP_DB_USER'@'localhost' IDENTIFIED BY '$CLP_DB_PASS';
GRANT ALL PRIVILEGES ON \`$CLP_DB_NAME\`.* TO '$CLP_DB_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON \`$CLP_DB_NAME\`.* TO '$CLP_DB_USER'@'localhost' WITH GRANT OPTION;
-- Tests create and drop throwaway databases named clp_test_*.
GRANT ALL PRIVILEGES ON \`clp\\_test\\_%\`.* TO '$CLP_DB_USER'@'127.0.0.1' WITH GRANT OPTION;
$(role_users_sql)
FLUSH PRIVILEGES;
SQL
}

# The worker's, executor's and API's own users, created with no privileges:
# \`clp-ingestor migrate\` (run by app-up, the demo and the tests' setup) grants
# each only what src/store/grants.ts lists, table by table.
role_users_sql() {
  local role user pass
  for role in WORKER EXECUTOR API; do
    user="CLP_DB_${role}_USER" pass="CLP_DB_${role}_PASS"
    [ -n "${!user:-}" ] || continue
    local who="'${!user}'@'${CLP_DB_GRANTEE_HOST:-127.0.0.1}'"
    echo "CREATE USER IF NOT EXISTS $who IDENTIFIED BY '${!pass:-}';"
    echo "ALTER USER $who IDENTIFIED BY '${!pass:-}';"
  done
}

# Applies migrations and grants as the schema owner before the apps start.
migrate_db() {
  say "migrating $CLP_DB_NAME and granting the worker, executor and API users their privileges"
  node "$ROOT/dist/client/cli.js" migrate >>"$LOGS/migrate.log" 2>&1 \
    || fail "app-up: clp-ingestor migrate failed (nothing started); last log lines:"$'\n'"$(tail -n 5 "$LOGS/migrate.log")"
}

start_minio() {
  pid_of minio >/dev/null && return 0
  port_open $MINIO_PORT && fail "up: port $MINIO_PORT is taken by a process this script did not start"
  mkdir -p "$STACK/minio/data"
  say "starting MinIO on 127.0.0.1:$MINIO_PORT (console 127.0.0.1:$MINIO_CONSOLE_PORT)"
  MINIO_ROOT_USER="$AWS_ACCESS_KEY_ID" MINIO_ROOT_PASSWORD="$AWS_SECRET_ACCESS_KEY" \
    MINIO_BROWSER_REDIRECT=off MINIO_UPDATE=off \
    spawn minio "$MINIO_BIN" server "$STACK/minio/data" --quiet \
    --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT"
  wait_for minio 60 curl -fsS "http://127.0.0.1:$MINIO_PORT/minio/health/live"
}

start_goaws() {
  pid_of goaws >/dev/null && return 0
  port_open $GOAWS_PORT && fail "up: port $GOAWS_PORT is taken by a process this script did not start"
  say "starting goaws (SQS) on 127.0.0.1:$GOAWS_PORT"
  # The queue URLs goaws hands out carry the port from its config: this stack's.
  sed "s/^  Port: .*/  Port: $GOAWS_PORT/" "$ROOT/scripts/config/goaws.yaml" >"$STACK/goaws.yaml"
  spawn goaws "$GOAWS_BIN" -config "$STACK/goaws.yaml" -listen "127.0.0.1:$GOAWS_PORT"
  wait_for goaws 30 port_open $GOAWS_PORT
}

SERVICES=(temporal mariadb minio goaws)
# The project's own processes, run from dist/ (npm run build) against the stack.
APPS=(worker executor)

app_script() { # name -> script and arguments under $ROOT
  case $1 in
    worker) echo dist/worker.js ;;
    executor) echo dist/executor/main.js run ;;
  esac
}

# Node's own flags for an app: the worker's heap bound (WORKER_NODE_FLAGS in src/runtime.ts).
app_node_flags() { # name
  case $1 in
    worker) echo --max-semi-space-size=16 ;;
  esac
}

# One JSON line, like the apps' own, into the app's log: restarts show up in
# `stack.sh logs worker` next to what the worker said before it died.
supervisor_log() { # name level message
  local msg=${3//\\/\\\\}
  msg=${msg//\"/\\\"}
  printf '{"ts":"%s","level":"%s","msg":"%s","app":"%s","supervisor_pid":%s}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$2" "$msg" "$1" "$$" >>"$LOGS/$1.log"
}

# Runs an app and restarts it whenever it exits, with backoff (1 s doubling
# to 30 s; back to 1 s once a run lasted a minute), until SIGTERM/SIGINT,
# which it passes on to the app and waits for. Started by app-up in its own
# session; its PID is in $RUN/<name>-supervisor.pid, the app's in $RUN/<name>.pid.
cmd_supervise() { # name
  local name=$1 child=0 stopping=0 restarts=0 delay=1 started status ran sleeper
  local -a cmd
  read -r -a cmd <<<"$(app_script "$name")"
  trap 'stopping=1; [ "$child" -gt 0 ] && kill -TERM "$child" 2>/dev/null' TERM INT
  echo 0 >"$RUN/$name.restarts"
  # Prometheus metrics on loopback (docs/operations.md, Metrics); set the variable empty for none.
  case $name in
    worker) export CLP_INGESTOR_METRICS_ADDRESS="${CLP_INGESTOR_METRICS_ADDRESS-127.0.0.1:9464}" ;;
    executor) export CLP_EXECUTOR_METRICS_ADDRESS="${CLP_EXECUTOR_METRICS_ADDRESS-127.0.0.1:9465}" ;;
  esac
  while :; do
    started=$(date +%s)
    # shellcheck disable=SC2046 # the flags are words
    node $(app_node_flags "$name") "$ROOT/${cmd[0]}" "${cmd[@]:1}" >>"$LOGS/$name.log" 2>&1 </dev/null &
    child=$!
    echo "$child" >"$RUN/$name.pid"
    # A trapped signal interrupts wait (status > 128) while the app still runs: wait again. The
    # shell's own text report of a killed job ("line N: PID Killed ...") is dropped: the JSON line
    # below says it.
    while :; do
      status=0
      wait "$child" 2>/dev/null || status=$?
      kill -0 "$child" 2>/dev/null || break
    done
    child=0
    rm -f "$RUN/$name.pid"
    [ "$stopping" = 1 ] && break
    ran=$(($(date +%s) - started))
    [ "$ran" -ge 60 ] && delay=1
    restarts=$((restarts + 1))
    echo "$restarts" >"$RUN/$name.restarts"
    local how="with status $status"
    [ "$status" -gt 128 ] && how="on SIG$(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
    supervisor_log "$name" warn "$name exited $how after ${ran} s; restarting in ${delay} s (restart $restarts)"
    sleep "$delay" &
    sleeper=$!
    wait "$sleeper" 2>/dev/null || kill "$sleeper" 2>/dev/null || true
    [ "$stopping" = 1 ] && break
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
  done
  supervisor_log "$name" info "supervisor stopped"
}

start_app() { # name
  local name=$1 script
  pid_of "$name-supervisor" >/dev/null && return 0
  script=$(app_script "$name")
  [ -f "$ROOT/${script%% *}" ] || fail "app-up: ${script%% *} is missing; run npm run build first"
  say "starting $name (supervised)"
  spawn "$name-supervisor" bash "$ROOT/scripts/stack.sh" supervise "$name"
}

cmd_app_up() {
  local a
  [ -f "$ROOT/dist/client/cli.js" ] || fail "app-up: dist/client/cli.js is missing; run npm run build first"
  node_require
  migrate_db
  # Only what is not running is started (a supervised app, restarted by its supervisor or not, is
  # left alone), and only what this call started is watched: an exit this early is a
  # configuration error, which stops just those apps.
  declare -A offset
  local fresh=()
  for a in "${APPS[@]}"; do
    if pid_of "$a-supervisor" >/dev/null; then
      say "$a is already supervised (pid $(pid_of "$a-supervisor")); left as it is"
      continue
    fi
    rm -f "$RUN/$a.restarts" # a stopped supervisor's count
    offset[$a]=$(stat -c %s "$LOGS/$a.log" 2>/dev/null || echo 0) # its "started" line must come after
    fresh+=("$a")
  done
  for a in "${fresh[@]}"; do start_app "$a"; done
  # Until each started app says it started or exits (or CLP_STACK_APP_START_WAIT_SEC passes: an
  # app waiting for a server that is down is not an error).
  local deadline=$(($(date +%s) + ${CLP_STACK_APP_START_WAIT_SEC:-30}))
  local failed=() report="" pending=("${fresh[@]}") left
  while [ ${#pending[@]} -gt 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do
    left=()
    for a in "${pending[@]}"; do
      if [ "$(cat "$RUN/$a.restarts" 2>/dev/null || echo 0)" != 0 ]; then
        failed+=("$a")
        report+=$'\n'"app-up: $a exited at start; last log lines:"$'\n'"$(tail -n 15 "$LOGS/$a.log")"
      elif ! tail -c +$((offset[$a] + 1)) "$LOGS/$a.log" 2>/dev/null | grep -q "\"$a started\""; then
        left+=("$a")
      fi
    done
    pending=("${left[@]}")
    [ ${#failed[@]} -gt 0 ] && break
    [ ${#pending[@]} -gt 0 ] && sleep 0.2
  done
  if [ ${#failed[@]} -gt 0 ]; then
    for a in "${fresh[@]}"; do stop_app "$a"; done
    fail "${report#$'\n'}"
  fi
  for a in "${pending[@]}"; do say "$a has not said it started yet (waiting for a server?); see scripts/stack.sh logs $a"; done
  if [[ " ${fresh[*]} " != *" worker "* ]]; then
    # A worker left running may run an older build than dist/: then dist/'s has no worker to serve it.
    CLP_INGESTOR_MAKE_CURRENT_WAIT_MS=3000 make_current_version || say "the running worker is not dist/'s build: it stays current until the worker is restarted (app-down, app-up)"
  elif [[ " ${pending[*]} " != *" worker "* ]]; then
    make_current_version || fail "app-up: making the worker's build its deployment's current version failed"
  fi
}

# The built worker's version becomes its deployment's current version (docs/upgrades.md): new
# jobs, and jobs continuing as new, run this build. Nothing changes when it already is; nothing
# when CLP_INGESTOR_WORKER_VERSIONING=false.
make_current_version() {
  local out rc=0
  out=$(node "$ROOT/dist/worker-deployment.js" make-current 2>&1) || rc=$?
  say "$out"
  return $rc
}

stop_app() { # the supervisor first (it stops the app), then the app if it is still there
  stop_one "$1-supervisor"
  stop_one "$1"
}

cmd_up() {
  cmd_install
  start_mariadb
  mariadb_users
  start_minio
  start_goaws
  start_temporal
  ensure_namespaces
  cmd_status
}

stop_one() {
  local name=$1 pid
  pid=$(pid_of "$name") || { rm -f "$RUN/$name.pid"; return 0; }
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name did not stop in 30s; killing pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

cmd_down() {
  local s
  for s in "${APPS[@]}"; do stop_app "$s"; done
  for s in "${SERVICES[@]}"; do stop_one "$s"; done
}

cmd_status() {
  local s pid port sup
  for s in "${SERVICES[@]}" "${APPS[@]}"; do
    case $s in
      worker | executor) port="-" ;;
      temporal) port="$TEMPORAL_PORT (ui $TEMPORAL_UI_PORT)" ;;
      mariadb) port=$MARIADB_PORT ;;
      minio) port="$MINIO_PORT (console $MINIO_CONSOLE_PORT)" ;;
      goaws) port=$GOAWS_PORT ;;
    esac
    if [ "$port" = - ]; then
      if sup=$(pid_of "$s-supervisor"); then
        pid=$(pid_of "$s") || pid="-"
        printf '%-9s %-8s pid %-8s supervisor pid %s, %s restarts\n' "$s" \
          "$([ "$pid" = - ] && echo restarting || echo running)" "$pid" "$sup" "$(cat "$RUN/$s.restarts" 2>/dev/null || echo 0)"
      elif pid=$(pid_of "$s"); then
        printf '%-9s running  pid %-8s (not supervised)\n' "$s" "$pid"
      else
        printf '%-9s stopped\n' "$s"
      fi
    elif pid=$(pid_of "$s"); then
      printf '%-9s running  pid %-8s 127.0.0.1:%s\n' "$s" "$pid" "$port"
    else
      printf '%-9s stopped\n' "$s"
    fi
  done
}

cmd_logs() {
  if [ $# -gt 0 ]; then tail -n 100 -f "$LOGS/$1.log"; else tail -n 20 "$LOGS"/*.log; fi
}

mkdir -p "$LOGS" "$RUN"
case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  app-up) cmd_app_up ;;
  app-down) for s in "${APPS[@]}"; do stop_app "$s"; done ;;
  supervise) shift; cmd_supervise "$1" ;;
  down) cmd_down ;;
  stop) shift; for s in "$@"; do if [[ " ${APPS[*]} " == *" $s "* ]]; then stop_app "$s"; else stop_one "$s"; fi; done ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  temporal) shift; TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE}" exec "$TEMPORAL_BIN" "$@" ;;
  *) echo "usage: scripts/stack.sh install|up|app-up|app-down|down|status|logs [service]|stop service...|temporal args..." >&2; exit 2 ;;
esac
