#!/usr/bin/env bash
# Installs what isod needs on Debian 12, as root, without prompts. Idempotent: packages already
# present are skipped without touching apt at all.
#   scripts/deps.sh build   what building isod takes
#   scripts/deps.sh test    that, plus what the tests drive (sanitizers, docker CLI, ...)
set -euo pipefail

build_pkgs=(gcc libc6-dev make meson ninja-build pkg-config libjansson-dev libuv1-dev
            libsqlite3-dev libarchive-dev libssl-dev zlib1g-dev libzstd-dev
            libcurl4-openssl-dev libseccomp-dev scdoc)
test_pkgs=(clang libclang-rt-14-dev clang-format valgrind python3 curl systemd passwd zstd
           docker.io docker-registry skopeo apache2-utils busybox-static umoci
           crun podman tmux util-linux procps)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start daemons here (docker.io would start dockerd): a policy-rc.d
# that refuses every start, present only for this install and only if none was there.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=1
fi
trap '[ $own_policy = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
