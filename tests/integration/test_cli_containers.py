#!/usr/bin/env python3
"""isoctl's container commands against a real isod running real busybox containers: what a
user sees (output, exit codes) and the container's state through the API. Interactive runs go
through a real terminal (tmux), pulls through a real local registry."""
import atexit
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import harness
import registry
from harness import isoctl, run, test, wait_until
from registry import Registry

import mkimage as mk
from ctrlib import Daemon, inspect

_tmp = tempfile.mkdtemp(prefix="isod-cli-", dir=registry.temp_base())
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
NET = ("--network", "none")  # isod has no bridge yet; keeps the warning off stderr


def ctl(d, *args, **kw):
    return isoctl(*args, host=d.sock, **kw)


def ctl_raw(d, *args, input=None):
    """isoctl with its output as bytes: no newline translation."""
    return subprocess.run([harness.ISOCTL, "-H", "unix://" + d.sock] + list(args),
                          capture_output=True, input=input, timeout=30)


def read_until(p, needle, timeout=10):
    """Reads p's stdout until needle shows up; what was read."""
    got, end = b"", time.monotonic() + timeout
    while needle not in got:
        left = end - time.monotonic()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            raise harness.Failure(f"timed out waiting for {needle!r}, got {got!r}")
        data = os.read(p.stdout.fileno(), 4096)
        if not data:
            raise harness.Failure(f"EOF before {needle!r}, got {got!r}")
        got += data
    return got


