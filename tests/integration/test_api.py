#!/usr/bin/env python3
"""The Docker API surface of the foundation: ping, version, info, errors."""
import os
import platform
import socket

from harness import Isod, raw_exchange, request, run, test


@test
def ping_get_and_head_carry_docker_headers(t):
    with Isod() as d:
        r = d.get("/_ping")
        t.eq(r.status, 200, "GET /_ping status")
        t.eq(r.body, b"OK", "GET /_ping body")
        for name, want in [("Api-Version", "1.44"), ("Ostype", "linux"), ("Swarm", "inactive"),
                           ("Docker-Experimental", "false"), ("Pragma", "no-cache"),
                           ("Cache-Control", "no-cache, no-store, must-revalidate")]:
            t.eq(r.header(name), want, f"header {name}")
        t.true(r.header("Server").startswith("isod/"), "Server header names isod")
        t.true(r.header("Builder-Version") is not None, "Builder-Version header")
        h = d.req("HEAD", "/_ping")
        t.eq(h.status, 200, "HEAD /_ping status")
        t.eq(h.body, b"", "HEAD has no body")
        t.eq(h.header("Api-Version"), "1.44", "HEAD Api-Version")


@test
def version_reports_this_host(t):
    with Isod() as d:
        r = d.get("/v1.44/version")
        t.eq(r.status, 200, "status")
        t.eq(r.header("Content-Type"), "application/json", "content type")
        v = r.json()
        t.eq(v["ApiVersion"], "1.44", "ApiVersion")
        t.eq(v["MinAPIVersion"], "1.24", "MinAPIVersion")
        t.eq(v["Os"], "linux", "Os")
        t.eq(v["KernelVersion"], platform.release(), "KernelVersion")
        t.eq(v["Arch"], {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine()),
             "Arch in Go's naming")
        eng = v["Components"][0]
        t.eq(eng["Name"], "Engine", "component name")
        t.eq(eng["Version"], v["Version"], "component version")
        t.eq(eng["Details"]["ApiVersion"], "1.44", "component API version")
        # docker-py's version="auto" asks without a prefix.
        t.eq(d.get("/version").json()["ApiVersion"], "1.44", "unprefixed /version")


def meminfo_total():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024


def cgroup_version():
    """What docker info calls CgroupVersion: 2 only when /sys/fs/cgroup itself is cgroup2."""
    version = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == "/sys/fs/cgroup":
                version = "2" if line.split(" - ")[1].split()[0] == "cgroup2" else "1"
    return version


@test
def info_reports_real_values(t):
    with Isod() as d:
        i = d.get("/v1.44/info").json()
        t.eq(i["NCPU"], os.cpu_count(), "NCPU")
        t.eq(i["MemTotal"], meminfo_total(), "MemTotal")
        t.eq(i["DockerRootDir"], d.root, "DockerRootDir")
        t.eq(i["Driver"], "overlay2", "Driver")
        t.eq(i["KernelVersion"], platform.release(), "KernelVersion")
        t.eq(i["Architecture"], platform.machine(), "Architecture")
        t.eq(i["OSType"], "linux", "OSType")
        t.eq(i["Name"], socket.gethostname(), "Name")
        t.eq(i["Swarm"]["LocalNodeState"], "inactive", "Swarm state")
        t.eq(i["CgroupDriver"], "cgroupfs", "CgroupDriver")
        t.eq(i["CgroupVersion"], cgroup_version(), "CgroupVersion")
        t.eq((i["Containers"], i["Images"], i["ContainersRunning"]), (0, 0, 0), "empty store")
        with open("/etc/os-release") as f:
            pretty = [l.split("=", 1)[1].strip().strip('"') for l in f
                      if l.startswith("PRETTY_NAME=")][0]
        t.eq(i["OperatingSystem"], pretty, "OperatingSystem")
        t.eq(len(i["ID"]), 36, "engine ID is a UUID")
        t.eq(i["MemoryLimit"], os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")
             or os.path.exists("/sys/fs/cgroup/cgroup.controllers"), "MemoryLimit")
        first = i["ID"]
        d.stop()
        # The ID survives a restart.
        d2 = Isod(tmp=d.tmp, root=d.root).start()
        try:
            t.eq(d2.get("/info").json()["ID"], first, "engine ID after restart")
        finally:
            d2.stop()


