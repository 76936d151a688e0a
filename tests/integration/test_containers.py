#!/usr/bin/env python3
"""Containers through the API: real containers from a busybox image, checked from the inside
(isolation, limits, confinement) and from the outside (lifecycle, exit codes, logs, attach,
restart policies, isod restarts, leaks)."""
import json
import os
import socket
import subprocess
import tempfile
import time

from harness import (Failure, Isod, cgroup_dirs, request, run, test, wait_until)

from ctrlib import (Daemon, create, ctr_cgroups, daemon, demux, inspect, logs, read_all, rm,
                    run_ctr, start, upgrade, wait)


# ---- the basics ----

@test
def echo_runs_and_exit_code_is_reported(t):
    with Daemon() as d:
        code, out, err, cid = run_ctr(d, ["sh", "-c", "echo hi; echo oops >&2; exit 3"])
        t.eq(code, 3, "exit code")
        t.eq(out, "hi\n", "stdout")
        t.eq(err, "oops\n", "stderr")
        st = inspect(d, cid)["State"]
        t.eq((st["Status"], st["ExitCode"], st["Running"]), ("exited", 3, False), "state")
        rm(d, cid)
        t.eq(d.get(f"/v1.44/containers/{cid}/json").status, 404, "gone after rm")


@test
def pid1_is_the_command_and_host_processes_are_invisible(t):
    with Daemon() as d:
        code, out, _, _ = run_ctr(d, ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                                      "ls /proc | grep -c '^[0-9]'"])
        lines = out.splitlines()
        t.eq(code, 0)
        t.eq(lines[0].strip(), "sh -c cat /proc/1/cmdline | tr '\\0' ' '; echo; "
             "ls /proc | grep -c '^[0-9]'", "PID 1's command line")
        # sh, cat/tr or ls/grep: a handful, never the host's hundreds.
        t.true(int(lines[1]) <= 4, f"few processes visible, got {lines[1]}")


@test
def hostname_is_the_containers(t):
    with Daemon() as d:
        _, out, _, cid = run_ctr(d, ["hostname"])
        t.eq(out.strip(), cid[:12], "default hostname")
        _, out, _, _ = run_ctr(d, ["hostname"], Hostname="web1")
        t.eq(out.strip(), "web1", "-h web1")
        _, out, _, _ = run_ctr(d, ["cat", "/etc/hostname"], Hostname="web1")
        t.eq(out.strip(), "web1", "/etc/hostname")


@test
def proc_kcore_is_masked_and_proc_sys_read_only(t):
    # Docker's masked paths that this kernel has (/proc/kcore only exists with
    # CONFIG_PROC_KCORE); the host reads them non-empty, the container reads nothing.
    masked = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list")
              if os.path.exists(p)]
    t.true(masked, "the host has a masked path to check")
    with Daemon() as d:
        script = "".join(f"echo {p}=$(cat {p} 2>/dev/null | wc -c); " for p in masked)
        code, out, err, _ = run_ctr(d, ["sh", "-c", script +
                                        "echo 1 > /proc/sys/kernel/ns_last_pid && echo wrote"])
        for p in masked:
            t.contains(out, f"{p}=0\n", f"{p} reads empty")
        t.true("wrote" not in out, "writing /proc/sys must fail")
        t.contains(err, "Read-only file system", "error writing /proc/sys")


@test
def rootfs_is_the_image_and_writes_go_to_upper_then_vanish(t):
    with Daemon() as d:
        code, out, _, cid = run_ctr(d, ["sh", "-c", "cat /etc/motd; ls /; echo data > /new"])
        t.eq(code, 0)
        t.contains(out, "image motd", "a file of the image")
        t.true("boot" not in out.split(), "no host directories in /")
        upper = os.path.join(d.root, "containers", cid, "upper", "new")
        t.eq(open(upper).read(), "data\n", "the write landed in the container's upper dir")
        rm(d, cid)
        t.true(not os.path.exists(os.path.join(d.root, "containers", cid)), "state dir removed")


