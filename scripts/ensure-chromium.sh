#!/usr/bin/env bash
# Make sure headless Chromium (the Debian package) is at /usr/bin/chromium for the browser test of the Dagster UI;
# install it with apt-get only when it is missing (needs root, as in CI). DATA_ENGINE_CHROMIUM overrides the path.
set -euo pipefail
CHROMIUM="${DATA_ENGINE_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing at $CHROMIUM: install the Debian package 'chromium' (apt-get install chromium)" \
    "or set DATA_ENGINE_CHROMIUM to a Chromium binary" >&2
  exit 1
fi
echo "installing chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
test -x "$CHROMIUM" || { echo "apt-get installed chromium but $CHROMIUM is still missing" >&2; exit 1; }
