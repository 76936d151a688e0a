#!/usr/bin/env python3
"""GET /containers/{id}/stats, GET /isod/stats, isoctl stats and docker stats against real
containers: CPU, memory, pids and the stream's lifetime, checked against the cgroup files."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

from harness import (Isod, cgroup_dirs, docker, docker_clients, isoctl, run, test,
                     wait_until)

import ctrlib
from ctrlib import Daemon, create, logs, rm, start

BUSY = ["sh", "-c", "while :; do :; done"]


def stats(d, cid, query="stream=false"):
    r = d.get(f"/v1.44/containers/{cid}/stats?{query}")
    if r.status != 200:
        raise AssertionError(f"stats: {r.status} {r.body!r}")
    return r.json()


def cpu_percent(s):
    """The docker CLI's calculateCPUPercentUnix."""
    cpu = s["cpu_stats"]["cpu_usage"]["total_usage"] - s["precpu_stats"]["cpu_usage"]["total_usage"]
    system = s["cpu_stats"].get("system_cpu_usage", 0) - s["precpu_stats"].get(
        "system_cpu_usage", 0)
    online = s["cpu_stats"].get("online_cpus", 0)
    if system > 0 and cpu > 0:
        return cpu / system * online * 100.0
    return 0.0


def mem_usage(s):
    """The docker CLI's calculateMemUsageUnixNoCache."""
    m = s["memory_stats"]
    st = m.get("stats", {})
    if "total_inactive_file" in st and st["total_inactive_file"] < m["usage"]:
        return m["usage"] - st["total_inactive_file"]
    if st.get("inactive_file", 0) < m["usage"]:
        return m["usage"] - st.get("inactive_file", 0)
    return m["usage"]


def ctr_cgroup(d, cid, ctrl):
    for p in cgroup_dirs(d.cgroup_parent):
        path = os.path.join(p, cid)
        if os.path.isdir(path) and (f"/{ctrl}/" in path or f"/{ctrl}," in path
                                    or "unified" in path):
            return path
    raise AssertionError(f"no {ctrl} cgroup for {cid}")


def run_detached(d, cmd, name=None, host=None):
    cid = create(d, cmd, name=name, host=host)
    start(d, cid)
    return cid


@test
def busy_container_uses_cpu(t):
    with Daemon() as d:
        cid = run_detached(d, BUSY, name="busy")
        time.sleep(1.0)
        a = stats(d, cid, "stream=false&one-shot=true")
        time.sleep(1.0)
        b = stats(d, cid, "stream=false&one-shot=true")
        ta, tb = (x["cpu_stats"]["cpu_usage"]["total_usage"] for x in (a, b))
        t.true(tb > ta, f"total_usage rises: {ta} -> {tb}")
        t.eq(a["precpu_stats"]["cpu_usage"]["total_usage"], 0, "one-shot: precpu is zero")
        t.eq(a["name"], "/busy", "name")
        t.eq(a["id"], cid, "id")
        t.eq(a["num_procs"], 0, "num_procs")
        t.true(a["cpu_stats"]["online_cpus"] == os.cpu_count(), "online_cpus")
        # Two samples a second apart through the CLI's formula: one busy loop.
        pair = dict(b, precpu_stats=a["cpu_stats"])
        pct = cpu_percent(pair)
        t.true(20 <= pct <= 110, f"one busy loop is about 100%, got {pct:.1f}")

        # Without one-shot: precpu from the cache, at once.
        t0 = time.monotonic()
        c = stats(d, cid)
        took = time.monotonic() - t0
        t.true(took < 0.5, f"stream=false answers at once, took {took:.3f}s")
        pre = c["precpu_stats"]["cpu_usage"]["total_usage"]
        t.true(pre > 0, f"precpu total_usage is set: {pre}")
        t.true(c["preread"] < c["read"], f"preread {c['preread']} before read {c['read']}")
        pct = cpu_percent(c)
        t.true(20 <= pct <= 110, f"CPU % from the cached precpu, got {pct:.1f}")
        rm(d, cid, force=True)


