#!/usr/bin/env python3
"""isoctl's container commands against a scripted fake daemon on a unix socket: the requests
isoctl sends (order, paths, bodies, the attach upgrade) and what it prints and exits with.
isod's container backend is not needed: each test plays the daemon's side as docs/api.md and
DOCKER-API.md §5-§10 describe it."""
import fcntl
import json
import os
import pty
import signal
import socket
import socketserver
import struct
import subprocess
import tempfile
import termios
import threading
import time
import urllib.parse

import harness
from harness import isoctl, run, test

ID = "0123456789ab" + "c" * 52


def frame(stream, data):
    data = data.encode() if isinstance(data, str) else data
    return struct.pack(">BxxxI", stream, len(data)) + data


class Req:
    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        u = urllib.parse.urlsplit(target)
        self.path = u.path
        self.query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


class Fake:
    """A daemon whose routes are the test's functions: route(req, sock) writes the answer."""

    def __init__(self, routes):
        self.routes = routes
        self.log = []
        self.lock = threading.Lock()
        self.dir = tempfile.mkdtemp(prefix="isoctl-fake-")
        self.sock = os.path.join(self.dir, "d.sock")
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                f = self.request.makefile("rb")
                line = f.readline().decode()
                if not line:
                    return
                method, target, _ = line.split(" ", 2)
                headers = {}
                while True:
                    h = f.readline().decode().rstrip("\r\n")
                    if not h:
                        break
                    k, v = h.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = b""
                if "content-length" in headers:
                    body = f.read(int(headers["content-length"]))
                req = Req(method, target, headers, body)
                with fake.lock:
                    fake.log.append(req)
                for (m, prefix), fn in fake.routes.items():
                    if m == method and req.path.startswith(prefix):
                        fn(req, self.request, f)
                        return
                reply(self.request, 404, {"message": f"page not found: {req.path}"})

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(self.sock, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        os.unlink(self.sock)
        os.rmdir(self.dir)

    def calls(self):
        return [f"{r.method} {r.path}" for r in self.log]

    def find(self, method, path):
        return [r for r in self.log if r.method == method and r.path == path]


def reply(sock, status, obj=None, raw=None, ctype="application/json"):
    body = raw if raw is not None else (b"" if obj is None else json.dumps(obj).encode())
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


class Session:
    """The daemon's side of attach + wait + start for one container."""

    def __init__(self, output, status=0, start_error=None, echo_stdin=False, tty=False):
        self.output = output
        self.status = status
        self.start_error = start_error
        self.echo_stdin = echo_stdin
        self.tty = tty
        self.started = threading.Event()
        self.done = threading.Event()

    def attach(self, req, sock, f):
        sock.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: "
                     b"application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\n"
                     b"Upgrade: tcp\r\n\r\n")
        if not self.started.wait(10):
            return
        if self.echo_stdin:
            data = f.read()  # until the client's half-close
            sock.sendall(data if self.tty else frame(1, data))
        try:
            sock.sendall(self.output)
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client is gone (a failed start)
        self.done.set()

    def wait(self, req, sock, f):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        self.done.wait(10)
        body = json.dumps({"StatusCode": self.status, "Error": None}).encode()
        try:
            sock.sendall(chunk(body) + chunk(b""))
        except BrokenPipeError:
            pass  # the client gave up waiting (a failed start)

    def start(self, req, sock, f):
        if self.start_error:
            reply(sock, 400, {"message": self.start_error})
            self.done.set()
            self.started.set()
            return
        reply(sock, 204)
        self.started.set()

    def routes(self, create):
        return {
            ("POST", "/containers/create"): create,
            ("POST", f"/containers/{ID}/attach"): self.attach,
            ("POST", f"/containers/{ID}/wait"): self.wait,
            ("POST", f"/containers/{ID}/start"): self.start,
            ("POST", f"/containers/{ID}/resize"): lambda r, s, f: reply(s, 200),
        }


def created(req, sock, f):
    reply(sock, 201, {"Id": ID, "Warnings": []})