@test
def no_mounts_cgroups_or_processes_left_after_rm(t):
    with Daemon() as d:
        cid = create(d, ["sleep", "1000"], host={"Memory": 64 << 20})
        start(d, cid)
        t.true(ctr_cgroups(d, cid), "the container has cgroups while running")
        pid = inspect(d, cid)["State"]["Pid"]
        t.true(pid > 0 and os.path.exists(f"/proc/{pid}"), "init runs on the host")
        rm(d, cid, force=True)
        t.eq(ctr_cgroups(d, cid), [], "cgroups after rm -f")
        t.true(not os.path.exists(f"/proc/{pid}") or
               open(f"/proc/{pid}/stat").read().split()[2] == "Z", "init gone")
        with open("/proc/self/mountinfo") as f:
            t.true(cid not in f.read(), "no mount of the container on the host")


# ---- exit codes and errors ----

@test
def missing_command_is_127_with_dockers_words(t):
    with Daemon() as d:
        cid = create(d, ["nosuch"])
        r = start(d, cid, status=400)
        t.contains(r.json()["message"], 'exec: "nosuch": executable file not found in $PATH')
        st = inspect(d, cid)["State"]
        t.eq(st["ExitCode"], 127, "ExitCode")
        t.contains(st["Error"], "executable file not found")
        cid = create(d, ["/etc"])
        r = start(d, cid, status=400)
        t.contains(r.json()["message"], "permission denied")
        t.eq(inspect(d, cid)["State"]["ExitCode"], 126, "a directory is 126")


@test
def bad_create_requests_get_clear_4xx(t):
    with Daemon() as d:
        hdr = {"Content-Type": "application/json"}
        r = d.req("POST", "/v1.44/containers/create", body="{not json", headers=hdr)
        t.eq(r.status, 400, "bad JSON")
        r = d.req("POST", "/v1.44/containers/create", body=json.dumps({"Image": "nosuch"}),
                  headers=hdr)
        t.eq(r.status, 404, "missing image")
        t.contains(r.json()["message"], "No such image: nosuch")
        t.contains(create(d, ["true"], host={"Memory": 1024}, status=400)["message"],
                   "Minimum memory limit")
        t.contains(create(d, ["true"], Cmd="x", Env=[1], status=400)["message"], "Env")
        t.contains(create(d, ["true"], host={"RestartPolicy": {"Name": "sometimes"}},
                          status=400)["message"], "restart policy")
        t.contains(create(d, ["true"], host={"CapAdd": ["CAP_NOPE"]}, status=400)["message"],
                   "CAP_NOPE")
        t.contains(create(d, ["true"], host={"Binds": ["vol:/data"]}, status=400)["message"],
                   "named volumes")
        create(d, ["true"], name="taken")
        t.contains(create(d, ["true"], name="taken", status=409)["message"], "already in use")
        t.contains(create(d, ["true"], name="bad name!", status=400)["message"],
                   "Invalid container name")
        t.eq(d.get("/_ping").status, 200, "daemon still answers")
        r = d.get("/v1.44/containers/json?all=1")
        t.eq(len(r.json()), 1, "only the one good container exists")


@test
def signal_reaches_pid1_and_stop_escalates_to_kill(t):
    with Daemon() as d:
        cid = create(d, ["sh", "-c", "trap 'echo got-term; exit 7' TERM; "
                         "while true; do sleep 0.1; done"])
        start(d, cid)
        wait_until(lambda: "running" == inspect(d, cid)["State"]["Status"], 5, "running")
        time.sleep(0.3)  # let sh install its trap
        r = d.req("POST", f"/v1.44/containers/{cid}/kill?signal=TERM")
        t.eq(r.status, 204, "kill -s TERM")
        t.eq(wait(d, cid), 7, "the trap's exit code")
        t.contains(logs(d, cid)[0], "got-term")

        cid = create(d, ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"])
        start(d, cid)
        time.sleep(0.3)
        t0 = time.monotonic()
        r = d.req("POST", f"/v1.44/containers/{cid}/stop?t=1")
        took = time.monotonic() - t0
        t.eq(r.status, 204, "stop")
        t.true(0.9 <= took < 5, f"stop took {took:.2f}s with t=1")
        t.eq(inspect(d, cid)["State"]["ExitCode"], 137, "SIGKILL after the timeout")
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/stop").status, 304, "stop again: 304")
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/kill").status, 409, "kill stopped: 409")
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/kill?signal=NOPE").status, 400,
             "bad signal")