def ctl_bg(d, *args):
    return subprocess.Popen([harness.ISOCTL, "-H", "unix://" + d.sock] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(p, timeout=10):
    """p's (rest of stdout, stderr) once it exits; killed (by pid) if it does not."""
    try:
        return p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def running(d, name, comm):
    wait_until(lambda: comm in ctl(d, "top", name, "-eo", "pid,comm").stdout.split(), 10,
               f"{comm} in {name}")


def ready(d, name):
    wait_until(lambda: "ready\n" in ctl(d, "logs", name).stdout, 10, f"{name} ready")


def state(d, ref):
    return inspect(d, ref)["State"]


def wait_state(d, ref, status, what=None):
    wait_until(lambda: state(d, ref)["Status"] == status, 10, what or f"{ref} {status}")


class Tmux:
    """A detached tmux session (100x30) running cmd; killed by its unique name on exit."""
    count = 0

    def __init__(self, cmd, x=100, y=30):
        Tmux.count += 1
        self.name = f"isoctl-it-{os.getpid()}-{Tmux.count}"
        self.cmd, self.x, self.y = cmd, x, y

    def tmux(self, *args):
        return subprocess.run(["tmux"] + list(args), capture_output=True, text=True,
                              timeout=10)

    def __enter__(self):
        r = self.tmux("new-session", "-d", "-s", self.name, "-x", str(self.x), "-y",
                      str(self.y), self.cmd)
        if r.returncode != 0:
            raise harness.Failure(f"tmux new-session: {r.stderr}")
        return self

    def __exit__(self, *exc):
        self.tmux("kill-session", "-t", self.name)

    def keys(self, *keys):
        self.tmux("send-keys", "-t", self.name, *keys)

    def line(self, text):
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.keys("Enter")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", self.name).stdout

    def wait_for(self, pattern, what=None, timeout=10):
        try:
            return wait_until(lambda: re.search(pattern, self.screen(), re.M), timeout,
                              what or repr(pattern))
        except harness.Failure as e:
            raise harness.Failure(f"{e}; screen:\n{self.screen()}") from None

    def resize(self, x, y):
        self.tmux("resize-window", "-t", self.name, "-x", str(x), "-y", str(y))


def in_shell(work, isoctl_args):
    """A shell line for tmux: records the terminal settings (stty -g) around isoctl and prints
    its exit code, then stays (so the pane can be read)."""
    cmd = shlex.join([harness.ISOCTL] + list(isoctl_args))
    return (f"stty -g > {work}/before; {cmd}; echo EXIT=$?; stty -g > {work}/after; "
            "exec sleep 600")


def read(path):
    with open(path) as f:
        return f.read()


def settings(work):
    """(before, after): the terminal's settings (stty -g) around isoctl."""
    after = wait_until(lambda: os.path.exists(f"{work}/after") and read(f"{work}/after"), 10,
                       "stty -g after isoctl")
    return read(f"{work}/before"), after


# ---- run ----

@test
def run_pulls_a_missing_image_from_a_registry(t):
    lay = os.path.join(_tmp, "bb-layout")
    mk.oci_layout(lay, mk.busybox(), tag="latest")
    with Registry() as reg, Daemon() as d:
        reg.seed(lay, "library/busybox", "latest")
        ref = reg.ref("library/busybox")
        r = ctl(d, "run", *NET, "--name", "pulled", ref, "sh", "-c", "echo hi; echo oops >&2; "
                "exit 3", timeout=120)
        t.eq(r.returncode, 3, f"exit code (stderr {r.stderr!r})")
        t.eq(r.stdout, "hi\n", "stdout")
        t.true(r.stderr.startswith(f"Unable to find image '{ref}' locally\n"),
               f"first line of stderr: {r.stderr!r}")
        t.contains(r.stderr, f"Status: Downloaded newer image for {ref}\n", "pull status")
        t.true(r.stderr.endswith("oops\n"), f"the container's stderr last: {r.stderr!r}")
        t.eq(ctl(d, "images", "-q").stdout.count("\n"), 2, "pulled next to busybox")
        st = state(d, "pulled")
        t.eq((st["Status"], st["ExitCode"]), ("exited", 3), "state")
        r = ctl(d, "run", "--rm", *NET, ref, "echo", "again")
        t.eq((r.returncode, r.stdout, r.stderr), (0, "again\n", ""), "no pull the second time")


@test
def run_interactive_stdin_and_half_close(t):
    with Daemon() as d:
        r = ctl(d, "run", "-i", *NET, "--name", "cat", "busybox", "sh", "-c",
                "cat; echo after EOF; exit 4", input="through stdin\nline 2\n")
        t.eq(r.returncode, 4, f"exit code (stderr {r.stderr!r})")
        t.eq(r.stdout, "through stdin\nline 2\nafter EOF\n", "stdin reached cat, then EOF")
        r = ctl(d, "run", "-i", "--rm", *NET, "busybox", "wc", "-c", input="x" * 200000)
        t.eq(r.stdout.strip(), "200000", "large input")
        r = ctl(d, "run", "--rm", *NET, "busybox", "cat", input="ignored\n")
        t.eq((r.returncode, r.stdout), (0, ""), "without -i, stdin is not attached")


@test
def run_tty_output_is_raw(t):
    with Daemon() as d:
        r = ctl_raw(d, "run", "-t", "--rm", *NET, "busybox", "sh", "-c",
                    "printf 'a\\nb\\001\\n'; exit 2")
        t.eq(r.returncode, 2, f"exit code (stderr {r.stderr!r})")
        t.eq(r.stdout, b"a\r\nb\x01\r\n", "the terminal's \\r\\n, no framing")


@test
def run_it_on_a_terminal(t):
    """-it in tmux: the size reaches the container and follows a resize, keys go through
    unprocessed (^C is the container's), the exit code comes back, the terminal is restored."""
    work = tempfile.mkdtemp(dir=_tmp)
    with Daemon() as d, Tmux(in_shell(work, ["-H", "unix://" + d.sock, "run", "-it", *NET,
                                             "--name", "term", "busybox", "sh"])) as tm:
        tm.wait_for(r"^/ #", "the shell prompt")
        tm.line("stty size")
        tm.wait_for(r"^30 100$", "stty size 30 100")
        tm.resize(80, 20)
        wait_until(lambda: tm.screen().count("\n") == 20, 10, "the window to shrink")
        for _ in range(10):  # the resize reaches isod after SIGWINCH: ask until it has
            tm.line("stty size")
            try:
                tm.wait_for(r"^20 80$", "stty size after the resize", timeout=1)
                break
            except harness.Failure:
                pass
        tm.wait_for(r"^20 80$", "stty size after the resize")
        tm.line("cat")
        running(d, "term", "cat")
        tm.keys("C-c")
        tm.line("echo still here")
        tm.wait_for(r"^still here$", "^C interrupted cat, not isoctl")
        t.true(state(d, "term")["Running"], "running")
        tm.line("exit 5")
        tm.wait_for(r"EXIT=5$", "isoctl's exit code")
        before, after = settings(work)
        t.eq(after, before, "terminal settings restored")
        t.eq(state(d, "term")["ExitCode"], 5, "container exit code")


@test
def run_it_detach_keys_leave_the_container_running(t):
    work = tempfile.mkdtemp(dir=_tmp)
    with Daemon() as d, Tmux(in_shell(work, ["-H", "unix://" + d.sock, "run", "-it", *NET,
                                             "--name", "det", "busybox", "sh"])) as tm:
        tm.wait_for(r"^/ #", "the shell prompt")
        tm.line("od -An -c")
        running(d, "det", "od")     # the keys go to od, not to the shell's line editor
        tm.keys("C-p", "x")      # ctrl-p not followed by ctrl-q is sent on
        tm.keys("Enter", "C-d")
        tm.wait_for(r"020\s+x\s+\\n", "ctrl-p x reached the container")
        tm.keys("C-p", "C-q")
        tm.wait_for(r"EXIT=0$", "isoctl detached with 0")
        before, after = settings(work)
        t.eq(after, before, "terminal settings restored")
        st = state(d, "det")
        t.eq((st["Status"], st["Running"]), ("running", True), "the container runs on")
        r = ctl(d, "kill", "det")
        t.eq(r.returncode, 0, f"kill: {r.stderr}")


@test
def run_it_without_a_terminal_fails(t):
    with Daemon() as d:
        r = ctl(d, "run", "-it", *NET, "busybox", "sh", input="")
        t.eq(r.returncode, 125, "exit code")
        t.eq(r.stderr, "isoctl: the input device is not a TTY\n", "docker's words")
        t.eq(ctl(d, "ps", "-a", "-q").stdout, "", "no container created")


@test
def run_forwards_signals(t):
    with Daemon() as d:
        p = ctl_bg(d, "run", *NET, "--name", "sig", "busybox", "sh", "-c",
                   'trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.1; done')
        try:
            first = read_until(p, b"ready\n")   # the trap is set
            t.true(state(d, "sig")["Running"], "running")
            p.send_signal(signal.SIGTERM)
        finally:
            out, err = finish(p)
        t.eq(p.returncode, 3, f"exit code (stderr {err!r})")
        t.eq(first + out, b"ready\ngot TERM\n", "the container's trap ran")
        t.eq(state(d, "sig")["ExitCode"], 3, "container exit code")


@test
def run_start_failure_exit_codes(t):
    with Daemon() as d:
        for args, code, msg in [
                (["nosuch"], 127, 'exec: "nosuch": executable file not found in $PATH'),
                (["/etc"], 126, 'exec: "/etc": permission denied'),
                (["-u", "nosuch", "busybox", "true"], 125,
                 "unable to find user nosuch: no matching entries in passwd file")]:
            argv = args if args[0] == "-u" else ["busybox"] + args
            r = ctl(d, "run", *NET, *argv)
            t.eq(r.returncode, code, f"exit code for {args}")
            t.eq(r.stderr, f"isoctl: {msg}\n", f"stderr for {args}")


@test
def run_detached_prints_the_id(t):
    with Daemon() as d:
        r = ctl(d, "run", "-d", *NET, "busybox", "sleep", "100")
        t.eq((r.returncode, r.stderr), (0, ""), "exit code, stderr")
        cid = r.stdout.strip()
        t.true(re.fullmatch(r"[0-9a-f]{64}", cid), f"an id: {r.stdout!r}")
        info = inspect(d, cid[:12])
        t.eq((info["Id"], info["State"]["Running"]), (cid, True), "running")
        ctl(d, "kill", cid)
        r = ctl(d, "run", "-d", "busybox", "true")
        t.eq(r.returncode, 0, f"run -d without --network: {r.stderr}")
        t.true(r.stderr.startswith("WARNING: ") and r.stderr.endswith("\n"),
               f"the daemon's warnings on stderr: {r.stderr!r}")
        t.true(re.fullmatch(r"[0-9a-f]{64}\n", r.stdout), "only the id on stdout")


@test
def run_bad_flags_are_125(t):
    with Daemon() as d:
        r = ctl(d, "run", "--cpus", "x", "busybox")
        t.eq(r.returncode, 125, "exit code for a bad value")
        t.contains(r.stderr, 'invalid argument "x" for "--cpus" flag', "message")
        r = ctl(d, "run", "--no-such-flag", "busybox")
        t.eq(r.returncode, 125, "exit code for an unknown flag")
        t.contains(r.stderr, "unknown flag: --no-such-flag", "message")
        t.contains(r.stderr, "See 'isoctl run --help'.", "hint")
        r = ctl(d, "run")
        t.eq(r.returncode, 125, "exit code without an image")
        t.eq(ctl(d, "ps", "-a", "-q").stdout, "", "no container created")


# ---- create, ps ----

@test
def create_prints_the_id(t):
    with Daemon() as d:
        r = ctl(d, "create", *NET, "--name", "xx", "-e", "A=1", "busybox")
        t.eq((r.returncode, r.stderr), (0, ""), "exit code, stderr")
        cid = r.stdout.strip()
        t.true(re.fullmatch(r"[0-9a-f]{64}", cid), f"an id: {r.stdout!r}")
        info = inspect(d, "xx")
        t.eq((info["Id"], info["State"]["Status"]), (cid, "created"), "created")
        t.contains(info["Config"]["Env"], "A=1", "Env")
        r = ctl(d, "create", *NET, "--name", "xx", "busybox")
        t.eq(r.returncode, 1, "a taken name")
        t.contains(r.stderr, 'is already in use', "message")


@test
def ps_table_json_and_filters(t):
    with Daemon() as d:
        old = ctl(d, "run", *NET, "--name", "old", "busybox", "true")
        t.eq(old.returncode, 0, f"run old: {old.stderr}")
        web = ctl(d, "run", "-d", *NET, "--name", "web", "-l", "b=2", "-l", "a=1", "busybox",
                  "sh", "-c", "while true; do sleep 1; done").stdout.strip()
        r = ctl(d, "ps")
        t.eq(r.returncode, 0, f"ps: {r.stderr}")
        lines = r.stdout.splitlines()
        t.eq(len(lines), 2, f"header and web: {r.stdout}")
        cols = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        pos = [lines[0].find(c) for c in cols]
        t.true(pos[0] == 0 and pos == sorted(pos) and -1 not in pos, f"header: {lines[0]}")
        row = lines[1]
        t.eq(row[:pos[1]].strip(), web[:12], "CONTAINER ID")
        t.eq(row[pos[1]:pos[2]].strip(), "busybox", "IMAGE")
        t.eq(row[pos[2]:pos[3]].strip(), '"sh -c \'while true; …"', "COMMAND truncated")
        t.contains(row[pos[3]:pos[4]], "ago", "CREATED")
        t.true(row[pos[4]:pos[5]].startswith("Up "), f"STATUS: {row}")
        t.eq(row[pos[6]:].strip(), "web", "NAMES")

        r = ctl(d, "ps", "--format", "json")
        j = json.loads(r.stdout)
        t.eq((j["ID"], j["Names"], j["Image"], j["State"], j["Labels"]),
             (web[:12], "web", "busybox", "running", "a=1,b=2"), "json")
        t.true(j["Status"].startswith("Up "), "json Status")

        r = ctl(d, "ps", "-a", "--format", "json")
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        t.eq([x["Names"] for x in rows], ["web", "old"], "-a, newest first")
        t.true(rows[1]["Status"].startswith("Exited (0) "), f"exited: {rows[1]['Status']}")
        oldid = inspect(d, "old")["Id"]
        t.eq(ctl(d, "ps", "-q").stdout, web[:12] + "\n", "-q")
        t.eq(ctl(d, "ps", "-a", "-q").stdout, f"{web[:12]}\n{oldid[:12]}\n", "-a -q")
        t.eq(ctl(d, "ps", "-q", "--no-trunc").stdout, web + "\n", "-q --no-trunc")
        t.eq(ctl(d, "ps", "-q", "-n", "1").stdout, web[:12] + "\n", "-n 1")
        t.eq(ctl(d, "ps", "-aq", "-f", "name=old").stdout, oldid[:12] + "\n", "-f name=")
        t.eq(ctl(d, "ps", "-q", "-f", "name=old").stdout, "", "-f name= without -a")
        t.eq(ctl(d, "ps", "-aq", "-f", "status=exited").stdout, oldid[:12] + "\n",
             "-f status=")
        r = ctl(d, "ps", "--no-trunc")
        t.contains(r.stdout, web, "--no-trunc id")
        t.contains(r.stdout, "\"sh -c 'while true; do sleep 1; done'\"", "--no-trunc command")
        ctl(d, "kill", "web")


# ---- the lifecycle commands ----

@test
def stop_several_one_missing(t):
    with Daemon() as d:
        ctl(d, "run", "-d", *NET, "--name", "good", "busybox", "sh", "-c",
            "trap 'exit 10' USR1; echo ready; while :; do sleep 0.1; done")
        ready(d, "good")
        r = ctl(d, "stop", "-t", "3", "-s", "USR1", "good", "missing")
        t.eq(r.returncode, 1, "exit code")
        t.eq(r.stdout, "good\n", "the good one")
        t.eq(r.stderr, "isoctl: No such container: missing\n", "error for the missing one")
        st = state(d, "good")
        t.eq((st["Status"], st["ExitCode"]), ("exited", 10), "stopped with the signal")


@test
def rm_kill_pause_unpause_restart_rename_wait_top(t):
    with Daemon() as d:
        loop = "trap 'echo hup; exit 7' HUP; echo ready; while :; do sleep 0.1; done"
        cid = ctl(d, "run", "-d", *NET, "--name", "one", "busybox", "sh", "-c", loop).stdout.strip()
        r = ctl(d, "rm", "one")
        t.eq(r.returncode, 1, "rm of a running container")
        t.contains(r.stderr, "Stop the container before attempting removal or force remove", "message")

        t.eq(ctl(d, "pause", "one").stdout, "one\n", "pause")
        t.eq(state(d, "one")["Status"], "paused", "paused")
        t.contains(ctl(d, "ps").stdout, "(Paused)", "ps says paused")
        t.eq(ctl(d, "container", "unpause", "one").stdout, "one\n", "unpause")
        t.eq(state(d, "one")["Status"], "running", "running again")

        r = ctl(d, "top", "one")
        t.eq(r.returncode, 0, f"top: {r.stderr}")
        t.eq(r.stdout.split()[:8], ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
             "top's default columns")
        r = ctl(d, "top", "one", "-o", "pid,comm")
        lines = r.stdout.splitlines()
        t.eq(lines[0].split(), ["PID", "COMMAND"], "ps options")
        t.contains([l.split()[1] for l in lines[1:]], "sh", "the shell")

        t.eq(ctl(d, "rename", "one", "two").returncode, 0, "rename")
        t.eq(inspect(d, cid)["Name"], "/two", "renamed")
        r = ctl(d, "rename", "one", "three")
        t.eq(r.returncode, 1, "rename of a missing container")

        ready(d, "two")
        t.eq(ctl(d, "kill", "-s", "HUP", "two").stdout, "two\n", "kill -s HUP")
        r = ctl(d, "wait", "two")
        t.eq((r.returncode, r.stdout), (0, "7\n"), "wait prints the exit code")
        t.eq(ctl(d, "logs", "two").stdout, "ready\nhup\n", "the trap ran")

        t0 = time.monotonic()
        t.eq(ctl(d, "restart", "-t", "1", "two").stdout, "two\n", "restart")
        st = state(d, "two")
        t.eq(st["Status"], "running", "running after restart")
        t.true(time.monotonic() - t0 < 5, "restart of an exited container is quick")
        r = ctl(d, "kill", "two")
        t.eq(r.returncode, 0, f"kill: {r.stderr}")
        t.eq(ctl(d, "wait", "two").stdout, "137\n", "killed")
        r = ctl(d, "kill", "two")
        t.eq(r.returncode, 1, "kill of a stopped container")
        t.contains(r.stderr, "is not running", "message")

        t.eq(ctl(d, "rm", "two").stdout, "two\n", "rm")
        t.eq(d.get(f"/v1.44/containers/{cid}/json").status, 404, "gone")
        ctl(d, "run", "-d", *NET, "--name", "forced", "busybox", "sleep", "100")
        t.eq(ctl(d, "rm", "-f", "-v", "forced").stdout, "forced\n", "rm -f of a running container")
        r = ctl(d, "rm", "forced")
        t.eq(r.returncode, 1, "rm of a missing container")
        t.eq(r.stderr, "isoctl: No such container: forced\n", "message")
        t.eq(ctl(d, "ps", "-a", "-q").stdout, "", "nothing left")


@test
def logs_tail_timestamps_follow_and_tty(t):
    with Daemon() as d:
        r = ctl(d, "run", *NET, "--name", "logs1", "busybox", "sh", "-c",
                "for i in 1 2 3 4; do echo out$i; echo err$i >&2; done")
        t.eq(r.returncode, 0, f"run: {r.stderr}")
        r = ctl(d, "logs", "logs1")
        t.eq((r.stdout, r.stderr), ("out1\nout2\nout3\nout4\n", "err1\nerr2\nerr3\nerr4\n"),
             "stdout and stderr apart")
        r = ctl(d, "logs", "--since", str(int(time.time()) + 3600), "logs1")
        t.eq((r.stdout, r.stderr), ("", ""), "--since the future")
        r = ctl(d, "logs", "--since", "1700000000", "logs1")
        t.eq(r.stdout, "out1\nout2\nout3\nout4\n", "--since the past")
        r = ctl(d, "logs", "-n", "0", "logs1")
        t.eq((r.stdout, r.stderr), ("", ""), "--tail 0")
        ctl(d, "run", *NET, "--name", "seq", "busybox", "seq", "10")
        r = ctl(d, "logs", "--tail", "2", "seq")
        t.eq(r.stdout, "9\n10\n", "--tail 2")
        r = ctl(d, "logs", "-t", "--tail", "1", "seq")
        t.true(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z 10\n", r.stdout),
               f"-t: {r.stdout!r}")

        ctl(d, "run", "-d", *NET, "--name", "follow", "busybox", "sh", "-c",
            "for i in 1 2 3; do echo $i; sleep 0.3; done; exit 2")
        t0 = time.monotonic()
        r = ctl(d, "logs", "-f", "follow")
        t.eq((r.returncode, r.stdout), (0, "1\n2\n3\n"), "-f until the container exits")
        t.true(time.monotonic() - t0 > 0.3, "-f waited")
        t.eq(state(d, "follow")["Status"], "exited", "exited when -f returned")

        ctl(d, "run", "-t", *NET, "--name", "tty", "busybox", "sh", "-c", "echo a; echo b >&2")
        r = ctl_raw(d, "logs", "tty")
        t.eq((r.stdout, r.stderr), (b"a\r\nb\r\n", b""), "a tty's log is the raw terminal")

        r = ctl(d, "logs", "nosuch")
        t.eq((r.returncode, r.stderr), (1, "isoctl: No such container: nosuch\n"), "missing")


@test
def inspect_falls_through_to_images(t):
    with Daemon() as d:
        ctl(d, "create", *NET, "--name", "ctr", "busybox")
        r = ctl(d, "inspect", "ctr", "busybox", "nope")
        t.eq(r.returncode, 1, "exit code")
        objs = json.loads(r.stdout)
        t.eq(objs[0]["Name"], "/ctr", "the container")
        t.eq(objs[1]["RepoTags"], ["busybox:latest"], "the image")
        t.eq(r.stderr, "isoctl: Error: No such object: nope\n", "stderr")
        r = ctl(d, "container", "inspect", "busybox")
        t.eq(r.returncode, 1, "container inspect does not look at images")
        t.eq(r.stderr, "isoctl: No such container: busybox\n", "container inspect")
        r = ctl(d, "inspect", "--type", "image", "ctr")
        t.eq(r.returncode, 1, "--type image")


@test
def container_prune_forced(t):
    with Daemon() as d:
        ids = [ctl(d, "create", *NET, "busybox").stdout.strip() for _ in range(2)]
        ctl(d, "run", *NET, "--name", "done", "busybox", "true")
        ids.append(inspect(d, "done")["Id"])
        keep = ctl(d, "run", "-d", *NET, "busybox", "sleep", "100").stdout.strip()
        r = ctl(d, "container", "prune", "-f")
        t.eq(r.returncode, 0, f"prune: {r.stderr}")
        lines = r.stdout.splitlines()
        t.eq(lines[0], "Deleted Containers:", "heading")
        t.eq(sorted(lines[1:4]), sorted(ids), "the stopped ones")
        t.true(lines[-1].startswith("Total reclaimed space: "), f"total: {lines[-1]}")
        t.eq(ctl(d, "ps", "-a", "-q", "--no-trunc").stdout, keep + "\n", "the running one stays")
        ctl(d, "kill", keep)


# ---- start -a, attach ----

@test
def start_attach_and_interactive(t):
    with Daemon() as d:
        ctl(d, "create", *NET, "--name", "sa", "busybox", "sh", "-c",
            "echo from start; echo to stderr >&2; exit 6")
        r = ctl(d, "start", "-a", "sa")
        t.eq((r.returncode, r.stdout, r.stderr), (6, "from start\n", "to stderr\n"), "start -a")
        ctl(d, "create", "-i", *NET, "--name", "si", "busybox", "sh", "-c",
            "read x; echo got $x")
        r = ctl(d, "start", "-ai", "si", input="hello\n")
        t.eq((r.returncode, r.stdout), (0, "got hello\n"), f"start -ai: {r.stderr}")
        ctl(d, "create", *NET, "--name", "plain", "busybox", "true")
        r = ctl(d, "start", "plain")
        t.eq((r.returncode, r.stdout), (0, "plain\n"), "start without -a prints the name")


@test
def attach_to_a_running_container(t):
    with Daemon() as d:
        ctl(d, "run", "-d", *NET, "--name", "at", "busybox", "sh", "-c",
            "while [ ! -e /tmp/go ]; do echo tick; sleep 0.05; done; echo attached-out; exit 9")
        p = ctl_bg(d, "attach", "at")
        try:
            read_until(p, b"tick\n")    # attached
            # the go file, from the host through the container's root
            go = os.path.join("/proc", str(state(d, "at")["Pid"]), "root", "tmp", "go")
            open(go, "w").close()
        finally:
            out, err = finish(p)
        t.eq(p.returncode, 9, f"attach's exit code (stderr {err!r})")
        t.true(out.endswith(b"attached-out\n"), f"the output: {out[-100:]!r}")
        r = ctl(d, "attach", "at")
        t.eq(r.returncode, 1, "attach to a stopped container")
        t.contains(r.stderr, "You cannot attach to a stopped container", "docker's words")


# ---- run options, checked from inside the container ----

@test
def rm_leaves_nothing(t):
    with Daemon() as d:
        r = ctl(d, "run", "--rm", *NET, "busybox", "sh", "-c", "exit 4")
        t.eq(r.returncode, 4, "exit code")
        t.eq(ctl(d, "ps", "-a", "-q").stdout, "", "removed before run returns")
        r = ctl(d, "run", "--rm", "-d", *NET, "busybox", "true")
        t.eq(r.returncode, 0, "run --rm -d")
        wait_until(lambda: ctl(d, "ps", "-a", "-q").stdout == "", 10, "ps -a empty")


@test
def restart_on_failure_counts(t):
    with Daemon() as d:
        ctl(d, "run", "-d", *NET, "--name", "rf", "--restart", "on-failure:2", "busybox", "sh",
            "-c", "echo run; exit 5")
        wait_until(lambda: ctl(d, "logs", "rf").stdout == "run\n" * 3, 20, "three runs")
        wait_until(lambda: not state(d, "rf")["Restarting"] and
                   state(d, "rf")["Status"] == "exited", 20, "the last exit")
        info = json.loads(ctl(d, "inspect", "rf").stdout)[0]
        t.eq(info["RestartCount"], 2, "RestartCount")
        t.eq(info["HostConfig"]["RestartPolicy"], {"Name": "on-failure", "MaximumRetryCount": 2},
             "policy")
        t.eq(info["State"]["ExitCode"], 5, "exit code")


@test
def init_is_pid_1(t):
    with Daemon() as d:
        r = ctl(d, "run", "--rm", *NET, "--init", "busybox", "ps", "-o", "pid,args")
        t.eq(r.returncode, 0, f"run --init: {r.stderr}")
        rows = {l.split(None, 1)[0]: l.split(None, 1)[1] for l in r.stdout.splitlines()[1:]}
        t.eq(rows.get("1"), "isod-init", f"PID 1 is the init, no host path: {r.stdout}")
        t.true(any(pid != "1" and args == "ps -o pid,args" for pid, args in rows.items()),
               f"the command is another pid: {r.stdout}")
        r = ctl(d, "run", "--rm", *NET, "busybox", "ps", "-o", "pid,args")
        t.contains(r.stdout.splitlines()[1], "1 ps -o pid,args", "without --init")


@test
def mounts_volumes_tmpfs_read_only(t):
    host = tempfile.mkdtemp(dir=_tmp)
    with open(os.path.join(host, "f"), "w") as f:
        f.write("from the host\n")
    with Daemon() as d:
        r = ctl(d, "run", "--rm", *NET, "-v", f"{host}:/data:ro", "busybox", "sh", "-c",
                "cat /data/f; echo x > /data/g")
        t.eq(r.stdout, "from the host\n", "read works")
        t.eq(r.returncode, 1, "write fails")
        t.contains(r.stderr, "Read-only file system", "why")
        t.eq(os.listdir(host), ["f"], "nothing written")
        r = ctl(d, "run", "--rm", *NET, "-v", f"{host}:/data", "busybox", "sh", "-c",
                "echo y > /data/g")
        t.eq((r.returncode, read(os.path.join(host, "g"))), (0, "y\n"), "rw volume")
        r = ctl(d, "run", "--rm", *NET, "--read-only", "--tmpfs", "/scratch", "busybox", "sh",
                "-c", "grep ' /scratch ' /proc/mounts; echo ok > /scratch/x && cat /scratch/x; "
                "touch /x")
        t.contains(r.stdout, "tmpfs /scratch tmpfs rw", "--tmpfs mounted")
        t.contains(r.stdout, "ok\n", "tmpfs writable")
        t.eq(r.returncode, 1, "--read-only rootfs")
        t.contains(r.stderr, "touch: /x: Read-only file system", "why")


@test
def limits_reach_host_config(t):
    with Daemon() as d:
        r = ctl(d, "run", *NET, "--name", "lim", "-m", "64m", "--cpus", "0.5", "--pids-limit",
                "50", "--ulimit", "nofile=1000:1000", "busybox", "sh", "-c", "ulimit -n")
        t.eq((r.returncode, r.stdout), (0, "1000\n"), f"ulimit -n: {r.stderr}")
        host = inspect(d, "lim")["HostConfig"]
        t.eq((host["Memory"], host["NanoCpus"], host["PidsLimit"]), (64 << 20, 500000000, 50),
             "limits")
        t.eq(host["Ulimits"], [{"Name": "nofile", "Soft": 1000, "Hard": 1000}], "Ulimits")


@test
def process_options(t):
    env_file = os.path.join(_tmp, "env")
    with open(env_file, "w") as f:
        f.write("# a comment\nA=1\n\nB=two words\n")
    with Daemon() as d:
        def out(*args):
            r = ctl(d, "run", "--rm", *NET, *args)
            t.eq(r.returncode, 0, f"{args}: {r.stderr}")
            return r.stdout

        t.eq(out("-u", "1000", "busybox", "id", "-u"), "1000\n", "-u 1000")
        t.eq(out("-u", "1000:1000", "busybox", "id", "-g"), "1000\n", "-u 1000:1000")
        t.eq(out("-w", "/tmp", "busybox", "pwd"), "/tmp\n", "-w")
        t.eq(out("-w", "/new/dir", "busybox", "pwd"), "/new/dir\n", "-w creates the dir")
        t.eq(out("--entrypoint", "echo", "busybox", "a", "b"), "a b\n", "--entrypoint")
        t.eq(out("-h", "myhost", "busybox", "hostname"), "myhost\n", "-h")
        caps = out("--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status")
        t.eq(caps.split(), ["CapEff:", "0000000000000000"], "--cap-drop ALL")
        sealed = "mkdir /tmp/d && chmod 000 /tmp/d && ls /tmp/d"
        r = ctl(d, "run", "--rm", *NET, "--cap-drop", "ALL", "busybox", "sh", "-c", sealed)
        t.eq(r.returncode, 1, "no CAP_DAC_OVERRIDE: a mode 000 dir is closed to root")
        t.eq(out("busybox", "sh", "-c", sealed), "", "open with the default capabilities")
        t.eq(out("--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs",
                 "/proc/self/status").split(), ["NoNewPrivs:", "1"], "no-new-privileges")
        t.eq(out("busybox", "grep", "NoNewPrivs", "/proc/self/status").split(),
             ["NoNewPrivs:", "0"], "without it")
        env = out("--env-file", env_file, "-e", "C=3", "busybox", "env").splitlines()
        t.true({"A=1", "B=two words", "C=3"} <= set(env), f"--env-file: {env}")
        r = ctl(d, "run", "-d", *NET, "-l", "k=v", "--name", "lab", "busybox", "sleep", "100")
        ctl(d, "run", "-d", *NET, "-l", "k=w", "--name", "other", "busybox", "sleep", "100")
        t.eq(ctl(d, "ps", "-q", "-f", "label=k=v", "--no-trunc").stdout, r.stdout,
             "ps -f label=k=v")
        t.eq(inspect(d, "lab")["Config"]["Labels"], {"k": "v"}, "Labels")
        ctl(d, "kill", "lab", "other")


run()