@test
def run_pulls_missing_image_attaches_waits_starts(t):
    s = Session(frame(1, "hi\n") + frame(2, "oops\n"), status=3)
    creates = []

    def create(req, sock, f):
        creates.append(req)
        if len(creates) == 1:
            reply(sock, 404, {"message": "No such image: alpine:latest"})
        else:
            reply(sock, 201, {"Id": ID, "Warnings": ["memory limited without swap"]})

    def pull(req, sock, f):
        t.eq(req.query, {"fromImage": "docker.io/library/alpine", "tag": "latest"}, "pull query")
        reply(sock, 200, raw=b'{"status":"Pulling from library/alpine","id":"latest"}\r\n'
              b'{"status":"Status: Downloaded newer image for alpine:latest"}\r\n')

    routes = s.routes(create)
    routes[("POST", "/images/create")] = pull
    with Fake(routes) as d:
        r = isoctl("run", "--rm", "--name", "web", "-m", "64m", "alpine", "echo", "hi",
                   host=d.sock)
        t.eq(r.returncode, 3, f"exit code (stderr {r.stderr!r})")
        t.eq(r.stdout, "hi\n", "stdout")
        t.contains(r.stderr, "Unable to find image 'alpine:latest' locally\n")
        t.contains(r.stderr, "WARNING: memory limited without swap\n")
        t.contains(r.stderr, "oops\n")
        t.eq(d.calls(), ["POST /containers/create", "POST /images/create",
                         "POST /containers/create", f"POST /containers/{ID}/attach",
                         f"POST /containers/{ID}/wait", f"POST /containers/{ID}/start"], "calls")
        body = creates[1].json()
        t.eq(creates[1].query, {"name": "web"}, "create query")
        t.eq(creates[1].headers.get("content-type"), "application/json", "content type")
        t.eq(body["Image"], "alpine", "Image")
        t.eq(body["Cmd"], ["echo", "hi"], "Cmd")
        t.eq(body["HostConfig"]["AutoRemove"], True, "AutoRemove")
        t.eq(body["HostConfig"]["Memory"], 64 << 20, "Memory")
        attach = d.find("POST", f"/containers/{ID}/attach")[0]
        t.eq(attach.query, {"stream": "1", "stdout": "1", "stderr": "1"}, "attach query")
        t.eq(attach.headers.get("upgrade"), "tcp", "Upgrade header")
        t.eq(attach.headers.get("connection"), "Upgrade", "Connection header")
        wait = d.find("POST", f"/containers/{ID}/wait")[0]
        t.eq(wait.query, {"condition": "removed"}, "wait condition with --rm")


@test
def run_interactive_sends_stdin_and_half_closes(t):
    s = Session(frame(1, "!\n"), echo_stdin=True)
    with Fake(s.routes(created)) as d:
        r = isoctl("run", "-i", "alpine", "cat", host=d.sock, input="hello\n")
        t.eq(r.returncode, 0, f"exit code (stderr {r.stderr!r})")
        t.eq(r.stdout, "hello\n!\n", "stdout")
        attach = d.find("POST", f"/containers/{ID}/attach")[0]
        t.eq(attach.query.get("stdin"), "1", "stdin=1")
        wait = d.find("POST", f"/containers/{ID}/wait")[0]
        t.eq(wait.query, {"condition": "next-exit"}, "wait condition")
        body = d.find("POST", "/containers/create")[0].json()
        t.eq((body["OpenStdin"], body["AttachStdin"], body["StdinOnce"]), (True, True, True),
             "stdin fields")


@test
def run_tty_output_is_raw(t):
    s = Session(b"\x01raw bytes\n", tty=True)
    with Fake(s.routes(created)) as d:
        r = isoctl("run", "-t", "alpine", "sh", host=d.sock)
        t.eq(r.returncode, 0, f"exit code (stderr {r.stderr!r})")
        t.eq(r.stdout, "\x01raw bytes\n", "stdout")


