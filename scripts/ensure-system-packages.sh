#!/usr/bin/env bash
# Installs the Debian packages twinhub needs when they are missing (fresh machine, as root).
# Usage: scripts/ensure-system-packages.sh [runtime|test]
#   runtime: Python with venv, Node.js and npm (for configurable-http-proxy)
#   test:    runtime + Chromium for the browser tests, PostgreSQL for the database tests and
#            wrk for `make bench`
set -euo pipefail
want=${1:-runtime}
missing=()
python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' 2>/dev/null \
  || missing+=(python3 python3-venv python3-dev)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v gcc >/dev/null || missing+=(build-essential)
if [ "$want" = test ]; then
  command -v chromium >/dev/null || missing+=(chromium)
  # a real PostgreSQL server for tests/integration/test_postgres.py (the production database)
  command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    || missing+=(postgresql)
  command -v wrk >/dev/null || missing+=(wrk)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "twinhub needs these Debian packages: ${missing[*]}" >&2
  echo "Install them (sudo apt-get install -y ${missing[*]}) and run make again." >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
