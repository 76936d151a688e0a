#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit, style and integration tests
# with gcc; the unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer with
# clang; and compiles the release build that scripts/run.sh runs. Ends with the line
# "N passed, N failed" (TAP test cases across all runs, and the release build).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1

status=0
setup() { # dir, extra meson args...
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

setup build-test --buildtype=debugoptimized || exit 1
ninja -C build-test || exit 1
meson test -C build-test --no-rebuild --print-errorlogs || status=1

CC=clang setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dintegration=false \
    --buildtype=debug || exit 1
ninja -C build-asan || exit 1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson test -C build-asan --no-rebuild --suite unit --print-errorlogs || status=1

# The build scripts/run.sh makes (release: -O3, NDEBUG, _FORTIFY_SOURCE) warns about things the
# others do not: compile it too, so that -Werror catches them here.
steps=()
if ! { setup build-release --buildtype=release && ninja -C build-release; }; then
    steps+=(--failed="release build (scripts/run.sh's)")
fi

python3 tests/tap-summary.py build-test/meson-logs/testlog.json \
    build-asan/meson-logs/testlog.json "${steps[@]}" || status=1
exit $status