@test
def run_it_on_a_terminal_raw_mode_and_resize(t):
    """-it on a pty: the size goes into ConsoleSize and a resize, keystrokes go through
    unprocessed, and the terminal is restored at the end."""
    started, got = threading.Event(), []

    def attach(req, sock, f):
        sock.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        started.wait(10)
        sock.sendall(b"$ ")
        while b"q" not in b"".join(got):
            data = sock.recv(100)
            if not data:
                break
            got.append(data)
        sock.sendall(b"bye\r\n")
        sock.shutdown(socket.SHUT_RDWR)
        s.done.set()

    def start(req, sock, f):
        reply(sock, 204)
        started.set()

    s = Session(b"")
    routes = s.routes(created)
    routes[("POST", f"/containers/{ID}/attach")] = attach
    routes[("POST", f"/containers/{ID}/start")] = start
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    before = termios.tcgetattr(slave)
    with Fake(routes) as d:
        p = subprocess.Popen([harness.ISOCTL, "-H", "unix://" + d.sock, "run", "-it", "alpine",
                              "sh"], stdin=slave, stdout=slave, stderr=slave)
        out = b""
        while b"$ " not in out:
            out += os.read(master, 100)
        os.write(master, b"\x03q")  # ^C is a byte for the container, not a signal
        while b"bye" not in out:
            out += os.read(master, 100)
        t.eq(p.wait(10), 0, "exit code")
        t.eq(b"".join(got), b"\x03q", "keystrokes")
        t.eq(termios.tcgetattr(slave), before, "terminal restored")
        body = d.find("POST", "/containers/create")[0].json()
        t.eq(body["HostConfig"]["ConsoleSize"], [30, 100], "ConsoleSize")
        t.eq(body["Tty"], True, "Tty")
        resize = d.find("POST", f"/containers/{ID}/resize")
        t.eq(resize[0].query, {"h": "30", "w": "100"}, "resize")
    os.close(master)
    os.close(slave)


@test
def run_it_detach_keys(t):
    """ctrl-p ctrl-q detaches; a ctrl-p followed by anything else is sent."""
    started, got = threading.Event(), []

    def attach(req, sock, f):
        sock.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        started.wait(10)
        sock.sendall(b"$ ")
        while True:
            data = sock.recv(100)
            if not data:
                break
            got.append(data)
        s.done.set()

    def start(req, sock, f):
        reply(sock, 204)
        started.set()

    s = Session(b"")
    routes = s.routes(created)
    routes[("POST", f"/containers/{ID}/attach")] = attach
    routes[("POST", f"/containers/{ID}/start")] = start
    master, slave = pty.openpty()
    with Fake(routes) as d:
        p = subprocess.Popen([harness.ISOCTL, "-H", "unix://" + d.sock, "run", "-it", "alpine",
                              "sh"], stdin=slave, stdout=slave, stderr=slave)
        out = b""
        while b"$ " not in out:
            out += os.read(master, 100)
        os.write(master, b"a\x10b\x10")
        harness.wait_until(lambda: b"".join(got) == b"a\x10b", what="keys before ctrl-p")
        os.write(master, b"\x11")
        t.eq(p.wait(10), 0, "exit code")
        t.true(s.done.wait(10), "connection closed")
        t.eq(b"".join(got), b"a\x10b", "keys sent")
    os.close(master)
    os.close(slave)


@test
def run_it_without_a_terminal_fails(t):
    r = isoctl("run", "-it", "alpine", host="/nonexistent.sock", input="")
    t.eq(r.returncode, 125, "exit code")
    t.eq(r.stderr, "isoctl: the input device is not a TTY\n", "stderr")