@test
def memory_and_pids_follow_the_cgroup(t):
    with Daemon() as d:
        script = ("sleep 100 & sleep 100 & "
                  "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; "
                  "echo filled; sleep 100")
        cid = run_detached(d, ["sh", "-c", script], host={"Memory": 64 << 20, "ShmSize": 128 << 20})
        before = stats(d, cid)
        wait_until(lambda: "filled" in logs(d, cid)[0], 20, "the tmpfs file is written")
        # Two sleeps and the last one, which sh execs in its place.
        wait_until(lambda: stats(d, cid)["pids_stats"].get("current") == 3, 10, "3 pids")
        s = stats(d, cid)
        m = s["memory_stats"]
        t.eq(m["limit"], 64 << 20, "limit is -m")
        path = ctr_cgroup(d, cid, "memory")
        if os.path.exists(os.path.join(path, "memory.usage_in_bytes")):
            with open(os.path.join(path, "memory.usage_in_bytes")) as f:
                cg = int(f.read())
            t.true("total_inactive_file" in m["stats"], "v1 memory.stat keys")
            t.true("max_usage" in m, "v1 max_usage")
        else:
            with open(os.path.join(path, "memory.current")) as f:
                cg = int(f.read())
            t.true("inactive_file" in m["stats"], "v2 memory.stat keys")
        t.true(abs(m["usage"] - cg) < 4 << 20, f"usage {m['usage']} ~ cgroup's {cg}")
        t.true(mem_usage(s) > 30 << 20, f"usage without cache counts tmpfs: {mem_usage(s)}")
        t.true(m["usage"] > before["memory_stats"]["usage"], "usage grew")
        pids = ctr_cgroup(d, cid, "pids")
        with open(os.path.join(pids, "pids.current")) as f:
            t.eq(s["pids_stats"]["current"], int(f.read()), "pids current is the cgroup's")
        t.true(isinstance(s["blkio_stats"]["io_service_bytes_recursive"], list), "blkio list")
        t.true("networks" not in s, "no interfaces but lo: no networks, as Docker")
        rm(d, cid, force=True)


