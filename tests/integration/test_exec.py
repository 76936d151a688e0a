#!/usr/bin/env python3
"""docker exec through the API, isoctl and the docker CLI: exit codes, env, user, workdir,
tty, stdin, namespaces, capabilities, errors, and an interactive session in tmux."""
import json
import os
import shutil
import subprocess
import time

from harness import (Failure, docker, docker_clients, isoctl, run, test, wait_until)

from ctrlib import (Daemon, create, demux, exec_create, exec_start, inspect, read_all, rm, start,
                    upgrade)


def running(d, cmd=None, **cfg):
    cid = create(d, cmd or ["sleep", "1000"], **cfg)
    start(d, cid)
    return cid


def exec_inspect(d, eid):
    r = d.get(f"/v1.44/exec/{eid}/json")
    if r.status != 200:
        raise Failure(f"exec inspect: {r.status} {r.body!r}")
    return r.json()


def exec_run(d, cid, cmd, stdin=None, **cfg):
    """(exit code, stdout, stderr, exec id); the code read right after the stream ends."""
    eid = exec_create(d, cid, cmd, AttachStdin=stdin is not None, **cfg)
    raw = exec_start(d, eid, tty=cfg.get("Tty", False), stdin=stdin)
    code = exec_inspect(d, eid)["ExitCode"]
    if cfg.get("Tty"):
        return code, raw.decode(errors="replace"), "", eid
    out, err = demux(raw)
    return code, out, err, eid


@test
def exec_exit_codes_and_output(t):
    with Daemon() as d:
        cid = running(d)
        t.eq(exec_run(d, cid, ["echo", "hi"])[:3], (0, "hi\n", ""), "echo")
        t.eq(exec_run(d, cid, ["sh", "-c", "echo out; echo err >&2; exit 3"])[:3],
             (3, "out\n", "err\n"), "exit 3")
        code, out, err, eid = exec_run(d, cid, ["nosuch"])
        t.eq(code, 127, "not found")
        t.contains(out + err, 'exec: "nosuch": executable file not found in $PATH', "message")
        code, out, err, _ = exec_run(d, cid, ["/etc"])
        t.eq(code, 126, "not runnable")
        t.contains(out + err, "permission denied", "message")
        x = exec_inspect(d, eid)
        t.eq((x["Running"], x["ExitCode"], x["ContainerID"]), (False, 127, cid), "record")
        t.eq(x["ProcessConfig"]["entrypoint"], "nosuch", "entrypoint")
        rm(d, cid, force=True)


@test
def exec_env_user_workdir(t):
    with Daemon() as d:
        cid = running(d, Env=["FROMCTR=1"])
        code, out, _, _ = exec_run(d, cid, ["sh", "-c", "echo $FOO $FROMCTR $HOSTNAME"],
                                   Env=["FOO=bar"])
        t.eq(out, f"bar 1 {cid[:12]}\n", "env")
        t.eq(exec_run(d, cid, ["id", "-u"], User="1000")[1], "1000\n", "user")
        t.eq(exec_run(d, cid, ["id", "-un"])[1], "root\n", "default user")
        t.eq(exec_run(d, cid, ["pwd"], WorkingDir="/etc")[1], "/etc\n", "workdir")
        rm(d, cid, force=True)


@test
def exec_tty_and_stdin(t):
    with Daemon() as d:
        cid = running(d)
        code, out, _, _ = exec_run(d, cid, ["tty"], Tty=True)
        t.eq(code, 0, "tty exit")
        t.true(out.strip().startswith("/dev/pts/"), f"tty output raw: {out!r}")
        code, out, _, _ = exec_run(d, cid, ["sh", "-c", "cat; echo done"], stdin=b"abc\n")
        t.eq((code, out), (0, "abc\ndone\n"), "stdin")
        rm(d, cid, force=True)


