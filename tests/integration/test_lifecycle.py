#!/usr/bin/env python3
"""Starting and stopping isod: signals, locks, sockets, refusals, systemd integration."""
import grp
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import tempfile
import time

from harness import ISOD, SOURCE, BUILD, Failure, Isod, request, run, test, wait_until


def db_path(d):
    return os.path.join(d.root, "isod.db")


@test
def sigterm_exits_0_removes_socket_keeps_db(t):
    for sig in (signal.SIGTERM, signal.SIGINT):
        d = Isod().start()
        try:
            t.eq(d.get("/_ping").status, 200, "answers")
            t.eq(d.stop(sig), 0, f"exit code after {sig.name}")
            t.true(not os.path.exists(d.sock), "socket file removed")
            con = sqlite3.connect(f"file:{db_path(d)}?mode=ro", uri=True)
            t.eq(con.execute("PRAGMA integrity_check").fetchone()[0], "ok", "database intact")
            t.eq(con.execute("PRAGMA user_version").fetchone()[0], 2, "schema version")
            t.eq(con.execute("PRAGMA journal_mode").fetchone()[0], "wal", "journal mode")
            con.close()
            t.contains(d.log(), "isod stopped", "log says it stopped")
        finally:
            d.cleanup()


@test
def log_lines_are_key_value(t):
    with Isod() as d:
        log = d.log()
    line = [l for l in log.splitlines() if "listening" in l][0]
    t.true(line.startswith("time="), f"timestamp first: {line}")
    t.contains(line, "level=info", "level field")
    t.contains(line, 'msg=listening', "msg field")
    t.contains(line, "socket=" + d.sock, "socket field")


@test
def second_daemon_on_same_root_is_refused(t):
    with Isod() as d:
        other_sock = os.path.join(d.tmp, "other.sock")
        r = subprocess.run([ISOD, "--root", d.root, "-H", "unix://" + other_sock],
                           capture_output=True, text=True, timeout=20)
        t.eq(r.returncode, 1, "exit code of the second isod")
        t.contains(r.stderr, "is in use by another isod (pid %d)" % d.proc.pid, "message")
        t.true(not os.path.exists(other_sock), "no socket left by the refused daemon")
        t.eq(d.get("/_ping").status, 200, "first daemon unaffected")


@test
def live_socket_is_refused_stale_one_replaced(t):
    with Isod() as d:
        other_root = os.path.join(d.tmp, "root2")
        r = subprocess.run([ISOD, "--root", other_root, "-H", "unix://" + d.sock],
                           capture_output=True, text=True, timeout=20)
        t.eq(r.returncode, 1, "exit code")
        t.contains(r.stderr, "already listening on '%s'" % d.sock, "message")
        t.eq(d.get("/_ping").status, 200, "first daemon still answers")
        d.stop(signal.SIGKILL)
        t.true(os.path.exists(d.sock), "kill -9 leaves a stale socket file")
        d2 = Isod(tmp=d.tmp, root=d.root).start()
        try:
            t.eq(d2.get("/_ping").status, 200, "new daemon replaced the stale socket")
        finally:
            d2.stop()


@test
def a_file_that_is_not_a_socket_is_left_alone(t):
    tmp = tempfile.mkdtemp(prefix="isod-it-")
    try:
        path = os.path.join(tmp, "isod.sock")
        with open(path, "w") as f:
            f.write("precious")
        r = subprocess.run([ISOD, "--root", tmp + "/root", "-H", "unix://" + path],
                           capture_output=True, text=True, timeout=20)
        t.eq(r.returncode, 1, "exit code")
        t.contains(r.stderr, "is not a socket", "message")
        t.eq(open(path).read(), "precious", "file untouched")
    finally:
        shutil.rmtree(tmp)