def read_stream(d, cid, seconds):
    """Objects of a stream read for at most seconds; (objects, ended by the server)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(d.sock)
    sock.sendall(f"GET /v1.44/containers/{cid}/stats HTTP/1.1\r\nHost: isod\r\n\r\n".encode())
    raw, ended = b"", False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = sock.recv(65536)
        if not chunk:
            ended = True
            break
        raw += chunk
        if raw.endswith(b"\r\n0\r\n\r\n") or raw.endswith(b"\n0\r\n\r\n"):
            ended = True
            break
    sock.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise AssertionError(f"stream: {head[:100]!r}")
    data = b""
    while body:  # de-chunk
        size_line, _, rest = body.partition(b"\r\n")
        try:
            size = int(size_line, 16)
        except ValueError:
            break
        if size == 0 or len(rest) < size:
            break
        data += rest[:size]
        body = rest[size + 2:]
    return [json.loads(l) for l in data.split(b"\n") if l.strip()], ended


@test
def stream_sends_every_second_and_ends_at_stop(t):
    with Daemon() as d:
        cid = run_detached(d, ["sleep", "1000"])
        objs, ended = read_stream(d, cid, 2.5)
        t.true(len(objs) >= 2, f">= 2 objects in 2.5 s, got {len(objs)}")
        t.true(not ended, "the stream goes on while the container runs")
        if len(objs) >= 2:
            t.eq(objs[1]["precpu_stats"], objs[0]["cpu_stats"], "precpu is the previous object")
            t.eq(objs[1]["preread"], objs[0]["read"], "preread is the previous read")

        box = {}
        th = threading.Thread(target=lambda: box.update(r=read_stream(d, cid, 20)))
        th.start()
        time.sleep(1.2)
        t0 = time.monotonic()
        r = d.req("POST", f"/v1.44/containers/{cid}/stop?t=0")
        t.eq(r.status, 204, "stop")
        th.join(25)
        objs, ended = box["r"]
        t.true(ended, "the stream ends when the container stops")
        t.true(time.monotonic() - t0 < 5, "promptly")
        t.true(len(objs) >= 1, "objects before the stop")

        # A stopped container: moby's zeroed answer.
        s = stats(d, cid)
        t.eq(s["read"], "0001-01-01T00:00:00Z", "zero read")
        t.eq(s["preread"], "0001-01-01T00:00:00Z", "zero preread")
        t.eq(s["cpu_stats"]["cpu_usage"]["total_usage"], 0, "zero cpu")
        t.eq(s["memory_stats"], {}, "empty memory_stats")
        t.eq(s["pids_stats"], {}, "empty pids_stats")
        t.eq(s["blkio_stats"]["io_service_bytes_recursive"], None, "null blkio")
        t.eq(s["id"], cid, "id")
        t.eq(d.get("/v1.44/containers/nosuch/stats?stream=false").status, 404, "404")
        t.eq(d.get("/v1.44/containers/nosuch/stats").status, 404, "404 streaming")
        t.eq(d.get(f"/v1.44/containers/{cid}/stats?stream=1&one-shot=1").status, 400,
             "one-shot needs stream=false")
        rm(d, cid)


@test
def isod_stats_lists_the_running_ones(t):
    with Daemon() as d:
        a = run_detached(d, ["sleep", "1000"], name="one")
        b = run_detached(d, ["sleep", "1000"], name="two", host={"Memory": 64 << 20})
        c = create(d, ["true"], name="never")
        r = d.get("/isod/stats")
        t.eq(r.status, 200, "GET /isod/stats")
        got = sorted((s["id"], s["name"]) for s in r.json())
        t.eq(got, sorted([(a, "/one"), (b, "/two")]), "exactly the running containers")
        r = d.get("/v1.44/isod/stats")
        t.eq(r.status, 200, "versioned too")

        out = isoctl("stats", "--no-stream", host=d.sock)
        t.eq(out.returncode, 0, f"isoctl stats: {out.stderr}")
        lines = out.stdout.splitlines()
        t.true(lines and re.match(r"CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE / LIMIT\s+MEM %\s+"
                                  r"NET I/O\s+BLOCK I/O\s+PIDS$", lines[0]), f"header: {lines}")
        rows = {l.split()[1]: l for l in lines[1:]}
        t.eq(sorted(rows), ["one", "two"], "a row per running container")
        t.true(rows["one"].startswith(a[:12]), "short id first")
        t.true(re.search(r"/ 64MiB\s", rows["two"]), f"limit: {rows['two']}")
        t.true(re.search(r"\s0B / 0B\s", rows["one"]), f"no network: {rows['one']}")

        out = isoctl("stats", "--no-stream", "two", host=d.sock)
        t.eq(out.returncode, 0, f"isoctl stats two: {out.stderr}")
        t.eq(len(out.stdout.splitlines()), 2, "one row for a named container")
        out = isoctl("stats", "--no-stream", "--format", "json", "one", host=d.sock)
        row = json.loads(out.stdout.splitlines()[0])
        t.eq(row["Name"], "one", "json Name")
        t.true(row["CPUPerc"].endswith("%"), "json CPUPerc")
        out = isoctl("stats", "--no-stream", "-a", host=d.sock)
        t.true("never" in out.stdout, "-a shows stopped containers")
        out = isoctl("stats", "--no-stream", "nosuch", host=d.sock)
        t.true(out.returncode != 0, "a missing container fails")

        for client in docker_clients():
            r = docker(client, d.sock, "stats", "--no-stream")
            t.eq(r.returncode, 0, f"{client} stats: {r.stderr}")
            t.true(re.search(r"\btwo\b.*/ 64MiB", r.stdout), f"{client} row: {r.stdout}")
            t.true(re.search(r"\bone\b", r.stdout), f"{client} row one: {r.stdout}")
            r = docker(client, d.sock, "stats", "--no-stream", "two")
            t.eq(r.returncode, 0, f"{client} stats two: {r.stderr}")
            t.true("/ 64MiB" in r.stdout, f"{client} limit: {r.stdout}")
            r = docker(client, d.sock, "stats", "--no-stream", "-a")
            t.eq(r.returncode, 0, f"{client} stats -a: {r.stderr}")
            t.true(re.search(r"\bnever\s+0.00%\s+0B / 0B\s+0.00%", r.stdout),
                   f"{client} zeros for a stopped container: {r.stdout}")

        # Live: a table a second until interrupted.
        try:
            isoctl("stats", host=d.sock, timeout=2.6)
            t.true(False, "live isoctl stats runs until stopped")
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            t.true(out.count("CONTAINER ID") >= 2, f"a table a second: {out!r}")
            t.true("\033[2J" not in out, "no screen clearing when not on a terminal")
        for cid in (a, b):
            rm(d, cid, force=True)
        rm(d, c)


class ValgrindIsod(Isod):
    def cmdline(self):
        return ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                "--track-fds=no"] + super().cmdline()


@test
def stats_and_a_stream_open_at_shutdown_are_clean_under_valgrind(t):
    ctrlib._fixtures()
    d = ValgrindIsod()
    try:
        d.start()
        d.wait_ready(timeout=60)
        with open(ctrlib._archive, "rb") as f:
            r = d.req("POST", "/v1.44/images/load?quiet=1", body=f.read(), timeout=120)
        t.eq(r.status, 200, "load")
        cid = run_detached(d, ["sleep", "1000"], name="vg", host={"Memory": 64 << 20})
        stopped = create(d, ["true"])
        for q in ("stream=false", "stream=false&one-shot=true"):
            t.eq(d.get(f"/v1.44/containers/{cid}/stats?{q}", timeout=60).status, 200, q)
        t.eq(d.get(f"/v1.44/containers/{stopped}/stats?stream=false", timeout=60).status, 200,
             "stopped")
        t.eq(d.get("/isod/stats", timeout=60).status, 200, "/isod/stats")
        objs, _ = read_stream(d, cid, 2.5)
        t.true(len(objs) >= 1, "a stream")
        # A stream still open when isod stops.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(d.sock)
        sock.sendall(f"GET /v1.44/containers/{cid}/stats HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(1.5)
        code = d.stop(signal.SIGTERM, timeout=60)
        sock.close()
        log = d.log()
        t.eq(code, 0, "exit code (99 = valgrind found errors)\n" + log[-3000:])
        m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
        t.eq(m and m.group(1), "0", "valgrind errors\n" + log[-3000:])
    finally:
        d.cleanup()


if __name__ == "__main__":
    run()