@test
def exec_console_size_and_resize(t):
    with Daemon() as d:
        cid = running(d)
        t.eq(exec_run(d, cid, ["stty", "size"], Tty=True, ConsoleSize=[30, 100])[1].strip(),
             "30 100", "ConsoleSize")
        eid = exec_create(d, cid, ["sh", "-c", "sleep 1; stty size"], Tty=True)
        s, out = upgrade(d, f"/v1.44/exec/{eid}/start",
                         json.dumps({"Detach": False, "Tty": True}).encode(), "exec start")
        r = d.req("POST", f"/v1.44/exec/{eid}/resize?h=33&w=77")
        t.eq(r.status, 200, "resize")
        out = read_all(s, out)
        s.close()
        t.contains(out.decode(errors="replace"), "33 77", "resized")
        t.eq(exec_inspect(d, eid)["ExitCode"], 0, "exit")
        rm(d, cid, force=True)


@test
def exec_sees_the_container(t):
    with Daemon() as d:
        cid = running(d)
        t.eq(exec_run(d, cid, ["hostname"])[1], cid[:12] + "\n", "hostname")
        out = exec_run(d, cid, ["ps", "-o", "pid,args"])[1]
        first = [ln.split(None, 1) for ln in out.splitlines()[1:]]
        t.true(["1", "sleep 1000"] in first, f"ps shows the init as 1: {out!r}")
        init = d.get(f"/v1.44/containers/{cid}/top").json()
        capi = exec_run(d, cid, ["grep", "CapEff", "/proc/1/status"])[1]
        cape = exec_run(d, cid, ["grep", "CapEff", "/proc/self/status"])[1]
        t.eq(cape, capi, "same capabilities as the init")
        t.true(init is not None, "top")
        rm(d, cid, force=True)


@test
def exec_errors(t):
    with Daemon() as d:
        cid = create(d, ["true"])
        r = exec_create(d, cid, ["echo"], status=409)
        t.contains(r["message"], "is not running", "409 message")
        exec_create(d, "nosuch", ["echo"], status=404)
        exec_create(d, cid, [], status=400)
        r = d.get("/v1.44/exec/" + "0" * 64 + "/json")
        t.eq(r.status, 404, "no such exec")
        rm(d, cid)


@test
def exec_detached_records_the_exit(t):
    with Daemon() as d:
        cid = running(d)
        eid = exec_create(d, cid, ["sh", "-c", "exit 5"])
        r = d.req("POST", f"/v1.44/exec/{eid}/start", body=json.dumps({"Detach": True}),
                  headers={"Content-Type": "application/json"})
        t.eq(r.status, 200, "detached start")
        wait_until(lambda: exec_inspect(d, eid)["ExitCode"] == 5, 10, "exit code 5")
        rm(d, cid, force=True)


@test
def exec_dies_with_the_container(t):
    with Daemon() as d:
        cid = running(d)
        eid = exec_create(d, cid, ["sleep", "1000"])
        r = d.req("POST", f"/v1.44/exec/{eid}/start", body=json.dumps({"Detach": True}),
                  headers={"Content-Type": "application/json"})
        t.eq(r.status, 200, "detached start")
        t.eq(exec_inspect(d, eid)["Running"], True, "running")
        t.eq(inspect(d, cid)["ExecIDs"], [eid], "ExecIDs")
        d.req("POST", f"/v1.44/containers/{cid}/kill")
        wait_until(lambda: not exec_inspect(d, eid)["Running"], 10, "exec over")
        rm(d, cid, force=True)