@test
def run_forwards_signals(t):
    s = Session(frame(1, "bye\n"), status=130)
    kills = []

    def kill(req, sock, f):
        kills.append(req.query)
        reply(sock, 204)
        s.started.set()

    def start(req, sock, f):
        reply(sock, 204)  # the output comes only after the signal

    routes = s.routes(created)
    routes[("POST", f"/containers/{ID}/kill")] = kill
    routes[("POST", f"/containers/{ID}/start")] = start
    with Fake(routes) as d:
        p = subprocess.Popen([harness.ISOCTL, "-H", "unix://" + d.sock, "run", "alpine", "sh"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # isoctl blocks the signals before it sends the start.
        harness.wait_until(lambda: d.find("POST", f"/containers/{ID}/start"), what="start")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        t.eq(p.returncode, 130, f"exit code (stderr {err!r})")
        t.eq(out, b"bye\n", "stdout")
        t.eq(kills, [{"signal": "TERM"}], "kill")


@test
def run_start_failure_exit_codes(t):
    for msg, code in [('exec: "nosuch": executable file not found in $PATH', 127),
                      ('exec: "/etc": permission denied', 126),
                      ("cgroup setup failed", 125)]:
        s = Session(b"", start_error=msg)
        with Fake(s.routes(created)) as d:
            r = isoctl("run", "alpine", "nosuch", host=d.sock)
            t.eq(r.returncode, code, f"exit code for {msg!r}")
            t.eq(r.stderr, f"isoctl: {msg}\n", "stderr")


@test
def run_detached_prints_id(t):
    s = Session(b"")
    with Fake(s.routes(created)) as d:
        r = isoctl("run", "-d", "alpine", "sleep", "9", host=d.sock)
        t.eq(r.returncode, 0, f"exit code (stderr {r.stderr!r})")
        t.eq(r.stdout, ID + "\n", "stdout")
        t.eq(d.calls(), ["POST /containers/create", f"POST /containers/{ID}/start"], "calls")
        body = d.find("POST", "/containers/create")[0].json()
        t.eq((body["AttachStdout"], body["AttachStderr"]), (False, False), "attach fields")


@test
def run_bad_flag_is_125(t):
    r = isoctl("run", "--cpus", "x", "alpine", host="/nonexistent.sock")
    t.eq(r.returncode, 125, "exit code")
    t.contains(r.stderr, "invalid argument \"x\" for \"--cpus\" flag")


@test
def create_prints_id(t):
    with Fake({("POST", "/containers/create"): created}) as d:
        r = isoctl("create", "--name", "x", "-e", "A=1", "alpine", host=d.sock)
        t.eq(r.returncode, 0, f"exit code (stderr {r.stderr!r})")
        t.eq(r.stdout, ID + "\n", "stdout")
        t.eq(d.find("POST", "/containers/create")[0].json()["Env"], ["A=1"], "Env")


def ps_routes(seen):
    def ps(req, sock, f):
        seen.append(req)
        reply(sock, 200, [{
            "Id": ID, "Names": ["/web"], "Image": "alpine", "ImageID": "sha256:" + "e" * 64,
            "Command": "sh -c 'while true; do sleep 1; done'", "Created": int(time.time()) - 125,
            "Ports": [{"PrivatePort": 80, "Type": "tcp"}], "Labels": {"b": "2", "a": "1"},
            "State": "running", "Status": "Up 2 minutes",
        }])
    return {("GET", "/containers/json"): ps}


@test
def ps_table_and_json(t):
    seen = []
    with Fake(ps_routes(seen)) as d:
        r = isoctl("ps", "-a", "--filter", "status=running", host=d.sock)
        t.eq(r.returncode, 0, f"exit code (stderr {r.stderr!r})")
        lines = r.stdout.splitlines()
        t.eq(lines[0].split("   ")[0], "CONTAINER ID", "header")
        t.contains(lines[0], "IMAGE     COMMAND                  CREATED")
        t.contains(lines[1], "0123456789ab   alpine    \"sh -c 'while true; …\"   2 minutes ago")
        t.contains(lines[1], "Up 2 minutes   80/tcp    web")
        t.eq(seen[0].query, {"all": "1", "filters": '{"status":["running"]}'}, "query")

        r = isoctl("ps", "-q", "--no-trunc", host=d.sock)
        t.eq(r.stdout, ID + "\n", "-q --no-trunc")
        r = isoctl("ps", "--format", "json", host=d.sock)
        row = json.loads(r.stdout)
        t.eq(row["Labels"], "a=1,b=2", "Labels")
        t.eq(row["Names"], "web", "Names")
        t.eq(row["ID"], "0123456789ab", "ID")


@test
def stop_each_container_reports_failures(t):
    def stop(req, sock, f):
        if req.path == "/containers/a/stop":
            t.eq(req.query, {"t": "3", "signal": "USR1"}, "stop query")
            reply(sock, 204)
        else:
            reply(sock, 404, {"message": "No such container: b"})

    with Fake({("POST", "/containers/"): stop}) as d:
        r = isoctl("stop", "-t", "3", "-s", "USR1", "a", "b", host=d.sock)
        t.eq(r.returncode, 1, "exit code")
        t.eq(r.stdout, "a\n", "stdout")
        t.eq(r.stderr, "isoctl: No such container: b\n", "stderr")


@test
def rm_kill_pause_paths(t):
    with Fake({("DELETE", "/containers/"): lambda r, s, f: reply(s, 204),
               ("POST", "/containers/"): lambda r, s, f: reply(s, 204)}) as d:
        t.eq(isoctl("rm", "-f", "-v", "a", host=d.sock).stdout, "a\n", "rm")
        t.eq(isoctl("kill", "-s", "HUP", "a", host=d.sock).returncode, 0, "kill")
        t.eq(isoctl("container", "pause", "a", host=d.sock).returncode, 0, "pause")
        t.eq(isoctl("rename", "a", "b", host=d.sock).returncode, 0, "rename")
        t.eq([(r.method, r.target) for r in d.log], [
            ("DELETE", "/containers/a?v=1&force=1"), ("POST", "/containers/a/kill?signal=HUP"),
            ("POST", "/containers/a/pause"), ("POST", "/containers/a/rename?name=b")], "calls")


@test
def logs_demultiplexes_unless_tty(t):
    def inspect(req, sock, f):
        reply(sock, 200, {"Id": ID, "Config": {"Tty": req.path.startswith("/containers/tty")}})

    def logs(req, sock, f):
        t.eq(req.query["tail"], "5", "tail")
        t.eq(req.query["follow"], "1", "follow")
        t.eq(req.query["since"], "1700000000", "since")
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        data = frame(1, "out\n") + frame(2, "err\n")
        sock.sendall(chunk(data[:5]) + chunk(data[5:]) + chunk(b""))

    with Fake({("GET", f"/containers/{ID}/logs"): logs,
               ("GET", "/containers/"): inspect}) as d:
        r = isoctl("logs", "-f", "--tail", "5", "--since", "1700000000", "web", host=d.sock)
        t.eq(r.returncode, 0, f"exit code (stderr {r.stderr!r})")
        t.eq((r.stdout, r.stderr), ("out\n", "err\n"), "output")
        r = isoctl("logs", "-f", "--tail", "5", "--since", "1700000000", "tty", host=d.sock)
        t.eq(r.stdout.encode(), frame(1, "out\n") + frame(2, "err\n"), "raw output")


@test
def inspect_falls_through_to_images(t):
    def image(req, sock, f):
        if req.path == "/images/alpine/json":
            reply(sock, 200, {"Id": "sha256:" + "e" * 64})
        else:
            reply(sock, 404, {"message": "No such image: nope"})

    with Fake({("GET", "/containers/"): lambda r, s, f: reply(
                   s, 404, {"message": "No such container: x"}),
               ("GET", "/images/"): image}) as d:
        r = isoctl("inspect", "alpine", "nope", host=d.sock)
        t.eq(r.returncode, 1, "exit code")
        t.eq(json.loads(r.stdout)[0]["Id"], "sha256:" + "e" * 64, "image found")
        t.eq(r.stderr, "isoctl: Error: No such object: nope\n", "stderr")
        r = isoctl("container", "inspect", "alpine", host=d.sock)
        t.eq(r.stderr, "isoctl: No such container: x\n", "container inspect")


@test
def wait_prints_status(t):
    s = Session(b"", status=7)
    s.done.set()
    with Fake({("POST", "/containers/"): s.wait}) as d:
        r = isoctl("wait", "a", host=d.sock)
        t.eq((r.returncode, r.stdout), (0, "7\n"), "wait")


@test
def container_prune_forced(t):
    def prune(req, sock, f):
        reply(sock, 200, {"ContainersDeleted": [ID], "SpaceReclaimed": 2048})

    with Fake({("POST", "/containers/prune"): prune}) as d:
        r = isoctl("container", "prune", "-f", host=d.sock)
        t.eq(r.stdout, f"Deleted Containers:\n{ID}\n\nTotal reclaimed space: 2.048kB\n", "out")


@test
def top_prints_table(t):
    def top(req, sock, f):
        t.eq(req.query, {"ps_args": "-o pid,comm"}, "ps_args")
        reply(sock, 200, {"Titles": ["PID", "COMMAND"], "Processes": [["1", "sh"]]})

    with Fake({("GET", "/containers/"): top}) as d:
        r = isoctl("top", "web", "-o", "pid,comm", host=d.sock)
        t.eq(r.stdout, "PID       COMMAND\n1         sh\n", "table")


run()
