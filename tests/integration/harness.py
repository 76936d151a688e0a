"""Integration-test harness: starts a real isod on a temporary socket and root, talks HTTP to
it over the unix socket, prints TAP. Python 3 standard library only.

Every test file does:

    from harness import test, run, Isod
    @test
    def ping_answers_ok(t):
        with Isod() as d:
            r = d.get("/_ping")
            t.eq(r.status, 200)
    run()
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BUILD = os.environ.get("BUILD_ROOT", os.getcwd())
SOURCE = os.environ.get("SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
ISOD = os.environ.get("ISOD_BIN", os.path.join(BUILD, "isod"))
ISOCTL = os.environ.get("ISOCTL_BIN", os.path.join(BUILD, "cli", "isoctl"))

_tests = []
_started_pids = []


class Failure(Exception):
    pass


class Checker:
    """Assertions that say what a user would have seen."""

    def true(self, cond, what="condition"):
        if not cond:
            raise Failure(f"expected {what}")

    def eq(self, got, want, what="value"):
        if got != want:
            raise Failure(f"{what}: got {got!r}, want {want!r}")

    def contains(self, hay, needle, what="text"):
        if needle not in hay:
            raise Failure(f"{what}: {needle!r} not in {hay[:2000]!r}")


def test(fn):
    _tests.append(fn)
    return fn


def wait_until(cond, timeout=10.0, what="condition"):
    """Polls cond until it is true; a deadline, not a sleep."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise Failure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def request(sock, method, path, body=None, headers=None, timeout=30):
    conn = UnixHTTPConnection(sock, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def raw_exchange(sock, data, timeout=10):
    """Sends raw bytes and returns everything the server sends until it closes or idles."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        if len(rest) >= int(line.split(b":")[1]):
                            return out
        return out
    finally:
        s.close()


class Isod:
    """A real isod in a fresh temporary directory: root <tmp>/root, socket <tmp>/isod.sock."""

    def __init__(self, args=(), env=None, root=None, sock=None, wait=True, tmp=None):
        self.own_tmp = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix="isod-it-")
        self.root = root or os.path.join(self.tmp, "root")
        self.sock = sock or os.path.join(self.tmp, "isod.sock")
        self.args = list(args)
        self.env = env
        self.wait = wait
        self.proc = None
        self.stderr_path = os.path.join(self.tmp, f"isod-{len(os.listdir(self.tmp))}.log")
        # Containers' cgroups go under a parent of this daemon's own, removed at cleanup.
        self.cgroup_parent = "isod-it-" + os.path.basename(self.tmp)

    def cmdline(self):
        return [ISOD, "--root", self.root, "-H", "unix://" + self.sock,
                "--cgroup-parent", self.cgroup_parent] + self.args

    def start(self):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("LISTEN_FDS", None)
        env.pop("LISTEN_PID", None)
        if self.env:
            env.update(self.env)
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr, env=env)
        _started_pids.append(self.proc.pid)
        if self.wait:
            try:
                self.wait_ready()
            except BaseException:
                self.cleanup()  # the failure message carries the log
                raise
        return self

    def wait_ready(self, timeout=10):
        def answers():
            if self.proc.poll() is not None:
                raise Failure(f"isod exited with {self.proc.returncode}: {self.log()}")
            try:
                return request(self.sock, "GET", "/_ping", timeout=2).status == 200
            except OSError:
                return False
        wait_until(answers, timeout, "isod to answer /_ping")

    def log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def get(self, path, **kw):
        return request(self.sock, "GET", path, **kw)

    def req(self, method, path, **kw):
        return request(self.sock, method, path, **kw)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops isod by pid; returns its exit code. SIGKILL if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure(f"isod did not exit within {timeout}s of {sig!r}")

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "stderr", None):
            self.stderr.close()
        if self.own_tmp:
            kill_shims(self.tmp)
            remove_cgroups(self.cgroup_parent)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        # __exit__ does not run when __enter__ raises: clean up here then.
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            self.cleanup()


def isoctl(*args, host=None, env=None, input=None, timeout=30):
    e = dict(os.environ)
    e.pop("ISOD_HOST", None)
    if env:
        e.update(env)
    cmd = [ISOCTL] + (["-H", "unix://" + host] if host else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=e, input=input,
                          timeout=timeout)


def docker_clients():
    """Both docker CLIs PEERS.md names, where installed; the test fails if there is none."""
    found = [p for p in ("/usr/local/bin/docker", "/usr/bin/docker") if os.access(p, os.X_OK)]
    if not found:
        raise Failure("no docker CLI installed (scripts/deps.sh installs docker.io)")
    return found


def docker(client, sock, *args, timeout=60):
    env = dict(os.environ)
    for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_API_VERSION", "DOCKER_TLS_VERIFY"):
        env.pop(k, None)
    cfg = tempfile.mkdtemp(prefix="isod-dockercfg-")
    env["DOCKER_CONFIG"] = cfg
    try:
        return subprocess.run([client, "-H", "unix://" + sock] + list(args), capture_output=True,
                              text=True, env=env, timeout=timeout)
    finally:
        shutil.rmtree(cfg, ignore_errors=True)


def _shim_pids(marker):
    """isod-shim processes whose state dir contains marker."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"isod-shim") and any(marker.encode() in a for a in argv):
            pids.append(int(pid))
    return pids


def kill_shims(tmp):
    """After a failed test: the shims (and with them their containers) of a test's daemon, by
    pid, so nothing outlives the test."""
    for pid in _shim_pids(tmp):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_until(lambda: not _shim_pids(tmp), 10, "test shims to exit")


def cgroup_dirs(parent):
    """Directories of a cgroup parent under every hierarchy that has one."""
    base = "/sys/fs/cgroup"
    found = []
    for ctrl in sorted(os.listdir(base)):
        d = os.path.join(base, ctrl, parent)
        if os.path.isdir(d):
            found.append(d)
    if os.path.isdir(os.path.join(base, parent)):
        found.append(os.path.join(base, parent))
    return found


def remove_cgroups(parent):
    """Kills what is left in a test daemon's cgroups (its containers, by pid) and removes
    them, deepest first."""
    dirs = []
    for d in cgroup_dirs(parent):
        for root, subs, _ in os.walk(d):
            dirs.append(root)
    for d in dirs:
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for d in sorted(dirs, key=lambda p: -p.count("/")):
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


def _leaks():
    """What a test run must not leave behind: live isod processes it started."""
    problems = []
    for pid in _started_pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                problems.append(f"isod pid {pid} still running")
        except FileNotFoundError:
            pass
    # Helpers isod started for the tests' daemons (their root is under an isod-it- dir).
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"isod-fetch") and any(b"/isod-it-" in a for a in argv):
            problems.append(f"isod-fetch pid {pid} still running")
    for pid in _shim_pids("/isod-it-"):
        problems.append(f"isod-shim pid {pid} still running")
    base = "/sys/fs/cgroup"
    for ctrl in os.listdir(base):
        d = os.path.join(base, ctrl)
        if os.path.isdir(d):
            for sub in os.listdir(d):
                if sub.startswith("isod-it-"):
                    problems.append(f"cgroup {os.path.join(d, sub)} left behind")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if "isod-it-" in line:
                problems.append("mount left behind: " + line.strip())
    return problems


def run():
    failed = 0
    for i, fn in enumerate(_tests, 1):
        t = Checker()
        name = fn.__name__
        try:
            fn(t)
            print(f"ok {i} - {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure as TAP
            failed += 1
            print(f"not ok {i} - {name}", flush=True)
            msg = str(e) if isinstance(e, Failure) else traceback.format_exc()
            for line in msg.splitlines():
                print(f"# {line}", flush=True)
    n = len(_tests) + 1
    leaks = _leaks()
    print(f"{'not ok' if leaks else 'ok'} {n} - nothing left running", flush=True)
    for p in leaks:
        print(f"# {p}")
    failed += bool(leaks)
    print(f"1..{n}")
    sys.exit(1 if failed else 0)
