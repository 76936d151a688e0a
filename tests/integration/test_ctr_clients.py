#!/usr/bin/env python3
"""Containers through the clients people use: the docker CLI and isoctl against a real isod."""
import json
import time

from harness import docker, docker_clients, isoctl, run, test, wait_until

from ctrlib import Daemon, inspect


@test
def docker_cli_run_ps_logs_stop_rm_inspect(t):
    with Daemon() as d:
        for client in docker_clients():
            r = docker(client, d.sock, "run", "--rm", "busybox", "echo", "hi")
            t.eq((r.returncode, r.stdout), (0, "hi\n"), f"{client} run --rm: {r.stderr}")
            r = docker(client, d.sock, "run", "--rm", "busybox", "sh", "-c", "exit 7")
            t.eq(r.returncode, 7, f"{client} exit code passes through")
            r = docker(client, d.sock, "run", "--rm", "busybox", "nosuchcmd")
            t.eq(r.returncode, 127, f"{client} 127 for a missing command")
            t.contains(r.stderr, 'executable file not found', f"{client} docker's words")
            r = docker(client, d.sock, "run", "-d", "--name", "web", "busybox", "sh", "-c",
                       "echo started; exec sleep 1000")
            t.eq(r.returncode, 0, f"{client} run -d: {r.stderr}")
            cid = r.stdout.strip()
            t.eq(len(cid), 64, f"{client} run -d prints the id")
            r = docker(client, d.sock, "ps")
            t.eq(r.returncode, 0, f"{client} ps: {r.stderr}")
            t.contains(r.stdout, "web", f"{client} ps shows the name")
            t.contains(r.stdout, cid[:12], f"{client} ps shows the short id")
            t.contains(r.stdout, "Up ", f"{client} ps status")
            wait_until(lambda: "started" in docker(client, d.sock, "logs", "web").stdout, 10,
                       f"{client} logs")
            r = docker(client, d.sock, "inspect", "web")
            t.eq(r.returncode, 0, f"{client} inspect: {r.stderr}")
            info = json.loads(r.stdout)[0]
            t.eq((info["Id"], info["State"]["Running"], info["Name"]), (cid, True, "/web"),
                 f"{client} inspect fields")
            t0 = time.monotonic()
            r = docker(client, d.sock, "stop", "-t", "1", "web")
            t.eq((r.returncode, r.stdout.strip()), (0, "web"), f"{client} stop: {r.stderr}")
            t.true(time.monotonic() - t0 < 8, f"{client} stop escalates after the timeout")
            t.eq(inspect(d, cid)["State"]["ExitCode"], 137, f"{client} killed by SIGKILL")
            r = docker(client, d.sock, "rm", "web")
            t.eq(r.returncode, 0, f"{client} rm: {r.stderr}")
            r = docker(client, d.sock, "ps", "-a", "-q")
            t.eq(r.stdout.strip(), "", f"{client} nothing left")


@test
def isoctl_run_ps_logs_stop_rm(t):
    with Daemon() as d:
        r = isoctl("run", "--rm", "--network", "none", "busybox", "echo", "hi", host=d.sock)
        t.eq((r.returncode, r.stdout), (0, "hi\n"), f"run --rm: {r.stderr}")
        r = isoctl("run", "--rm", "busybox", "sh", "-c", "exit 3", host=d.sock)
        t.eq(r.returncode, 3, "exit code passes through")
        r = isoctl("run", "--rm", "busybox", "nosuchcmd", host=d.sock)
        t.eq(r.returncode, 127, "127 for a missing command")
        t.contains(r.stderr, "executable file not found", "docker's words")
        r = isoctl("run", "-i", "--rm", "busybox", "cat", host=d.sock, input="through stdin\n")
        t.eq(r.stdout, "through stdin\n", f"-i passes stdin: {r.stderr}")
        r = isoctl("run", "-d", "--name", "web", "-m", "64m", "--cpus", "0.5", "-e", "A=b",
                   "busybox", "sh", "-c", "echo $A; exec sleep 1000", host=d.sock)
        t.eq(r.returncode, 0, f"run -d: {r.stderr}")
        cid = r.stdout.strip()
        host = inspect(d, cid)["HostConfig"]
        t.eq((host["Memory"], host["NanoCpus"]), (64 << 20, 500000000), "limits reached isod")
        r = isoctl("ps", host=d.sock)
        t.contains(r.stdout, "CONTAINER ID", "ps header")
        t.contains(r.stdout, "web", "ps shows the name")
        r = isoctl("ps", "-q", "--no-trunc", host=d.sock)
        t.eq(r.stdout.strip(), cid, "ps -q --no-trunc")
        wait_until(lambda: isoctl("logs", "web", host=d.sock).stdout == "b\n", 10, "logs")
        r = isoctl("stop", "-t", "1", "web", host=d.sock)
        t.eq((r.returncode, r.stdout.strip()), (0, "web"), f"stop: {r.stderr}")
        r = isoctl("ps", "-a", "--format", "json", host=d.sock)
        rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        t.eq(len(rows), 1, "one container in ps -a")
        t.contains(rows[0].get("Status", rows[0].get("State", "")), "xited", "exited")
        r = isoctl("rm", "web", host=d.sock)
        t.eq(r.returncode, 0, f"rm: {r.stderr}")
        r = isoctl("rm", "web", host=d.sock)
        t.eq(r.returncode, 1, "rm of a missing container fails")
        t.contains(r.stderr, "No such container", "message")


run()
