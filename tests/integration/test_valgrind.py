#!/usr/bin/env python3
"""isod under valgrind for a short run: no leaks, no invalid reads or writes."""
import re
import signal

import registry  # noqa: F401  (puts tests/fixtures on sys.path)
from harness import ISOD, Isod, raw_exchange, run, test


class ValgrindIsod(Isod):
    def cmdline(self):
        return ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                "--track-fds=no"] + super().cmdline()


@test
def short_run_is_clean_under_valgrind(t):
    d = ValgrindIsod()
    try:
        d.start()
        d.wait_ready(timeout=60)
        for path in ("/_ping", "/v1.44/version", "/v1.44/info", "/nosuch", "/v1.99/info",
                     "/v1.44/networks/x", "/isod/metrics", "/v1.44/events?until=1",
                     "/v1.44/events?filters=bad"):
            d.get(path)
        d.req("DELETE", "/_ping")
        raw_exchange(d.sock, b"GET /v1.44/info HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 999999999\r\n\r\n")
        raw_exchange(d.sock, b"GET /v1.44/version HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        code = d.stop(signal.SIGTERM, timeout=60)
        log = d.log()
        t.eq(code, 0, "exit code (99 = valgrind found errors)\n" + log[-3000:])
        m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
        t.true(m is not None, "valgrind summary present")
        t.eq(m.group(1), "0", "valgrind errors\n" + log[-3000:])
        t.true("definitely lost:" not in log or "definitely lost: 0 bytes" in log,
               "no definite leaks")
    finally:
        d.cleanup()


@test
def pull_load_save_remove_are_clean_under_valgrind(t):
    import json
    import os
    import tempfile
    import registry
    import mkimage as mk
    from registry import Registry

    tmp = tempfile.mkdtemp(prefix="isod-vg-", dir=registry.temp_base())
    mk.oci_layout(os.path.join(tmp, "bb"), mk.layered())
    archive = os.path.join(tmp, "bb.tar")
    mk.docker_archive(archive, [(mk.busybox(), ["loaded:v1"])])
    d = ValgrindIsod()
    try:
        with Registry() as reg:
            reg.seed(os.path.join(tmp, "bb"), "test/bb", "latest")
            d.start()
            d.wait_ready(timeout=60)
            # Event streams: one whose client leaves before the next event, one live at
            # shutdown with an until timer pending.
            import socket
            import time
            streams = []
            for query in ("", "?until=%d" % (time.time() + 3600)):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(30)
                s.connect(d.sock)
                s.sendall(b"GET /v1.44/events%s HTTP/1.1\r\nHost: x\r\n\r\n" % query.encode())
                t.contains(s.recv(4096).decode(), "200 OK", "events stream")
                streams.append(s)
            streams[0].close()
            ref = reg.ref("test/bb")
            r = d.req("POST", "/v1.44/images/create?fromImage=" + ref[:-7] + "&tag=latest",
                      timeout=120)
            t.eq(r.status, 200, "pull")
            t.contains(r.body.decode(), "Downloaded newer image", "pull finished")
            d.req("POST", "/v1.44/images/create?fromImage=" + ref[:-7] + "&tag=nosuch")
            with open(archive, "rb") as f:
                r = d.req("POST", "/v1.44/images/load", body=f.read(), timeout=120)
            t.contains(r.body.decode(), "Loaded image: loaded:v1", "load")
            r = d.get("/v1.44/images/loaded:v1/get", timeout=120)
            t.true(len(r.body) > 100000, "save streamed an archive")
            for path in ("/v1.44/images/json", "/v1.44/images/loaded:v1/json",
                         "/v1.44/images/loaded:v1/history", "/v1.44/system/df"):
                t.eq(d.get(path).status, 200, path)
            d.req("POST", "/v1.44/auth", body=json.dumps({"username": 1}))
            t.eq(d.req("DELETE", "/v1.44/images/" + ref).status, 200, "rmi")
            t.eq(d.req("POST", "/v1.44/images/prune?filters=" +
                       '{"dangling":["false"]}').status, 200, "prune")
            t.eq(d.get("/isod/metrics").status, 200, "metrics")
            code = d.stop(signal.SIGTERM, timeout=60)
            streams[1].close()
        log = d.log()
        t.eq(code, 0, "exit code (99 = valgrind found errors)\n" + log[-3000:])
        m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
        t.eq(m and m.group(1), "0", "valgrind errors\n" + log[-3000:])
    finally:
        d.cleanup()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


run()
