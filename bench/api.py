#!/usr/bin/env python3
"""API speed with running containers, in one run, interleaved: isod against dockerd and
`podman system service`, each holding N running busybox `sleep 1000` containers
(`--network none`), for N = 20 and N = 100.

    sudo python3 bench/api.py [-r ROUNDS] [-d SECONDS] [-n 20,100] [--only isod,docker,podman] [-o]

Per N, ROUNDS rounds (default 3), the engines' order rotated each round, medians over rounds:
1. GET /v1.44/containers/json (podman: /v1.41 when it refuses 1.44) with httpload, keep-alive,
   1 and 16 connections, SECONDS each (default 5): req/s and p99.
2. Stats of one container: GET /containers/{id}/stats?stream=false&one-shot=true and
   ?stream=false (which samples twice, about 1 s apart on docker), the median of 20 calls on
   one keep-alive connection (httpload -n 20); the slow one once per N, not per round.
3. Stats of 20 containers at once: wall time of 20 concurrent one-shot calls (20 threads,
   a connection each); isod's bulk GET /isod/stats.
4. `isoctl ps`, `docker ps`, `podman ps`, end to end from exec to exit, 30 runs per engine
   (spread over the rounds), median.
isod endpoints that this tree does not have yet (404 "page not found") are reported as
"n/a (endpoint missing)".

The script starts isod (own --root, -H, --cgroup-parent), dockerd (own data-root, exec-root,
socket, --iptables=false --bridge=none ...) and podman's service (own --root, --runroot)
itself, stores on /dev/shm; it removes every container, stops the daemons by pid, removes the
isodbench-* cgroups, what was mounted under its temp dir and the dir, on any exit (the
machinery of bench/containers.py, which this script imports).

Environment: BUILD (meson build dir, default build/), ISOD_BIN, ISOCTL, HTTPLOAD, DOCKER (the
docker client, default Debian's /usr/bin/docker, which matches dockerd)."""
import argparse
import http.client
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import containers as cb  # noqa: E402

ENGINES = ["isod", "docker", "podman"]
LABEL = {"isod": "isod", "docker": "dockerd", "podman": "podman"}
MISSING = "n/a (endpoint missing)"


def log(msg):
    print(f"[api.py] {msg}", file=sys.stderr, flush=True)


BenchError = cb.BenchError


# ---------------------------------------------------------------------------------- engines

class PodmanService(cb.Podman):
    """podman's store (own --root/--runroot) served by `podman system service --time=0`."""
    daemon = "podman system service"

    def __init__(self, b):
        super().__init__(b)
        self.sock = os.path.join(b.tmp, "podman.sock")
        self.proc = None

    def setup(self):
        super().setup()   # containers.conf, podman load
        logpath = os.path.join(self.b.tmp, "podman-service.log")
        with open(logpath, "w") as lf:
            self.proc = subprocess.Popen(
                self.cmd + ["system", "service", "--time=0", "unix://" + self.sock],
                env=self.env, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                start_new_session=True)
        cb.wait_ready(self.sock, self.proc, logpath)

    def remove_all(self):
        super().remove_all()    # the podman CLI on the same store

    def cleanup(self):
        if self.proc:
            for k in cb.descendants(self.proc.pid):
                self.track(k)
            cb.stop_proc(self.proc)
        # conmon runs `podman container cleanup` (with our --root) when a container exits;
        # a late one mounts the store again after the unmount: let them finish first
        wait_for_users(self.b.tmp, 30)