@test
def docker_cli_exec(t):
    with Daemon() as d:
        cid = running(d)
        for client in docker_clients():
            r = docker(client, d.sock, "exec", cid, "echo", "hi")
            t.eq((r.returncode, r.stdout, r.stderr), (0, "hi\n", ""), f"{client} exec")
            r = docker(client, d.sock, "exec", cid, "sh", "-c", "exit 3")
            t.eq(r.returncode, 3, f"{client} exit code")
            r = docker(client, d.sock, "exec", cid, "nosuch")
            t.eq(r.returncode, 127, f"{client} not found")
            r = docker(client, d.sock, "exec", "-u", "1000", "-w", "/tmp", "-e", "A=b", cid,
                       "sh", "-c", "echo $(id -u) $(pwd) $A")
            t.eq(r.stdout, "1000 /tmp b\n", f"{client} options")
        rm(d, cid, force=True)


@test
def isoctl_exec(t):
    with Daemon() as d:
        cid = running(d)
        r = isoctl("exec", cid, "echo", "hi", host=d.sock)
        t.eq((r.returncode, r.stdout), (0, "hi\n"), "echo")
        t.eq(isoctl("exec", cid, "sh", "-c", "exit 3", host=d.sock).returncode, 3, "exit 3")
        r = isoctl("exec", cid, "nosuch", host=d.sock)
        t.eq(r.returncode, 127, "not found")
        t.contains(r.stdout, 'exec: "nosuch": executable file not found in $PATH', "message")
        t.eq(isoctl("exec", cid, "/etc", host=d.sock).returncode, 126, "not runnable")
        r = isoctl("exec", "-u", "1000", "-w", "/tmp", "-e", "A=b", cid, "sh", "-c",
                   "echo $(id -u) $(pwd) $A", host=d.sock)
        t.eq(r.stdout, "1000 /tmp b\n", "options")
        r = isoctl("exec", "-i", cid, "sh", "-c", "cat; echo end", host=d.sock,
                   input="piped\n")
        t.eq((r.returncode, r.stdout), (0, "piped\nend\n"), "stdin")
        r = isoctl("exec", "-t", cid, "tty", host=d.sock)
        t.true(r.stdout.startswith("/dev/pts/"), f"tty: {r.stdout!r}")
        t.eq(isoctl("exec", "-d", cid, "sleep", "1", host=d.sock).returncode, 0, "detached")
        r = isoctl("exec", "--privileged", cid, "grep", "CapEff", "/proc/self/status",
                   host=d.sock)
        t.true(r.stdout.split()[1] != exec_run(d, cid, ["grep", "CapEff", "/proc/self/status"])
               [1].split()[1], "privileged has more capabilities")
        stopped = create(d, ["true"])
        r = isoctl("exec", stopped, "echo", host=d.sock)
        t.eq(r.returncode, 1, "stopped container")
        t.contains(r.stderr, "is not running", "stopped message")
        rm(d, stopped)
        rm(d, cid, force=True)


def pane(name):
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True,
                          text=True).stdout


@test
def isoctl_exec_interactive_in_tmux(t):
    if not shutil.which("tmux"):
        raise Failure("tmux is not installed (scripts/deps.sh installs it)")
    from harness import ISOCTL
    with Daemon() as d:
        cid = running(d)
        name = f"isod-exec-{os.getpid()}-{time.monotonic_ns()}"
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "24",
                        f"{ISOCTL} -H unix://{d.sock} exec -it {cid} sh"], check=True)
        try:
            wait_until(lambda: "/ #" in pane(name), 10, "the shell's prompt")
            subprocess.run(["tmux", "send-keys", "-t", name, "echo $((6*7))", "Enter"],
                           check=True)
            wait_until(lambda: "\n42\n" in pane(name), 10, "42 on the screen")
            subprocess.run(["tmux", "send-keys", "-t", name, "stty size", "Enter"], check=True)
            wait_until(lambda: "24 80" in pane(name), 10, "the tmux size in the container")
            subprocess.run(["tmux", "send-keys", "-t", name, "exit", "Enter"], check=True)
            wait_until(lambda: subprocess.run(["tmux", "has-session", "-t", name],
                                              capture_output=True).returncode != 0,
                       10, "isoctl to exit with the shell")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        rm(d, cid, force=True)


if __name__ == "__main__":
    run()