# ---- limits ----

@test
def memory_limit_oom_kills_and_inspect_says_so(t):
    with Daemon() as d:
        code, _, _, cid = run_ctr(d, ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)"],
                                  host={"Memory": 32 << 20, "MemorySwap": 32 << 20})
        st = inspect(d, cid)["State"]
        t.eq(st["OOMKilled"], True, "OOMKilled")
        t.eq(code, 137, "exit code of an OOM kill")


@test
def pids_limit_stops_a_fork_bomb(t):
    with Daemon() as d:
        # The subshell forks until the limit stops it; the shell then execs (no fork).
        cid = create(d, ["sh", "-c", "(i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); "
                         "done) 2>/dev/null; exec sleep 30"], host={"PidsLimit": 20})
        start(d, cid)
        time.sleep(1.5)
        pids = [os.path.join(p, "pids.current") for p in ctr_cgroups(d, cid)
                if "/pids/" in p or os.path.exists(os.path.join(p, "pids.current"))]
        t.true(pids, "the container has a pids cgroup")
        with open(pids[0]) as f:
            n = int(f.read())
        t.true(10 <= n <= 20, f"the bomb ran into the limit of 20 processes: {n}")
        t.eq(d.get("/_ping").status, 200, "the daemon is unaffected")
        rm(d, cid, force=True)


@test
def cpu_quota_holds_a_busy_loop_near_its_limit(t):
    with Daemon() as d:
        cid = create(d, ["sh", "-c", "while :; do :; done"], host={"NanoCpus": 500000000})
        start(d, cid)
        cg = [p for p in ctr_cgroups(d, cid) if "cpuacct" in p]
        t.true(cg, "a cpuacct cgroup")
        usage = os.path.join(cg[0], "cpuacct.usage")
        u0, t0 = int(open(usage).read()), time.monotonic()
        time.sleep(2)
        u1, t1 = int(open(usage).read()), time.monotonic()
        share = (u1 - u0) / 1e9 / (t1 - t0)
        rm(d, cid, force=True)
        t.true(0.3 < share < 0.7, f"CPU share {share:.2f} with --cpus 0.5")


# ---- confinement ----

@test
def mount_keyctl_and_unshare_are_denied(t):
    with Daemon() as d:
        code, out, _, _ = run_ctr(d, ["sh", "-c", "probe mount; probe keyctl; probe unshare"])
        t.contains(out, "mount: Operation not permitted")
        t.contains(out, "keyctl: Operation not permitted")
        t.contains(out, "unshare: Operation not permitted")


@test
def default_capabilities_and_cap_add_drop(t):
    with Daemon() as d:
        _, out, _, _ = run_ctr(d, ["sh", "-c", "grep CapEff /proc/self/status"])
        t.eq(out.split()[1], "00000000a80425fb", "Docker's default set")
        _, out, _, _ = run_ctr(d, ["sh", "-c", "grep CapEff /proc/self/status"],
                               host={"CapDrop": ["ALL"], "CapAdd": ["NET_ADMIN"]})
        t.eq(out.split()[1], "0000000000001000", "only NET_ADMIN")


@test
def no_host_fd_reaches_the_container(t):
    with Daemon() as d:
        _, out, _, _ = run_ctr(d, ["probe", "fds"])
        fds = sorted(int(l.split()[0]) for l in out.splitlines())
        t.eq(fds, [0, 1, 2], f"only stdio open: {out!r}")


@test
def user_and_groups_from_the_image(t):
    with Daemon() as d:
        _, out, _, _ = run_ctr(d, ["id"], User="app")
        t.eq(out.strip(), "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)")
        _, out, _, _ = run_ctr(d, ["id"], User="1000:0")
        t.contains(out, "uid=1000(app) gid=0(root)")
        cid = create(d, ["id"], User="nosuchuser")
        r = start(d, cid, status=500)
        t.contains(r.json()["message"], "nosuchuser")


