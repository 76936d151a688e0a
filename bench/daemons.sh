#!/usr/bin/env bash
# Daemon foundation benchmark: isod against dockerd and `podman system service`,
# interleaved over R rounds in one run (see bench/README.md).
#
# For each daemon and round, on fresh temp roots under /dev/shm:
#   (a) exec -> first 200 answer to GET /_ping (httpload --wait-ready --exec);
#   (b) idle RSS/PSS 2 s after ready (/proc/PID/smaps_rollup), the daemon and,
#       separately, its descendants (dockerd's containerd), found by ppid;
#   (c) GET /_ping req/s and p99 over 1 and 16 keep-alive connections, 5 s each,
#       and over 1 connection with daemon and client pinned to one CPU.
# Then the daemon is stopped by pid (SIGTERM, SIGKILL after 10 s) and everything
# it created is removed. Prints a Markdown table of medians and the ratio of each
# peer to isod; with -o also writes bench/results/daemons-<date>.md.
#
# usage: sudo bench/daemons.sh [-r ROUNDS] [-o] [-d PING_SECONDS] [--only isod,dockerd,podman]
# env:   BUILD (meson build dir, default build), ISOD_BIN, HTTPLOAD (override binaries)
set -euo pipefail

ROUNDS=10
WRITE_OUT=0
PING_SECS=5
IDLE_SECS=2
READY_TIMEOUT_MS=60000
STOP_TIMEOUT_S=10
PIN_CPU=0
ONLY=isod,dockerd,podman

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
    exit "${1:-0}"
}

while (($#)); do
    case $1 in
        -r) ROUNDS=${2:?-r needs a number}; shift 2 ;;
        -o) WRITE_OUT=1; shift ;;
        -d) PING_SECS=${2:?-d needs seconds}; shift 2 ;;
        --only) ONLY=${2:?--only needs a list}; shift 2 ;;
        --only=*) ONLY=${1#--only=}; shift ;;
        -h|--help) usage 0 ;;
        *) echo "daemons.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
    esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "daemons.sh: bad -r '$ROUNDS'" >&2; exit 2; }
[[ $PING_SECS =~ ^[1-9][0-9]*$ ]] || { echo "daemons.sh: bad -d '$PING_SECS'" >&2; exit 2; }

IFS=, read -r -a DAEMONS <<<"$ONLY"
for d in "${DAEMONS[@]}"; do
    case $d in isod|dockerd|podman) ;; *) echo "daemons.sh: unknown daemon '$d'" >&2; exit 2 ;; esac
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

log() { printf '[daemons.sh] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    if [[ -n ${CUR_LOG:-} && -s ${CUR_LOG:-} ]]; then
        log "last lines of $CUR_LOG:"
        tail -n 20 "$CUR_LOG" >&2 || true
    fi
    exit 1
}

[[ $EUID -eq 0 ]] || die "run as root (sudo bench/daemons.sh)"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) BUILD_DIR=$BUILD ;; *) BUILD_DIR=$REPO/$BUILD ;; esac

# ---------------------------------------------------------------- cleanup state
TMP=""              # /dev/shm/isod-bench.XXXXXX, holds every per-run dir
CUR_PID=""          # the daemon being measured
CUR_LAUNCHER=""     # httpload --wait-ready --exec, its parent
CUR_KIDS=()         # "pid:starttime" of the daemon's descendants
CUR_LOG=""
CREATED_POLICY=0
PRE_KEYJSON=0; [[ -e /etc/docker/key.json ]] && PRE_KEYJSON=1
PRE_RUNDOCKER=0; [[ -e /run/docker ]] && PRE_RUNDOCKER=1
PRE_LIBPODLOCK=0; [[ -e /dev/shm/libpod_lock ]] && PRE_LIBPODLOCK=1

# starttime (field 22 of /proc/PID/stat), to tell a pid from a reused one
starttime() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    local -a f
    read -r -a f <<<"$s"
    echo "${f[19]}"
}

