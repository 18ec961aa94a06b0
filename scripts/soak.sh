#!/usr/bin/env bash
# The soak (test/soak/soak.ts): S3, SQS and fs jobs ingesting while random
# kills and freezes hit every process of the stack. It kills the stack's
# servers, so it refuses to run without a stack of its own:
#   CLP_INGESTOR_ENV_FILE=/tmp/soak.env CLP_INGESTOR_STACK_DIR=/tmp/soak-stack \
#     npm run soak -- --minutes 60 [--fault-every 120] [--seed N] [--rate 2]
# (--rate: files per second per source). The result is written to
# $CLP_INGESTOR_STACK_DIR/soak-result.json (or $SOAK_RESULT); exit status 1
# when an end-state check fails or a fault was never recovered from.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${CLP_INGESTOR_ENV_FILE:?set CLP_INGESTOR_ENV_FILE to the env file of a stack of its own}"
if [ -z "${CLP_INGESTOR_STACK_DIR:-}" ]; then
  CLP_INGESTOR_STACK_DIR=$(sed -n 's/^CLP_INGESTOR_STACK_DIR=//p' "$CLP_INGESTOR_ENV_FILE")
fi
[ -n "$CLP_INGESTOR_STACK_DIR" ] || { echo "soak: set CLP_INGESTOR_STACK_DIR (the soak kills its servers)" >&2; exit 1; }
case "$CLP_INGESTOR_STACK_DIR" in "$ROOT/.stack"*|/work/main/*) echo "soak: $CLP_INGESTOR_STACK_DIR is a shared stack; use one of your own" >&2; exit 1 ;; esac
export CLP_INGESTOR_ENV_FILE CLP_INGESTOR_STACK_DIR
export SOAK_ARGS="$*"
SOAK_COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src test scripts || echo '+changes')"
export SOAK_COMMIT
[ "${SOAK_NO_BUILD:-}" = 1 ] || npm run -s build
exec npx jest --testRegex 'test/soak/soak\.ts$' --runInBand --forceExit
