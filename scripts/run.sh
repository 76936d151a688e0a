#!/usr/bin/env bash
# Installs what is missing, builds, and runs isod in the foreground with its defaults
# (socket /run/isod.sock, root /var/lib/isod). Extra arguments go to isod.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/isod "$@"