@test
def version_prefix_bounds_use_dockers_words(t):
    with Isod() as d:
        t.eq(d.get("/v1.24/_ping").status, 200, "1.24 accepted")
        t.eq(d.get("/v1.40/info").status, 200, "1.40 accepted")
        r = d.get("/v1.45/version")
        t.eq(r.status, 400, "too new status")
        t.eq(r.json()["message"],
             "client version 1.45 is too new. Maximum supported API version is 1.44", "message")
        r = d.get("/v1.12/version")
        t.eq(r.status, 400, "too old status")
        t.contains(r.json()["message"], "client version 1.12 is too old. Minimum supported API "
                   "version is 1.24", "message")


@test
def unknown_path_and_wrong_method(t):
    with Isod() as d:
        r = d.get("/v1.44/nosuch/endpoint")
        t.eq(r.status, 404, "unknown path")
        t.eq(r.header("Content-Type"), "application/json", "404 content type")
        t.eq(r.json(), {"message": "page not found"}, "404 body")
        r = d.req("DELETE", "/_ping")
        t.eq(r.status, 405, "wrong method")
        t.contains(r.json()["message"], "not allowed", "405 message")
        t.eq(r.header("Allow"), "GET, HEAD", "Allow header")
        r = d.req("POST", "/v1.44/version")
        t.eq(r.status, 405, "POST /version")


@test
def inspect_fallthrough_kinds_answer_404_json(t):
    with Isod() as d:
        for path, word in [("/v1.44/networks/foo", "network"), ("/v1.44/volumes/foo", "volume"),
                           ("/v1.44/plugins/foo/json", "plugin"),
                           ("/v1.44/plugins/example.com/x/foo:1/json", "plugin")]:
            r = d.get(path)
            t.eq(r.status, 404, path)
            t.contains(r.json()["message"], word, path)


@test
def oversized_bodies_get_413_and_the_daemon_lives(t):
    with Isod() as d:
        # Announced length past the limit: refused before any of it is read.
        out = raw_exchange(d.sock, b"POST /v1.44/info HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 999999999\r\n\r\n")
        t.true(out.startswith(b"HTTP/1.1 405") or out.startswith(b"HTTP/1.1 413"),
               f"refusal, got {out[:40]!r}")
        out = raw_exchange(d.sock, b"GET /v1.44/info HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 999999999\r\n\r\n")
        t.true(out.startswith(b"HTTP/1.1 413"), f"413 for a huge Content-Length, got {out[:40]!r}")
        t.contains(out.decode(errors="replace"), "larger than the limit", "413 message")

        # Chunked body with no length up front: counted as it arrives (17 MiB > 16 MiB).
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(d.sock)
        s.sendall(b"GET /v1.44/info HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(17):
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = b""
        while b"\r\n\r\n" not in resp:
            c = s.recv(4096)
            if not c:
                break
            resp += c
        s.close()
        t.true(resp.startswith(b"HTTP/1.1 413"), f"413 for a chunked body, got {resp[:40]!r}")
        t.eq(d.get("/_ping").status, 200, "daemon still answers")


@test
def small_chunked_body_is_accepted(t):
    with Isod() as d:
        out = raw_exchange(d.sock, b"GET /v1.44/version HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        t.true(out.startswith(b"HTTP/1.1 200"), f"200, got {out[:40]!r}")


@test
def garbage_requests_never_take_the_daemon_down(t):
    with Isod() as d:
        for junk in [b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /_ping HTTP/1.1\r\n" + b"X: " + b"a" * 100000 + b"\r\n\r\n",
                     b"GET /" + b"a/" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"GET /v99999999999999999.1/_ping HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"GET /images/%00/json HTTP/1.1\r\nHost: x\r\n\r\n"]:
            try:
                raw_exchange(d.sock, junk, timeout=5)
            except OSError:
                pass
            t.eq(d.get("/_ping").status, 200, f"alive after {junk[:30]!r}")


@test
def keep_alive_serves_many_requests_on_one_connection(t):
    from harness import UnixHTTPConnection
    with Isod() as d:
        c = UnixHTTPConnection(d.sock)
        for _ in range(200):
            c.request("GET", "/v1.44/_ping")
            r = c.getresponse()
            t.eq(r.read(), b"OK", "body")
        c.close()


run()