@test
def ulimits_apply_and_an_impossible_one_is_refused(t):
    with Daemon() as d:
        _, out, _, _ = run_ctr(d, ["sh", "-c", "ulimit -n"],
                               host={"Ulimits": [{"Name": "nofile", "Soft": 512, "Hard": 1024}]})
        t.eq(out.strip(), "512", "ulimit -n")
        r = create(d, ["true"], host={"Ulimits": [{"Name": "nofile", "Soft": 1 << 30,
                                                    "Hard": 1 << 30}]}, status=400)
        t.contains(r["message"], "nofile")


@test
def workdir_and_mounts_cannot_escape_through_image_symlinks(t):
    with Daemon() as d:
        marker = tempfile.mkdtemp(prefix="isod-escape-", dir="/tmp")
        host_src = tempfile.mkdtemp(prefix="isod-src-")
        try:
            with open(os.path.join(host_src, "f"), "w") as f:
                f.write("bind content\n")
            # /escape in the image points far above the root: a mount or chdir through it
            # must stay inside the container.
            code, out, err, _ = run_ctr(d, ["sh", "-c", "cat /escape/" + os.path.basename(marker)
                                            + "/f 2>&1; pwd"],
                                        host={"Binds": [host_src + ":/escape/" +
                                                        os.path.basename(marker)]},
                                        WorkingDir="/escape/wd")
            t.eq(os.listdir(marker), [], "nothing mounted or created in the host's /tmp")
            t.contains(out, "bind content", "the bind mount is visible inside")
        finally:
            os.rmdir(marker) if not os.listdir(marker) else None
            subprocess.run(["rm", "-rf", host_src])


@test
def read_only_rootfs_and_tmpfs(t):
    with Daemon() as d:
        _, out, err, _ = run_ctr(d, ["sh", "-c", "touch /x 2>&1; touch /run/y && echo tmpfs-ok"],
                                 host={"ReadonlyRootfs": True, "Tmpfs": {"/run": "size=1m"}})
        t.contains(out, "Read-only file system")
        t.contains(out, "tmpfs-ok")


@test
def network_none_has_only_loopback(t):
    with Daemon() as d:
        _, out, _, _ = run_ctr(d, ["sh", "-c", "cat /proc/net/dev | tail -n +3 | cut -d: -f1"])
        t.eq([l.strip() for l in out.splitlines()], ["lo"], "interfaces")
        r = d.req("POST", "/v1.44/containers/create",
                  body=json.dumps({"Image": "busybox", "Cmd": ["true"],
                                   "HostConfig": {"NetworkMode": "default"}}),
                  headers={"Content-Type": "application/json"})
        t.eq(r.status, 201)
        t.contains(" ".join(r.json()["Warnings"]), "network none")


# ---- lifecycle ----