alive() { # alive PID [STARTTIME]; false for gone or zombie
    local st s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [[ ${s:0:1} != Z ]] || return 1
    if [[ -n ${2:-} ]]; then
        st=$(starttime "$1") || return 1
        [[ $st == "$2" ]] || return 1
    fi
}

# stop_pid PID [STARTTIME]: SIGTERM, wait up to STOP_TIMEOUT_S, then SIGKILL.
stop_pid() {
    local pid=$1 st=${2:-} i
    alive "$pid" "$st" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT_S * 20; i++)); do
        alive "$pid" "$st" || return 0
        sleep 0.05
    done
    log "pid $pid did not stop in ${STOP_TIMEOUT_S}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" "$st" || return 0
        sleep 0.05
    done
    log "warning: pid $pid still alive after SIGKILL"
}

# Unmount everything mounted at or below $1, deepest first.
unmount_under() {
    local dir=$1 m
    [[ -n $dir ]] || return 0
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
    done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

stop_current() {
    local k
    if [[ -n $CUR_PID ]]; then
        stop_pid "$CUR_PID"
    fi
    if [[ -n $CUR_LAUNCHER ]]; then
        wait "$CUR_LAUNCHER" 2>/dev/null || true
    fi
    for k in "${CUR_KIDS[@]}"; do # e.g. a containerd that outlived dockerd
        stop_pid "${k%%:*}" "${k#*:}"
    done
    CUR_PID="" CUR_LAUNCHER="" CUR_KIDS=()
}

cleanup() {
    local rc=$?
    set +e
    stop_current
    if [[ -n $TMP && -d $TMP ]]; then
        unmount_under "$TMP"
        rm -rf "$TMP"
    fi
    if ((CREATED_POLICY)); then rm -f /usr/sbin/policy-rc.d; fi
    # dockerd and podman write these outside their roots; remove them if they
    # were not there before this run
    if ((!PRE_KEYJSON)); then rm -f /etc/docker/key.json; fi
    if ((!PRE_RUNDOCKER)); then rmdir /run/docker/plugins /run/docker 2>/dev/null; fi
    if ((!PRE_LIBPODLOCK)); then rm -f /dev/shm/libpod_lock; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- install
engine_pids() { # pids of running dockerd/containerd, by executable path
    local p e
    for p in /proc/[0-9]*; do
        e=$(readlink "$p/exe" 2>/dev/null) || continue
        case ${e##*/} in dockerd|containerd) echo "${p#/proc/}" ;; esac
    done
}

PKGS=(docker.io podman crun containerd)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    before=$(engine_pids | sort)
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # keep the packages from starting dockerd/containerd at install time
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        CREATED_POLICY=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${PKGS[@]}" >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends "${PKGS[@]}" >&2
    fi
    if ((CREATED_POLICY)); then rm -f /usr/sbin/policy-rc.d; CREATED_POLICY=0; fi
    new=$(comm -13 <(echo "$before") <(engine_pids | sort) | tr '\n' ' ')
    [[ -z ${new// /} ]] || die "the install left dockerd/containerd running (pid $new); stop them by pid and rerun"
fi
DOCKERD=$(command -v dockerd) || die "dockerd not found"
PODMAN=$(command -v podman) || die "podman not found"

TMP=$(mktemp -d /dev/shm/isod-bench.XXXXXX)

# ---------------------------------------------------------------- build
if want isod; then
    if [[ -z ${ISOD_BIN:-} ]]; then
        if [[ ! -f $BUILD_DIR/build.ninja ]]; then
            log "meson setup $BUILD_DIR"
            (cd "$REPO" && meson setup "$BUILD_DIR") >&2 || die "meson setup failed"
        fi
        ninja -C "$BUILD_DIR" >&2 || die "build failed"
        ISOD_BIN=$BUILD_DIR/isod
    fi
    [[ -x $ISOD_BIN ]] || die "isod binary not found at $ISOD_BIN"
fi
if [[ -z ${HTTPLOAD:-} ]]; then
    HTTPLOAD=$BUILD_DIR/bench/httpload
    if [[ ! -x $HTTPLOAD || $REPO/bench/httpload.c -nt $HTTPLOAD ]]; then
        HTTPLOAD=$TMP/httpload # not built (yet) by meson, or stale: build a private copy
        "${CC:-cc}" -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
            "$REPO/bench/httpload.c" -o "$HTTPLOAD" || die "cannot build httpload"
    fi
fi
[[ -x $HTTPLOAD ]] || die "httpload not found at $HTTPLOAD"

# ---------------------------------------------------------------- measuring
jget() { # jget KEY JSON -> number
    sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" <<<"$2"
}

mem_kib() { # mem_kib PID -> "RSS PSS" in KiB
    awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print r + 0, p + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null ||
        echo "0 0"
}

descendants() { # descendants PID -> pids, by walking ppid in /proc/*/stat
    local -A parent=()
    local p s f
    for p in /proc/[0-9]*; do
        s=$(cat "$p/stat" 2>/dev/null) || continue
        s=${s##*) }
        read -r -a f <<<"$s"
        parent[${p#/proc/}]=${f[1]}
    done
    local -a queue=("$1") out=()
    while ((${#queue[@]})); do
        local cur=${queue[0]}
        queue=("${queue[@]:1}")
        for p in "${!parent[@]}"; do
            if [[ ${parent[$p]} == "$cur" ]]; then
                out+=("$p")
                queue+=("$p")
            fi
        done
    done
    ((${#out[@]} == 0)) || printf '%s\n' "${out[@]}"
}

declare -A V=()     # V[daemon.metric] = space-separated values over rounds
declare -A KIDNAMES=()
add() { V[$1.$2]="${V[$1.$2]:-}${V[$1.$2]:+ }$3"; }

# run_one DAEMON ROUND
run_one() {
    local d=$1 r=$2 run=$TMP/$1.$2 sock line ready pid
    mkdir -p "$run"
    sock=$run/$d.sock
    CUR_LOG=$run/$d.log
    local -a cmd env=()
    case $d in
        isod)
            cmd=("$ISOD_BIN" --root "$run/isod-root" -H "unix://$sock" --log-level error) ;;
        dockerd)
            cmd=("$DOCKERD" -H "unix://$sock" --data-root "$run/docker-root"
                --exec-root "$run/docker-exec" --pidfile "$run/docker.pid"
                --iptables=false --ip-masq=false --bridge=none --userland-proxy=false) ;;
        podman)
            cat >"$run/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
            env=("CONTAINERS_CONF=$run/containers.conf")
            # --tmpdir and --network-config-dir keep /run/libpod and /etc/cni untouched
            cmd=("$PODMAN" --root "$run/podman-root" --runroot "$run/podman-run"
                --tmpdir "$run/podman-tmp" --network-config-dir "$run/podman-net"
                system service --time=0 "unix://$sock") ;;
    esac

    # (a) exec -> first 200 on /_ping; httpload forks+execs the daemon, prints
    # {"ready_ms":..,"pid":..}, then stays its parent until it exits.
    local fd
    exec {fd}< <(exec env "${env[@]}" "$HTTPLOAD" --wait-ready -s "$sock" -t "$READY_TIMEOUT_MS" \
        --exec -- "${cmd[@]}" 2>>"$CUR_LOG")
    CUR_LAUNCHER=$!
    if ! read -r -t $((READY_TIMEOUT_MS / 1000 + 15)) -u "$fd" line; then
        exec {fd}<&-
        die "$d did not become ready (round $r)"
    fi
    exec {fd}<&-
    ready=$(jget ready_ms "$line")
    pid=$(jget pid "$line")
    [[ -n $ready && -n $pid ]] || die "bad answer from httpload: $line"
    CUR_PID=$pid
    add "$d" ready "$ready"

    # (b) idle memory
    sleep "$IDLE_SECS"
    local rss pss krss=0 kpss=0 k kr kp names=""
    read -r rss pss < <(mem_kib "$pid")
    while read -r k; do
        [[ -n $k ]] || continue
        local st
        st=$(starttime "$k") || continue
        CUR_KIDS+=("$k:$st")
        read -r kr kp < <(mem_kib "$k")
        krss=$((krss + kr)) kpss=$((kpss + kp))
        names+="${names:+,}$(cat "/proc/$k/comm" 2>/dev/null || echo "?")"
    done < <(descendants "$pid")
    add "$d" rss "$rss"
    add "$d" pss "$pss"
    add "$d" krss "$krss"
    add "$d" kpss "$kpss"
    [[ -z $names ]] || KIDNAMES[$d]=$names

    # (c) GET /_ping throughput: 1 and 16 connections where the scheduler puts
    # them, then 1 connection with the daemon's threads and httpload pinned to
    # one CPU (last, as it changes the daemon's affinity). Across CPUs a 1-conn
    # ping-pong is bound by wakeup latency (a trivial C server does ~13k req/s
    # here, ~75k on one CPU), so the pinned run is the stable per-request cost.
    local c out errs=0 m
    local -a pin
    for m in 1 16 1pin; do
        c=${m%pin} pin=()
        if [[ $m == *pin ]]; then
            taskset -a -p -c "$PIN_CPU" "$pid" >/dev/null || die "taskset failed on $d"
            pin=(taskset -c "$PIN_CPU")
        fi
        out=$("${pin[@]}" "$HTTPLOAD" -s "$sock" -c "$c" -d "$PING_SECS" /_ping 2>>"$CUR_LOG") ||
            die "httpload failed against $d"
        add "$d" "rps$m" "$(jget rps "$out")"
        add "$d" "p99_$m" "$(jget p99_us "$out")"
        errs=$((errs + $(jget errors "$out")))
    done
    add "$d" errs "$errs"
    local msg="round $r $d: ready $ready ms, RSS $rss KiB, PSS $pss KiB"
    [[ -z $names ]] || msg+=" (+ $names: PSS $kpss KiB)"
    msg+=", ping ${V[$d.rps1]##* } / ${V[$d.rps16]##* } / ${V[$d.rps1pin]##* } req/s (1 / 16 / 1 pinned)"
    ((errs == 0)) || msg+=", $errs errors"
    log "$msg"

    # stop by pid and remove what it created
    stop_current
    unmount_under "$run"
    rm -rf "$run"
    CUR_LOG=""
}

log "daemons: ${DAEMONS[*]}; rounds: $ROUNDS; ping ${PING_SECS}s per connection count; temp: $TMP"
n=${#DAEMONS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do # rotate the order each round
        run_one "${DAEMONS[$(((i + r - 1) % n))]}" "$r"
    done
done

# ---------------------------------------------------------------- report
median() {
    tr ' ' '\n' <<<"$1" | grep . | sort -g |
        awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
fmt() { # fmt VALUE SCALE DECIMALS
    [[ -n $1 ]] || { echo "–"; return; }
    awk -v v="$1" -v s="$2" -v d="$3" 'BEGIN { printf "%.*f", d, v / s }'
}
ratio() { # ratio PEER ISOD
    [[ -n $1 && -n $2 ]] || { echo "–"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a + 0 == 0) print "–"; else printf "%.1fx", a / b }'
}

declare -A M=()
for d in "${DAEMONS[@]}"; do
    for m in ready rss pss krss kpss rps1 p99_1 rps16 p99_16 rps1pin p99_1pin errs; do
        M[$d.$m]=$(median "${V[$d.$m]:-}")
    done
    M[$d.tpss]=$(awk -v a="${M[$d.pss]}" -v b="${M[$d.kpss]}" 'BEGIN { print a + b }')
done

PEERS=()
for d in dockerd podman; do want "$d" && PEERS+=("$d"); done
HAVE_ISOD=0; want isod && HAVE_ISOD=1

target() { # target METRIC -> text for the isod target column
    ((HAVE_ISOD)) || { echo ""; return; }
    local v
    case $1 in
        ready) v=${M[isod.ready]}; awk -v v="$v" 'BEGIN { print "< 10 ms: " (v < 10 ? "met" : "missed") }' ;;
        rss) v=$(awk -v a="${M[isod.rss]}" -v b="${M[isod.krss]}" 'BEGIN { print a + b }')
            awk -v v="$v" 'BEGIN { print "< 4 MiB: " (v < 4096 ? "met" : "missed") }' ;;
        rps1|rps1pin) v=${M[isod.$1]}; awk -v v="$v" 'BEGIN { print "≥ 50,000: " (v >= 50000 ? "met" : "missed") }' ;;
        *) echo "" ;;
    esac
}

row() { # row LABEL METRIC SCALE DECIMALS
    local label=$1 m=$2 s=$3 dec=$4 line d
    line="| $label |"
    for d in "${DAEMONS[@]}"; do line+=" $(fmt "${M[$d.$m]}" "$s" "$dec") |"; done
    if ((HAVE_ISOD)); then
        for d in "${PEERS[@]}"; do line+=" $(ratio "${M[$d.$m]}" "${M[isod.$m]}") |"; done
        line+=" $(target "$m") |"
    fi
    echo "$line"
}

kids_label() {
    local d out=""
    for d in "${!KIDNAMES[@]}"; do out+="${out:+, }$d: ${KIDNAMES[$d]}"; done
    echo "${out:-none}"
}

report() {
    local d hdr sep
    echo "# Daemon foundation benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Medians of $ROUNDS interleaved rounds (order rotated each round), fresh roots on /dev/shm;"
    echo "kernel $(uname -r), $(nproc) CPUs. Compare the ratios, not absolute figures across runs."
    echo "isod $(git -C "$REPO" rev-parse --short=8 HEAD 2>/dev/null || echo '(no commit)');" \
        "$("$DOCKERD" --version 2>/dev/null | head -n1);" \
        "$("$PODMAN" --version 2>/dev/null | head -n1)."
    echo
    hdr="| metric |" sep="|---|"
    for d in "${DAEMONS[@]}"; do hdr+=" $d |"; sep+="---:|"; done
    if ((HAVE_ISOD)); then
        for d in "${PEERS[@]}"; do hdr+=" $d/isod |"; sep+="---:|"; done
        hdr+=" isod target |"; sep+="---|"
    fi
    echo "$hdr"
    echo "$sep"
    row "ready: exec → first \`GET /_ping\` 200, ms" ready 1 1
    row "idle RSS, MiB (daemon process)" rss 1024 1
    row "idle PSS, MiB (daemon process)" pss 1024 1
    row "idle PSS, MiB (its children: $(kids_label))" kpss 1024 1
    row "idle PSS, MiB (total)" tpss 1024 1
    row "\`GET /_ping\` req/s, 1 conn" rps1 1 0
    row "\`GET /_ping\` p99 µs, 1 conn" p99_1 1 0
    row "\`GET /_ping\` req/s, 16 conns" rps16 1 0
    row "\`GET /_ping\` p99 µs, 16 conns" p99_16 1 0
    row "\`GET /_ping\` req/s, 1 conn, daemon and client pinned to one CPU" rps1pin 1 0
    row "\`GET /_ping\` p99 µs, 1 conn, pinned to one CPU" p99_1pin 1 0
    echo
    echo "Ratios are peer/isod: above 1x a peer is slower or bigger on time and memory rows,"
    echo "faster on req/s rows. Ping errors (non-2xx or transport), summed over runs:"
    local e=""
    for d in "${DAEMONS[@]}"; do
        e+="${e:+, }$d $(tr ' ' '\n' <<<"${V[$d.errs]:-}" | awk '{ s += $1 } END { print s + 0 }')"
    done
    echo "$e."
    echo
    echo "<details><summary>per-round values</summary>"
    echo
    echo "| daemon | metric | values by round |"
    echo "|---|---|---|"
    for d in "${DAEMONS[@]}"; do
        for m in ready rss pss kpss rps1 p99_1 rps16 p99_16 rps1pin p99_1pin; do
            echo "| $d | $m | ${V[$d.$m]:-} |"
        done
    done
    echo
    echo "</details>"
}

REPORT=$(report)
echo "$REPORT"
if ((WRITE_OUT)); then
    mkdir -p "$REPO/bench/results"
    out=$REPO/bench/results/daemons-$(date +%Y-%m-%d).md
    echo "$REPORT" >"$out"
    log "wrote $out"
fi
