#!/usr/bin/env bash
# Installs Debian's Chromium (/usr/bin/chromium) for the dashboard browser test
# (test/integration/dashboard.test.ts, driven by playwright-core, which never
# downloads a browser). Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "install-browser: /usr/bin/chromium present"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "install-browser: apt-get not found; install Chromium as /usr/bin/chromium by hand" >&2
  exit 1
}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "install-browser: installing chromium (apt-get)"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