@test
def list_filters_and_states(t):
    with Daemon() as d:
        a = create(d, ["sleep", "100"], name="alpha", Labels={"app": "web"})
        b = create(d, ["true"], name="beta")
        start(d, a)
        start(d, b)
        wait(d, b)
        names = lambda q: sorted(c["Names"][0] for c in d.get("/v1.44/containers/json" + q).json())
        t.eq(names(""), ["/alpha"], "running only")
        t.eq(names("?all=1"), ["/alpha", "/beta"], "all")
        t.eq(names('?all=1&filters={"status":["exited"]}'), ["/beta"], "status filter")
        t.eq(names('?all=1&filters={"label":["app=web"]}'), ["/alpha"], "label filter")
        t.eq(names('?all=1&filters={"name":["bet"]}'), ["/beta"], "name filter")
        t.eq(names('?all=1&filters={"ancestor":["busybox"]}'), ["/alpha", "/beta"], "ancestor")
        t.eq(d.get('/v1.44/containers/json?filters={"bogus":["x"]}').status, 400, "bad filter")
        s = [c for c in d.get("/v1.44/containers/json").json()][0]
        t.true(s["Status"].startswith("Up "), s["Status"])
        t.eq(s["Command"], "sleep 100")
        t.eq(inspect(d, a[:8])["Id"], a, "id prefix")
        r = d.req("POST", f"/v1.44/containers/{a}/rename?name=gamma")
        t.eq(r.status, 204)
        t.eq(inspect(d, "gamma")["Id"], a)
        # The list is served from a per-container serialization: it must say what the JSON
        # path (size=1) says, also after a rename and a state change.
        def strip(rows):
            return [{k: v for k, v in r.items() if k not in ("SizeRw", "Status")} for r in rows]
        fast = d.get("/v1.44/containers/json?all=1").json()
        slow = d.get("/v1.44/containers/json?all=1&size=1").json()
        t.eq(strip(fast), strip(slow), "cached list matches the JSON path")
        t.eq(sorted(c["Names"][0] for c in fast), ["/beta", "/gamma"], "renamed in the list")
        t.true(all("Status" in c for c in fast), "status present")
        df = d.get("/v1.44/system/df").json()
        t.eq(sorted(c["Names"][0] for c in df["Containers"]), ["/beta", "/gamma"],
             "system df lists the containers")
        t.eq(d.req("POST", f"/v1.44/containers/{a}/pause").status, 204)
        fast = d.get('/v1.44/containers/json?filters={"name":["gamma"]}').json()
        t.eq((fast[0]["State"], "(Paused)" in fast[0]["Status"]), ("paused", True),
             "state change shows")
        t.eq(d.req("POST", f"/v1.44/containers/{a}/unpause").status, 204)
        t.eq(d.req("DELETE", f"/v1.44/containers/{a}").status, 409, "rm running without -f")
        rm(d, a, force=True)
        r = d.req("POST", "/v1.44/containers/prune")
        t.eq(r.json()["ContainersDeleted"], [b], "prune removes the stopped one")


@test
def pause_freezes_and_unpause_thaws(t):
    with Daemon() as d:
        cid = create(d, ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; done"])
        start(d, cid)
        upper = os.path.join(d.root, "containers", cid, "upper", "tmp", "n")
        wait_until(lambda: os.path.exists(upper), 5, "counter file")
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/pause").status, 204)
        t.eq(inspect(d, cid)["State"]["Status"], "paused")
        a = open(upper).read()
        time.sleep(0.3)
        t.eq(open(upper).read(), a, "no progress while paused")
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/unpause").status, 204)
        wait_until(lambda: open(upper).read() != a, 5, "progress after unpause")
        rm(d, cid, force=True)


@test
def wait_removed_with_autoremove(t):
    with Daemon() as d:
        cid = create(d, ["sh", "-c", "exit 4"], host={"AutoRemove": True})
        # the wait headers come before the start, as docker run does it
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.sock)
        s.sendall(f"POST /v1.44/containers/{cid}/wait?condition=removed HTTP/1.1\r\n"
                  "Host: x\r\nContent-Length: 0\r\n\r\n".encode())
        s.settimeout(5)
        head = s.recv(4096)
        t.contains(head.decode(), "200 OK", "headers flushed before start")
        start(d, cid)
        body = head
        while b'StatusCode' not in body:
            chunk = s.recv(4096)
            if not chunk:
                break
            body += chunk
        s.close()
        t.contains(body.decode(), '"StatusCode":4')
        t.eq(d.get(f"/v1.44/containers/{cid}/json").status, 404, "removed")


