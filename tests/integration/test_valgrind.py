#!/usr/bin/env python3
"""isod under valgrind for a short run: no leaks, no invalid reads or writes."""
import re
import signal

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
                     "/v1.44/networks/x"):
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


run()