def refused_db(t, content_fn, expect):
    tmp = tempfile.mkdtemp(prefix="isod-it-")
    try:
        root = os.path.join(tmp, "root")
        os.makedirs(root, mode=0o700)
        db = os.path.join(root, "isod.db")
        content_fn(db)
        before = open(db, "rb").read()
        mtime = os.stat(db).st_mtime_ns
        sock = os.path.join(tmp, "isod.sock")
        r = subprocess.run([ISOD, "--root", root, "-H", "unix://" + sock],
                           capture_output=True, text=True, timeout=20)
        t.eq(r.returncode, 1, "exit code")
        t.contains(r.stderr, expect, "message")
        t.eq(open(db, "rb").read(), before, "database bytes unchanged")
        t.eq(os.stat(db).st_mtime_ns, mtime, "database mtime unchanged")
        t.true(not os.path.exists(db + "-wal") and not os.path.exists(db + "-shm"),
               "no -wal/-shm files left")
        t.true(not os.path.exists(sock), "no socket created")
    finally:
        shutil.rmtree(tmp)


@test
def corrupt_database_is_refused_and_untouched(t):
    def garbage(db):
        with open(db, "wb") as f:
            f.write(b"this is not a database" * 300)
    refused_db(t, garbage, "corrupt")


@test
def newer_schema_is_refused_and_untouched(t):
    def newer(db):
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE images (id TEXT PRIMARY KEY)")
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
    refused_db(t, newer, "99")


@test
def socket_mode_0600_without_isod_group_0660_with_it(t):
    had_group = True
    try:
        grp.getgrnam("isod")
    except KeyError:
        had_group = False
    try:
        if had_group:
            subprocess.run(["groupdel", "isod"], check=True)
        with Isod() as d:
            st = os.stat(d.sock)
            t.true(stat.S_ISSOCK(st.st_mode), "is a socket")
            t.eq(stat.S_IMODE(st.st_mode), 0o600, "mode without group isod")
        subprocess.run(["groupadd", "--system", "isod"], check=True)
        gid = grp.getgrnam("isod").gr_gid
        with Isod() as d:
            st = os.stat(d.sock)
            t.eq(stat.S_IMODE(st.st_mode), 0o660, "mode with group isod")
            t.eq(st.st_gid, gid, "socket group")
            t.eq(stat.S_IMODE(os.stat(d.root).st_mode), 0o700, "root dir mode")
    finally:
        exists = subprocess.run(["getent", "group", "isod"], capture_output=True).returncode == 0
        if exists and not had_group:
            subprocess.run(["groupdel", "isod"], check=True)
        if had_group and not exists:
            subprocess.run(["groupadd", "--system", "isod"], check=True)


@test
def notify_socket_gets_ready_and_stopping(t):
    tmp = tempfile.mkdtemp(prefix="isod-it-")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        path = os.path.join(tmp, "notify")
        ns.bind(path)
        ns.settimeout(10)
        d = Isod(env={"NOTIFY_SOCKET": path}, wait=False, tmp=tmp).start()
        msg = ns.recv(4096).decode()
        t.eq(msg, "READY=1", "first notification")
        # READY means the socket answers now, with no retry.
        t.eq(request(d.sock, "GET", "/_ping").status, 200, "answers right after READY=1")
        d.send_signal(signal.SIGTERM)
        t.eq(ns.recv(4096).decode(), "STOPPING=1", "notification on shutdown")
        t.eq(d.proc.wait(15), 0, "exit code")
    finally:
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)