def users_of(path):
    """Pids whose command line names path: started by this run, as path is its own."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if path.encode() in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


def wait_for_users(path, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not [p for p in users_of(path) if cb.alive(p)]:
            return
        time.sleep(0.2)
    log(f"warning: processes still using {path}: {users_of(path)}")


def make_engine(b, name):
    if name == "isod":
        return cb.Isod(b)
    if name == "docker":
        return cb.Docker(b)
    return PodmanService(b)


def api_call(sock, method, path, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    hdr = {"Content-Type": "application/json"} if data is not None else {}
    return cb.api(sock, method, path, body=data, headers=hdr, timeout=timeout)


def api_prefix(e):
    """/v1.44, or /v1.41 when the engine refuses 1.44 (podman 4.3)."""
    for v in ("/v1.44", "/v1.41"):
        st, _ = cb.api(e.sock, "GET", v + "/containers/json?limit=1")
        if st == 200:
            return v
    raise BenchError(f"{e.name}: GET /containers/json answers neither v1.44 nor v1.41")


def start_containers(b, e, n, threads=4):
    """Bring e to n running `sleep 1000` containers through its API (create + start)."""
    have = len(e.ids_running)
    if have >= n:
        return
    cg = getattr(e, "cg", None)
    lock = threading.Lock()
    errs = []
    todo = list(range(have, n))

    def one(i):
        host = {"NetworkMode": "none"}
        if e.name == "podman":
            host["CgroupParent"] = cg
        st, body = api_call(e.sock, "POST", f"{e.prefix}/containers/create?name=apibench-{i}",
                            {"Image": cb.IMAGE, "Cmd": ["sleep", "1000"], "HostConfig": host})
        if st != 201:
            raise BenchError(f"{e.name}: create: {st} {body[-300:]!r}")
        cid = json.loads(body)["Id"]
        st, body = api_call(e.sock, "POST", f"{e.prefix}/containers/{cid}/start")
        if st not in (204, 304):
            raise BenchError(f"{e.name}: start {cid[:12]}: {st} {body[-300:]!r}")
        st, body = api_call(e.sock, "GET", f"{e.prefix}/containers/{cid}/json")
        if st == 200:
            pid = json.loads(body).get("State", {}).get("Pid") or 0
            if pid:
                ps = cb.proc_stat(pid)
                e.track(pid)
                if ps:
                    e.track(ps[1])     # the supervisor: shim, conmon
        with lock:
            e.ids_running.append(cid)

    def worker():
        while True:
            with lock:
                if not todo or errs:
                    return
                i = todo.pop(0)
            try:
                b.retry_hybrid(one, i)
            except Exception as ex:  # noqa: BLE001  reported below
                with lock:
                    errs.append(ex)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        raise BenchError(f"{e.name}: starting containers: {errs[0]}")
    st, body = cb.api(e.sock, "GET", f"{e.prefix}/containers/json")
    running = len(json.loads(body)) if st == 200 else -1
    if running != n:
        raise BenchError(f"{e.name}: {running} containers listed as running, want {n}")
    log(f"{e.name}: {n} running ({n - have} started in {time.perf_counter() - t0:.1f} s)")


# ---------------------------------------------------------------------------------- measuring

def httpload(b, sock, path, conns=1, secs=5, nreq=None):
    cmd = [b.httpload, "-s", sock, "-c", str(conns), "-d", str(secs)]
    if nreq:
        cmd += ["-n", str(nreq)]
    out = cb.run(cmd + [path], timeout=secs + 120)
    return json.loads(out.strip().splitlines()[-1])


def endpoint_missing(sock, path):
    """True when the daemon has no such route (404 "page not found")."""
    st, body = cb.api(sock, "GET", path, timeout=60)
    if st == 404 and b"page not found" in body.lower():
        return True
    if st != 200:
        raise BenchError(f"GET {path}: {st} {body[-300:]!r}")
    return False


def stats_path(e, cid, one_shot):
    return (f"{e.prefix}/containers/{cid}/stats?stream=false"
            + ("&one-shot=true" if one_shot else ""))


def stats_latency(b, e, cid, one_shot, calls):
    """Median ms of `calls` stats calls on one keep-alive connection, or MISSING."""
    p = stats_path(e, cid, one_shot)
    if endpoint_missing(e.sock, p):     # also the warm-up call
        return MISSING
    r = httpload(b, e.sock, p, 1, 600, calls)
    if r["errors"]:
        raise BenchError(f"{e.name}: {r['errors']} errors on {p}")
    return r["p50_us"] / 1e3


def stats_at_once(e, cids):
    """Wall ms until 20 concurrent one-shot stats calls, each on its own connection, ended."""
    go = threading.Barrier(len(cids) + 1)
    errs = []

    def one(cid):
        go.wait()
        try:
            st, body = cb.api(e.sock, "GET", stats_path(e, cid, True))
            if st != 200:
                errs.append(f"{st} {body[-200:]!r}")
        except OSError as ex:
            errs.append(str(ex))
    ts = [threading.Thread(target=one, args=(c,)) for c in cids]
    for t in ts:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    dt = (time.perf_counter() - t0) * 1e3
    if errs:
        raise BenchError(f"{e.name}: {len(errs)} of {len(cids)} concurrent stats failed: {errs[0]}")
    return dt


def ps_cmd(e):
    if e.name == "isod":
        return [e.ctl, "-H", "unix://" + e.sock, "ps"], e.env, "isoctl ps"
    if e.name == "docker":
        return e.cmd + ["ps"], e.env, "docker ps"
    return e.cmd + ["ps"], e.env, "podman ps"


def med(v):
    return statistics.median(v) if v else None


# ---------------------------------------------------------------------------------- the run

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-r", "--rounds", type=int, default=3, help="rounds per N (3)")
    ap.add_argument("-d", "--duration", type=int, default=5, help="seconds per list load (5)")
    ap.add_argument("-n", "--counts", default="20,100", help="running containers (20,100)")
    ap.add_argument("--stats-calls", type=int, default=20, help="calls per stats median (20)")
    ap.add_argument("--at-once", type=int, default=20, help="containers in the concurrent "
                    "stats call (20)")
    ap.add_argument("--ps-runs", type=int, default=30, help="ps runs per engine and N (30)")
    ap.add_argument("--only", default=",".join(ENGINES))
    ap.add_argument("-o", "--output", action="store_true", help="write bench/results/")
    a = ap.parse_args()
    a.only_list = [x for x in a.only.split(",") if x]
    for x in a.only_list:
        if x not in ENGINES:
            ap.error(f"unknown engine {x!r}; one of {','.join(ENGINES)}")
    a.ns = sorted(int(x) for x in a.counts.split(",") if x)
    if not a.ns or min(a.ns) < 1 or a.rounds < 1 or a.duration < 1:
        ap.error("bad -n, -r or -d")
    if os.geteuid() != 0:
        raise SystemExit("api.py: run as root")
    for tool, eng in (("podman", "podman"), ("dockerd", "docker")):
        if eng in a.only_list and not shutil.which(tool):
            raise SystemExit(f"api.py: {tool} not found: apt-get install -y "
                             "--no-install-recommends podman docker.io")
    # what containers.Bench reads
    a.concurrent = 1

    b = cb.Bench(a)

    def remove_again():
        if os.path.exists(b.tmp):    # remounted by a late podman cleanup: once more
            wait_for_users(b.tmp, 30)
            cb.unmount_under(b.tmp)
            shutil.rmtree(b.tmp, ignore_errors=True)
            if os.path.exists(b.tmp):
                log(f"warning: cannot remove {b.tmp}")
    return cb.run_guarded(b, lambda: bench(b, a), log, remove_again)


def find_httpload(b):
    h = os.environ.get("HTTPLOAD") or os.path.join(cb.BUILD, "bench", "httpload")
    src = os.path.join(HERE, "httpload.c")
    if not os.access(h, os.X_OK) or os.path.getmtime(src) > os.path.getmtime(h):
        h = os.path.join(b.tmp, "httpload")
        cb.run([os.environ.get("CC", "cc"), "-O2", "-D_GNU_SOURCE", "-Wall", "-Wextra",
                "-pthread", src, "-o", h])
    return h


def bench(b, a):
    b.httpload = find_httpload(b)
    b.make_image()
    if "podman" in a.only_list:
        b.fix_hybrid_cgroups()
    for name in a.only_list:
        b.engines.append(make_engine(b, name))
    for e in b.engines:
        log(f"setting up {e.name}")
        e.setup()
        e.prefix = api_prefix(e)
        e.ids_running = []
        if e.name == "isod" and not os.access(e.ctl, os.X_OK):
            raise BenchError(f"{e.ctl} not found")
    engines = b.engines
    res = {}     # res[N][engine][metric] = list of values, or MISSING
    ps_per_round = math.ceil(a.ps_runs / a.rounds)
    for n in a.ns:
        R = res[n] = {e.name: {} for e in engines}
        for e in engines:
            start_containers(b, e, n)
        time.sleep(1)
        for r in range(a.rounds):
            k = r % len(engines)
            for e in engines[k:] + engines[:k]:
                m = R[e.name]
                path = f"{e.prefix}/containers/json"
                for c in (1, 16):
                    out = httpload(b, e.sock, path, c, a.duration)
                    if out["errors"]:
                        raise BenchError(f"{e.name}: {out['errors']} errors on GET {path}")
                    m.setdefault(f"rps{c}", []).append(out["rps"])
                    m.setdefault(f"p99_{c}", []).append(out["p99_us"])
                cid = e.ids_running[0]
                v = stats_latency(b, e, cid, True, a.stats_calls)
                if v == MISSING:
                    m["oneshot"] = m["at_once"] = MISSING
                else:
                    m.setdefault("oneshot", []).append(v)
                    m.setdefault("at_once", []).append(
                        statistics.median(stats_at_once(e, e.ids_running[:a.at_once])
                                          for _ in range(3)))
                if e.name == "isod":
                    p = "/isod/stats"
                    if endpoint_missing(e.sock, p):
                        m["bulk"] = MISSING
                    else:
                        out = httpload(b, e.sock, p, 1, 600, a.stats_calls)
                        if out["errors"]:
                            raise BenchError(f"isod: {out['errors']} errors on GET {p}")
                        m.setdefault("bulk", []).append(out["p50_us"] / 1e3)
                cmd, env, _ = ps_cmd(e)
                cb.timed(cmd, env)   # warm-up
                for _ in range(ps_per_round):
                    m.setdefault("ps", []).append(cb.timed(cmd, env) * 1e3)
                log(f"N={n} round {r + 1} {e.name}: list {m['rps1'][-1]:.0f} / "
                    f"{m['rps16'][-1]:.0f} req/s (1 / 16 conns), one-shot stats "
                    f"{fmt_ms(last(m['oneshot']))}, {min(a.at_once, n)} at once "
                    f"{fmt_ms(last(m['at_once']))}, ps {med(m['ps'][-ps_per_round:]):.1f} ms")
        # stream=false without one-shot: two samples ~1 s apart on docker; once per N
        for e in engines:
            v = stats_latency(b, e, e.ids_running[0], False, a.stats_calls)
            R[e.name]["stream_false"] = v if v == MISSING else [v]
            log(f"N={n} {e.name}: stats stream=false {fmt_ms(v)}")

    text = report(b, a, engines, res)
    print(text)
    if a.output:
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        out = os.path.join(HERE, "results", time.strftime("api-%Y-%m-%d.md", time.gmtime()))
        with open(out, "w") as f:
            f.write(text)
        log(f"wrote {out}")
    return 0


def last(v):
    return v if v == MISSING else v[-1]


def fmt_ms(v):
    if v == MISSING:
        return MISSING
    return f"{v:.2f} ms" if v < 10 else f"{v:.0f} ms"


# ---------------------------------------------------------------------------------- report

def report(b, a, engines, res):
    names = [e.name for e in engines]
    peers = [n for n in names if n != "isod"]
    have_isod = "isod" in names
    try:
        rev = cb.run(["git", "-C", cb.SRC, "rev-parse", "--short=8", "HEAD"], check=False).strip()
    except OSError:
        rev = "?"
    isod = next((e for e in engines if e.name == "isod"), None)
    vers = []
    if isod:
        vers.append(f"isod: `{isod.bin}`, {cb.version([isod.bin, '--version'])}")
    if "docker" in names:
        vers.append(f"dockerd {cb.short_version(['dockerd', '--version'])}")
    if "podman" in names:
        vers.append(f"podman {cb.short_version(['podman', '--version'])}")
    prefixes = ", ".join(f"{e.name} {e.prefix}" for e in engines)
    L = [f"# API with running containers, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
         "",
         f"`bench/api.py -r {a.rounds} -d {a.duration} -n {a.counts} --only {a.only}` "
         f"(tree {rev}); kernel {os.uname().release}, {os.cpu_count()} CPUs; "
         + "; ".join(vers) + ". "
         f"N running busybox `sleep 1000` containers (`--network none`) in every engine at "
         f"once; stores on /dev/shm. Medians of {a.rounds} rounds, engines interleaved, order "
         "rotated each round. Compare ratios inside one run: the machines are shared 2-CPU "
         f"VMs. API paths: {prefixes}.", "",
         "Ratios are isod/peer: on req/s rows above 1x isod is faster, on time rows below 1x "
         "isod is quicker.", ""]

    def val(n, name, k):
        v = res[n][name].get(k)
        if v is None or v == MISSING:
            return v
        return statistics.median(v)

    def cell(v, kind):
        if v is None:
            return "–"
        if v == MISSING:
            return MISSING
        if kind == "rps":
            return f"{v:,.0f}"
        if kind == "us":
            return f"{v:,.0f}"
        if kind == "x":
            return f"{v:.2f}x"
        return f"{v:.2f}" if v < 10 else f"{v:.0f}"

    def ratio(x, y):
        if x is None or y is None or x == MISSING or y == MISSING or not y:
            return "–"
        q = x / y
        return f"{q:.2f}x" if q >= 0.1 else f"{q:.2g}x"

    for n in a.ns:
        for nm in names:
            m = res[n][nm]
            if m.get("rps1") and m.get("rps16") and val(n, nm, "rps1"):
                m["scale"] = [val(n, nm, "rps16") / val(n, nm, "rps1")]
        at = min(a.at_once, n)
        rows = [("`GET /containers/json` req/s, 1 conn", "rps1", "rps"),
                ("`GET /containers/json` p99 µs, 1 conn", "p99_1", "us"),
                ("`GET /containers/json` req/s, 16 conns", "rps16", "rps"),
                ("`GET /containers/json` p99 µs, 16 conns", "p99_16", "us"),
                ("list scaling, req/s 16 conns / 1 conn", "scale", "x"),
                ("stats of one container, `stream=false&one-shot=true`, median ms", "oneshot",
                 "ms"),
                ("stats of one container, `stream=false`, median ms", "stream_false", "ms"),
                (f"stats of {at} containers at once (one-shot, {at} connections), wall ms",
                 "at_once", "ms"),
                ("isod's bulk `GET /isod/stats`, median ms", "bulk", "ms"),
                ("`ps` end to end (isoctl ps / docker ps / podman ps), median ms", "ps", "ms")]
        L += [f"## {n} running containers", "",
              "| metric | " + " | ".join(
                  [LABEL[x] for x in names] + [f"isod/{LABEL[p]}" for p in peers if have_isod])
              + " |",
              "|---|" + "---:|" * len(names) + ("---:|" * len(peers) if have_isod else "")]
        for lbl, k, kind in rows:
            if k == "bulk" and not have_isod:
                continue
            line = f"| {lbl} | " + " | ".join(
                cell(val(n, x, k), kind) if (k != "bulk" or x == "isod") else "n/a"
                for x in names) + " |"
            if have_isod:
                for p in peers:
                    line += (" – |" if k in ("bulk", "scale") else
                             f" {ratio(val(n, 'isod', k), val(n, p, k))} |")
            L.append(line)
        if have_isod:
            L += ["", f"isod's targets with {n} running:", ""]
            L += targets(n, names, val, at)
        L.append("")
    L += ["<details><summary>per-round values</summary>", "",
          "| N | engine | metric | values |", "|---|---|---|---|"]
    for n in a.ns:
        for nm in names:
            for k, v in res[n][nm].items():
                if k == "scale":
                    continue
                s = v if v == MISSING else " ".join(f"{x:.2f}" if x < 100 else f"{x:.0f}"
                                                    for x in v)
                L.append(f"| {n} | {nm} | {k} | {s} |")
    L += ["", "</details>"]
    return "\n".join(L) + "\n"


def targets(n, names, val, at):
    def chk(ok):
        return "met" if ok else "**missed**"
    out = []
    r1 = val(n, "isod", "rps1")
    line = f"- list ≥ 20,000 req/s on one connection: {r1:,.0f}, {chk(r1 >= 20000)}"
    if "docker" in names:
        d1 = val(n, "docker", "rps1")
        line += (f"; > 25x dockerd: {r1 / d1:.1f}x, {chk(r1 > 25 * d1)}" if d1 else
                 "; > 25x dockerd: – (dockerd answered nothing)")
    out.append(line)
    r16 = val(n, "isod", "rps16")
    out.append(f"- list scales with connections (16 conns > 1 conn): "
               f"{r16 / r1 if r1 else 0:.2f}x, {chk(r16 > r1)}")
    v = val(n, "isod", "oneshot")
    out.append("- one-shot stats < 5 ms: " + (
        MISSING if v == MISSING else f"{v:.2f} ms, {chk(v < 5)}"))
    v = val(n, "isod", "at_once")
    bulk = val(n, "isod", "bulk")
    s = f"- {at} containers' stats < 20 ms: "
    parts = []
    if v != MISSING:
        parts.append(f"{at} concurrent one-shot calls {v:.1f} ms, {chk(v < 20)}")
    else:
        parts.append(f"{at} concurrent one-shot calls {MISSING}")
    if bulk not in (None, MISSING):
        parts.append(f"bulk `/isod/stats` ({n} containers) {bulk:.1f} ms, {chk(bulk < 20)}")
    else:
        parts.append(f"bulk `/isod/stats` {MISSING}")
    out.append(s + "; ".join(parts))
    v = val(n, "isod", "ps")
    out.append(f"- `isoctl ps` < 5 ms: {v:.2f} ms, {chk(v < 5)}")
    return out


if __name__ == "__main__":
    sys.exit(main())