@test
def restart_policy_on_failure_retries_then_gives_up(t):
    with Daemon() as d:
        cid = create(d, ["sh", "-c", "exit 1"],
                     host={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
        start(d, cid)
        wait_until(lambda: inspect(d, cid)["RestartCount"] == 2 and
                   inspect(d, cid)["State"]["Status"] == "exited", 15, "two restarts")
        time.sleep(0.5)
        t.eq(inspect(d, cid)["RestartCount"], 2, "no third restart")


@test
def kill9_of_isod_keeps_containers_and_records_exits(t):
    d = daemon()
    try:
        long = create(d, ["sleep", "1000"], name="long")
        short = create(d, ["sh", "-c", "sleep 1; exit 5"], name="short")
        gone = create(d, ["sh", "-c", "sleep 1"], name="gone", host={"AutoRemove": True})
        always = create(d, ["sh", "-c", "sleep 1; exit 1"], name="always",
                        host={"RestartPolicy": {"Name": "always"}})
        for c in (long, short, gone, always):
            start(d, c)
        pid = inspect(d, long)["State"]["Pid"]
        d.proc.kill()
        d.proc.wait()
        time.sleep(1.5)  # the short ones exit while isod is down
        t.true(os.path.exists(f"/proc/{pid}"), "the container outlived isod")
        d.start()
        t.eq(inspect(d, long)["State"]["Status"], "running", "still running after restart")
        t.eq(inspect(d, long)["State"]["Pid"], pid, "same process")
        st = inspect(d, short)["State"]
        t.eq((st["Status"], st["ExitCode"]), ("exited", 5), "exit recorded while down")
        wait_until(lambda: d.get(f"/v1.44/containers/{gone}/json").status == 404, 5,
                   "--rm container removed")
        wait_until(lambda: inspect(d, always)["RestartCount"] >= 1, 10, "always restarted")
        r = d.req("POST", f"/v1.44/containers/{long}/kill")
        t.eq(r.status, 204)
        t.eq(wait(d, long), 137, "a later exit is recorded")
        for c in (long, short, always):
            rm(d, c, force=True)
    finally:
        d.stop()
        d.cleanup()


# ---- logs and attach ----

def attach(d, cid, query="stream=1&stdout=1&stderr=1"):
    """An upgraded attach connection: (socket, bytes after the headers)."""
    return upgrade(d, f"/v1.44/containers/{cid}/attach?{query}", what="attach")


@test
def logs_tail_since_timestamps_and_streams(t):
    with Daemon() as d:
        code, _, _, cid = run_ctr(d, ["sh", "-c", "for i in 1 2 3 4 5; do echo out$i; done; "
                                      "echo err1 >&2"])
        t.eq(code, 0)
        out, err = logs(d, cid, "stdout=1&stderr=1&tail=2")
        t.eq(out + err, "out5\nerr1\n", "tail=2 over both streams")
        out, err = logs(d, cid, "stdout=1")
        t.eq((out, err), ("out1\nout2\nout3\nout4\nout5\n", ""), "stdout only")
        out, _ = logs(d, cid, "stdout=1&timestamps=1&tail=2")
        stamp, _, text = out.partition(" ")
        t.eq(text, "out5\n", "text after the stamp")
        t.true(len(stamp) == 30 and stamp.endswith("Z"), f"RFC 3339 nano stamp: {stamp!r}")
        out, _ = logs(d, cid, f"stdout=1&since={int(time.time()) + 60}")
        t.eq(out, "", "since in the future")
        r = d.get(f"/v1.44/containers/{cid}/logs")
        t.eq(r.status, 400, "no stream chosen")
        r = d.get("/v1.44/containers/nosuch/logs?stdout=1")
        t.eq(r.status, 404, "missing container")
        rm(d, cid)


@test
def logs_follow_survives_rotation_and_ends_at_exit(t):
    with Daemon() as d:
        # 200 lines of ~100 bytes with max-size 4k rotate many times; max-file 100 keeps all.
        cid = create(d, ["sh", "-c", "sleep 1; i=0; while [ $i -lt 200 ]; do "
                         "echo line$i-$(printf '%090d' 0); i=$((i+1)); done"],
                     host={"LogConfig": {"Type": "json-file",
                                         "Config": {"max-size": "4k", "max-file": "100"}}})
        start(d, cid)
        r = d.get(f"/v1.44/containers/{cid}/logs?stdout=1&follow=1", timeout=30)
        t.eq(r.status, 200)
        out, _ = demux(r.body)
        lines = out.splitlines()
        t.eq(len(lines), 200, "every line, across rotations")
        t.true(all(lines[i].startswith(f"line{i}-") for i in range(len(lines))), "in order")
        dirs = os.listdir(os.path.join(d.root, "containers", cid))
        t.true(any(n.endswith("-json.log.1") for n in dirs), "the log rotated")
        rm(d, cid)


@test
def log_rotation_keeps_max_file(t):
    with Daemon() as d:
        code, _, _, cid = run_ctr(d, ["sh", "-c", "i=0; while [ $i -lt 300 ]; do "
                                      "echo $(printf '%0100d' $i); i=$((i+1)); done"],
                                  host={"LogConfig": {"Type": "json-file",
                                                      "Config": {"max-size": "2k",
                                                                 "max-file": "2"}}})
        t.eq(code, 0)
        files = sorted(n for n in os.listdir(os.path.join(d.root, "containers", cid))
                       if "-json.log" in n)
        t.eq(len(files), 2, f"two files kept: {files}")
        for n in files:
            size = os.path.getsize(os.path.join(d.root, "containers", cid, n))
            t.true(size <= 2048 + 512, f"{n} about max-size: {size}")
        rm(d, cid)


@test
def attach_before_start_loses_no_output_and_stdin_works(t):
    with Daemon() as d:
        cid = create(d, ["sh", "-c", "echo first; read x; echo got:$x; echo bye >&2"],
                     OpenStdin=True, StdinOnce=True, AttachStdin=True)
        s, rest = attach(d, cid, "stream=1&stdin=1&stdout=1&stderr=1")
        start(d, cid)
        s.sendall(b"hello\n")
        s.shutdown(socket.SHUT_WR)
        out, err = demux(read_all(s, rest))
        s.close()
        t.eq(out, "first\ngot:hello\n", "stdout from the first byte, stdin reached")
        t.eq(err, "bye\n", "stderr")
        t.eq(wait(d, cid), 0)
        rm(d, cid)


@test
def attach_client_leaving_does_not_stop_the_container(t):
    with Daemon() as d:
        cid = create(d, ["sh", "-c", "while true; do echo tick; sleep 0.2; done"])
        start(d, cid)
        s, rest = attach(d, cid)
        data = rest
        while b"tick" not in data:
            data += s.recv(4096)
        s.close()
        time.sleep(0.5)
        t.eq(inspect(d, cid)["State"]["Status"], "running", "still running")
        tty = create(d, ["sh", "-c", "echo hi; sleep 1"], Tty=True)
        s, rest = attach(d, tty)
        start(d, tty)
        raw = read_all(s, rest)
        s.close()
        t.contains(raw.decode(), "hi\r\n", "raw bytes through the pty")
        rm(d, cid, force=True)
        rm(d, tty, force=True)



@test
def clients_leaving_idle_streams_free_their_connections(t):
    # `logs -f` of a quiet container and `wait` on a running one send nothing for as long
    # as the container lives; a client that leaves must not keep its connection, or enough
    # interrupted `docker logs -f` would lock everyone out (--max-connections).
    with Daemon("--max-connections", "3") as d:
        cid = create(d, ["sleep", "1000"])
        start(d, cid)

        def served():
            try:
                return request(d.sock, "GET", "/_ping").status == 200
            except OSError:  # refused while the slots are held
                return False
        for method, path in (("GET", f"/v1.44/containers/{cid}/logs?follow=1&stdout=1"),
                             ("POST", f"/v1.44/containers/{cid}/wait")):
            for _ in range(2):  # the second round needs the slots of the first
                held = []
                for _ in range(3):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(5)
                    s.connect(d.sock)
                    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    t.true(s.recv(4096).startswith(b"HTTP/1.1 200"), f"{path}: streaming")
                    held.append(s)
                t.true(not served(), "all slots held while the clients stay")
                for s in held:
                    s.close()
                wait_until(served, 5, f"{path}: slots free once the clients left")
        t.eq(inspect(d, cid)["State"]["Status"], "running", "the container runs on")
        rm(d, cid, force=True)


run()