@test
def socket_activation_through_systemd_socket_activate(t):
    tmp = tempfile.mkdtemp(prefix="isod-it-")
    try:
        sock = os.path.join(tmp, "act.sock")
        root = os.path.join(tmp, "root")
        p = subprocess.Popen(["systemd-socket-activate", "-l", sock, ISOD, "--root", root],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        from harness import _started_pids
        _started_pids.append(p.pid)
        try:
            wait_until(lambda: os.path.exists(sock), 10, "the activation socket")
            r = request(sock, "GET", "/v1.44/_ping")
            t.eq(r.status, 200, "ping through the passed socket")
            t.true(not os.path.exists("/run/isod.sock.never"), "sanity")
            p.send_signal(signal.SIGTERM)
            t.eq(p.wait(15), 0, "exit code")
            out = p.stdout.read().decode()
            t.contains(out, "using sockets from systemd", "isod used LISTEN_FDS")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def systemd_units_verify(t):
    tmp = tempfile.mkdtemp(prefix="isod-it-")
    try:
        service = open(os.path.join(BUILD, "systemd", "isod.service")).read()
        exec_line = [l for l in service.splitlines() if l.startswith("ExecStart=")][0]
        # The unit names the installed path; point it at this build so verify can stat it.
        service = service.replace(exec_line, "ExecStart=" + ISOD)
        with open(os.path.join(tmp, "isod.service"), "w") as f:
            f.write(service)
        shutil.copy(os.path.join(SOURCE, "systemd", "isod.socket"), tmp)
        for unit in ("isod.socket", "isod.service"):
            # verify exits 0 even for lines it ignores: it must print nothing at all.
            r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                os.path.join(tmp, unit)],
                               capture_output=True, text=True, timeout=60)
            t.eq(r.returncode, 0, f"verify {unit}: {r.stderr}")
            t.eq(r.stderr + r.stdout, "", f"verify {unit} output")
        for want in ("Type=notify", "Delegate=yes", "KillMode=process", "Restart=on-failure"):
            t.contains(service, want, "isod.service")
        sock_unit = open(os.path.join(tmp, "isod.socket")).read()
        for want in ("ListenStream=/run/isod.sock", "SocketMode=0660", "SocketGroup=isod"):
            t.contains(sock_unit, want, "isod.socket")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def sighup_rereads_log_level(t):
    tmp = tempfile.mkdtemp(prefix="isod-it-")
    conf = os.path.join(tmp, "isod.json")
    with open(conf, "w") as f:
        f.write('{"log-level": "info"}')
    try:
        with Isod(args=["--config", conf], tmp=tmp) as d:
            d.get("/_ping")
            t.true("level=debug" not in d.log(), "no debug lines at info")
            with open(conf, "w") as f:
                f.write('{"log-level": "debug"}')
            d.send_signal(signal.SIGHUP)
            wait_until(lambda: "log level reloaded" in d.log(), 10, "the reload log line")
            d.get("/_ping")
            wait_until(lambda: 'msg=request method=GET path="/_ping"' in d.log(), 10,
                       "a debug line for the request")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def idle_connections_time_out(t):
    with Isod(args=["--idle-timeout", "1"]) as d:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock)
        s.settimeout(10)
        start = time.monotonic()
        t.eq(s.recv(10), b"", "server closed the idle connection")
        took = time.monotonic() - start
        t.true(0.5 < took < 5, f"closed after about a second (took {took:.1f}s)")
        s.close()


@test
def connection_count_is_bounded(t):
    with Isod(args=["--max-connections", "2"]) as d:
        held = []
        for _ in range(2):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            t.true(s.recv(4096).startswith(b"HTTP/1.1 200"), "within the limit")
            held.append(s)
        # Past the limit a connection is closed at once, never left hanging.
        third = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        third.settimeout(10)
        third.connect(d.sock)
        try:
            third.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            got = third.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            got = b""
        t.eq(got, b"", "third connection closed without an answer")
        third.close()
        t.contains(d.log(), "connection limit reached", "logged")
        # A slot that frees up serves the next client.
        held.pop().close()

        def served():
            try:
                return request(d.sock, "GET", "/_ping").status == 200
            except OSError:  # refused while isod has not yet seen the close
                return False
        wait_until(served, 10, "a client served once a slot is free")
        for s in held:
            s.close()


@test
def bad_flags_exit_2_with_a_message(t):
    r = subprocess.run([ISOD, "--log-level", "loud"], capture_output=True, text=True)
    t.eq(r.returncode, 2, "exit code")
    t.contains(r.stderr, "invalid log level 'loud'", "message")
    r = subprocess.run([ISOD, "-H", "tcp://0.0.0.0:2375"], capture_output=True, text=True)
    t.eq(r.returncode, 2, "exit code for tcp")
    t.contains(r.stderr, "unix sockets only", "message")
    r = subprocess.run([ISOD, "--help"], capture_output=True, text=True)
    t.eq(r.returncode, 0, "--help exit code")
    t.contains(r.stdout, "--root DIR", "help text")


run()
