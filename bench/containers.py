#!/usr/bin/env python3
"""Container start and supervisor memory, in one run, interleaved: isod against crun, podman
and docker (dockerd), all running the same busybox image with `--network none`.

    sudo python3 bench/containers.py [-n RUNS] [-b ROUNDS] [--only isod,crun,podman,docker] [-o]

1. `run --rm busybox true`, end to end as a user waits for it: RUNS runs per engine (default
   30), one per engine per round, the engines' order rotated each round; median, p90, min.
   crun runs a prepared OCI bundle (`crun spec`, args `true`, read-only busybox rootfs), and
   as "crun+overlay" with a fresh overlay mount (and its removal) around every run.
2. 50 `run --rm true` one after another (total seconds) and 20 at once (wall time until all
   20 ended); ROUNDS rounds (default 3), medians.
3. Memory, one engine at a time while the others are idle: 10 detached `sleep 1000`
   containers, then the average PSS (/proc/PID/smaps_rollup) of their supervisors (isod's
   shim from <root>/containers/<id>/shim.pid, podman's conmon, containerd-shim-runc-v2);
   then 100 running containers: the daemon's PSS and RSS (isod; dockerd + containerd).
4. A Markdown table with ratios against crun and isod against each peer, and isod's targets.

Every store is on /dev/shm. The script starts isod and dockerd itself and stops them by pid;
it puts every cgroup under /sys/fs/cgroup/*/isodbench-<pid>-<engine> and removes them, kills
leftover supervisors by pid (checked against their start time), unmounts what was mounted
under its temp dir and removes it, on success, failure or Ctrl-C. crun 1.8 and podman refuse
the hybrid cgroup layout here (cgroup2 holding only hugetlb): for them the script mounts a v1
hugetlb hierarchy at /sys/fs/cgroup/hugetlb and removes it at the end (see shared/PEERS.md).

Environment: BUILD (meson build dir, default build/), ISOD_BIN, ISOCTL, DOCKER (the docker
client, default Debian's /usr/bin/docker, which matches dockerd). isod is run through
`isoctl run`; when this isoctl has no `run` command yet, through the docker client against
isod's socket (the report says which)."""
import argparse
import atexit
import ctypes
import http.client
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "fixtures"))
import mkimage as mk  # noqa: E402

BUILD = os.environ.get("BUILD", os.path.join(SRC, "build"))
ENGINES = ["isod", "crun", "podman", "docker"]
CG_ROOT = "/sys/fs/cgroup"
CG_PREFIX = f"isodbench-{os.getpid()}-"
IMAGE = "busybox"
# outside the temp dir: dockerd's key and plugin dir, the shims' socket dir (always under
# /run/containerd/s), podman's lock, the crun state dir podman uses;
# children before parents
OUTSIDE_FILES = ("/etc/docker/key.json", "/dev/shm/libpod_lock")
OUTSIDE_DIRS = ("/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd",
                "/run/crun")


def log(msg):
    print(f"[containers.py] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------- helpers

_libc = ctypes.CDLL(None, use_errno=True)


def mount(src, target, fstype, data):
    if _libc.mount(src.encode(), target.encode(), fstype.encode(), 0, data.encode()) != 0:
        e = ctypes.get_errno()
        raise BenchError(f"mount {fstype} on {target}: {os.strerror(e)}")


def umount(target, lazy=False):
    if _libc.umount2(target.encode(), 2 if lazy else 0) != 0:  # MNT_DETACH
        return -ctypes.get_errno()
    return 0


def mounts_under(d):
    with open("/proc/self/mountinfo") as f:
        pts = [l.split()[4] for l in f]
    return sorted((p for p in pts if p == d or p.startswith(d + "/")), reverse=True)


def unmount_under(d):
    for p in mounts_under(d):
        if umount(p) < 0 and umount(p, lazy=True) < 0:
            log(f"warning: cannot unmount {p}")


def proc_stat(pid):
    """(state, ppid, starttime) of pid, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    return f[0], int(f[1]), int(f[19])


def alive(pid, starttime=None):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z" and (starttime is None or st[2] == starttime)


def kill_pid(pid, starttime, sig=signal.SIGKILL):
    if alive(pid, starttime):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def descendants(pid):
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                parent[int(d)] = st[1]
    out, queue = [], [pid]
    while queue:
        cur = queue.pop()
        kids = [p for p, pp in parent.items() if pp == cur]
        out += kids
        queue += kids
    return out


def mem_kib(pid):
    """(RSS, PSS) in KiB from /proc/PID/smaps_rollup; (0, 0) if it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def exe_name(pid):
    """Basename of the executable; "isod-shim" for isod's shim, run from a sealed memfd
    ("/memfd:isod-shim (deleted)")."""
    try:
        name = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return comm(pid)
    return name.removeprefix("memfd:").removesuffix(" (deleted)")


def run(cmd, env=None, check=True, timeout=300):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:6])}... failed ({r.returncode}): "
                         f"{(r.stderr or r.stdout)[-800:].strip()}")
    return r.stdout


def timed(cmd, env=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:8])}... failed ({r.returncode}): "
                         f"{r.stderr.decode(errors='replace')[-800:].strip()}")
    return dt


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(sock, method, path, body=None, headers=None, timeout=120):
    c = UnixHTTPConnection(sock, timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_ready(sock, proc, logpath, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args[0]} exited ({proc.returncode}): {tail(logpath)}")
        try:
            if api(sock, "GET", "/_ping", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError(f"{proc.args[0]} did not answer /_ping in {timeout}s: {tail(logpath)}")


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def stop_proc(proc, timeout=20):
    """SIGTERM, then SIGKILL, to a process this script started (by its Popen)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} did not stop in {timeout}s; SIGKILL")
            proc.kill()
            proc.wait()


def version(cmd):
    try:
        return run(cmd, check=False, timeout=20).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def short_version(cmd):
    """"Docker version 20.10.24+dfsg1, build 5d6db84" -> "20.10.24+dfsg1"."""
    w = version(cmd).replace(",", " ").split()
    return w[2] if len(w) > 2 and w[1] == "version" else " ".join(w)


# ---------------------------------------------------------------------------------- engines

class Engine:
    """One engine. run_once(slot) is one `run --rm busybox true`, slot < 20 tells concurrent
    runs apart. start_detached() runs `sleep 1000` in the background; supervisors() gives the
    (container id, supervisor pid) of every running container; daemon_pids() the daemon's
    processes by role."""
    name = ""
    label = ""
    supervisor = None   # name of the per-container supervisor, None: there is none
    daemon = None       # None: no daemon

    def __init__(self, b):
        self.b = b
        self.tracked = []   # (pid, starttime) of supervisors and inits seen, killed at the end

    def setup(self):
        pass

    def run_once(self, slot):
        raise NotImplementedError

    def start_detached(self):
        raise NotImplementedError

    def supervisors(self):
        return []

    def daemon_pids(self):
        return {}

    def remove_all(self):
        pass

    def cleanup(self):
        pass

    def track(self, pid):
        st = proc_stat(pid)
        if st and (pid, st[2]) not in self.tracked:
            self.tracked.append((pid, st[2]))

    def kill_tracked(self):
        for pid, st in self.tracked:
            if alive(pid, st):
                log(f"{self.name}: pid {pid} ({comm(pid)}) still alive; SIGKILL")
                kill_pid(pid, st)


class Crun(Engine):
    name = "crun"
    label = "crun run (prepared bundle)"

    def __init__(self, b, overlay=False):
        super().__init__(b)
        self.overlay = overlay
        if overlay:
            self.name = "crun+overlay"
            self.label = "crun run, fresh overlay mount per run"
        self.dir = os.path.join(b.tmp, "crun")
        self.state = os.path.join(self.dir, "state")
        self.rootfs = os.path.join(self.dir, "rootfs")
        self.cg = CG_PREFIX + "crun"

    def setup(self):
        if not os.path.isdir(self.rootfs):
            os.makedirs(self.state)
            os.makedirs(self.rootfs)
            with tarfile.open(self.b.image_tar_layer) as tf:
                tf.extractall(self.rootfs, numeric_owner=True)
            specdir = os.path.join(self.dir, "spec")
            os.mkdir(specdir)
            subprocess.run(["crun", "spec"], cwd=specdir, check=True)
            with open(os.path.join(specdir, "config.json")) as f:
                self.b.crun_spec = json.load(f)
        spec = self.b.crun_spec
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["true"]
        for slot in range(self.b.slots):
            cfg = json.loads(json.dumps(spec))
            tag = ("o" if self.overlay else "b") + str(slot)
            if self.overlay:
                d = os.path.join(self.dir, tag)
                os.makedirs(os.path.join(d, "merged"))
                cfg["root"] = {"path": os.path.join(d, "merged"), "readonly": False}
            else:
                cfg["root"] = {"path": self.rootfs, "readonly": True}
            cfg["linux"]["cgroupsPath"] = f"/{self.cg}/{tag}"
            with open(os.path.join(self.dir, f"config-{tag}.json"), "w") as f:
                json.dump(cfg, f)

    def run_once(self, slot):
        tag = ("o" if self.overlay else "b") + str(slot)
        cmd = ["crun", "--root", self.state, "run", "-b", self.dir, "-f",
               os.path.join(self.dir, f"config-{tag}.json"), f"bench-{tag}"]
        if not self.overlay:
            return timed(cmd)
        d = os.path.join(self.dir, tag)
        upper, work, merged = (os.path.join(d, x) for x in ("upper", "work", "merged"))
        t0 = time.perf_counter()
        os.mkdir(upper)
        os.mkdir(work)
        mount("overlay", merged, "overlay",
              f"lowerdir={self.rootfs},upperdir={upper},workdir={work}")
        try:
            timed(cmd)
        finally:
            umount(merged)
            shutil.rmtree(upper)
            shutil.rmtree(work)
        return time.perf_counter() - t0

    def cleanup(self):
        if os.path.isdir(self.state):
            for cid in os.listdir(self.state):
                subprocess.run(["crun", "--root", self.state, "delete", "-f", cid],
                               capture_output=True)


class Podman(Engine):
    name = "podman"
    supervisor = "conmon"

    def __init__(self, b):
        super().__init__(b)
        d = os.path.join(b.tmp, "podman")
        self.conf = os.path.join(b.tmp, "containers.conf")
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf)
        self.cmd = ["podman", "--root", os.path.join(d, "root"), "--runroot",
                    os.path.join(d, "run"), "--tmpdir", os.path.join(d, "tmp"),
                    "--network-config-dir", os.path.join(d, "net")]
        self.cg = "/" + CG_PREFIX + "podman"
        self.label = "podman run --rm"

    def setup(self):
        with open(self.conf, "w") as f:
            # root lacks CAP_SYS_RESOURCE here and the hard nofile limit is 20000
            f.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", '
                    '"nproc=32768:32768"]\n[engine]\ncgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\n')
        run(self.cmd + ["load", "-q", "-i", self.b.image_tar], env=self.env)
        self.label = f"podman run --rm ({short_version(['podman', '--version'])})"

    def run_once(self, slot):
        return timed(self.cmd + ["run", "--rm", "--pull", "never", "--network", "none",
                                 "--cgroup-parent", self.cg, IMAGE, "true"], env=self.env)

    def start_detached(self):
        run(self.cmd + ["run", "-d", "--pull", "never", "--network", "none",
                        "--cgroup-parent", self.cg, IMAGE, "sleep", "1000"], env=self.env)

    def ids(self):
        return run(self.cmd + ["ps", "-aq", "--no-trunc"], env=self.env).split()

    def supervisors(self):
        out = []
        for cid in run(self.cmd + ["ps", "-q", "--no-trunc"], env=self.env).split():
            pids = run(self.cmd + ["inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}",
                                   cid], env=self.env).split()
            sup, init = int(pids[0]), int(pids[1])
            self.track(sup)
            self.track(init)
            out.append((cid, sup))
        return out

    def remove_all(self):
        ids = self.ids()
        if ids:
            run(self.cmd + ["rm", "-f", "-t", "0"] + ids, env=self.env, timeout=600)


class Docker(Engine):
    name = "docker"
    supervisor = "containerd-shim-runc-v2"
    daemon = "dockerd + containerd"

    def __init__(self, b):
        super().__init__(b)
        self.d = os.path.join(b.tmp, "docker")
        self.sock = os.path.join(b.tmp, "docker.sock")
        self.cli = os.environ.get("DOCKER") or ("/usr/bin/docker" if os.path.exists(
            "/usr/bin/docker") else "docker")
        self.env = dict(os.environ, DOCKER_CONFIG=os.path.join(b.tmp, "docker-cli"))
        self.cmd = [self.cli, "-H", "unix://" + self.sock]
        self.pull = ["--pull", "never"]
        self.proc = None
        self.kids = []
        self.label = "docker run --rm"

    def setup(self):
        logpath = os.path.join(self.b.tmp, "dockerd.log")
        with open(logpath, "w") as lf:
            self.proc = subprocess.Popen(
                ["dockerd", "-H", "unix://" + self.sock, "--data-root", self.d + "-root",
                 "--exec-root", self.d + "-exec", "--pidfile", self.d + ".pid",
                 "--iptables=false", "--ip-masq=false", "--bridge=none",
                 "--userland-proxy=false", "--cgroup-parent", "/" + CG_PREFIX + "docker"],
                stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, start_new_session=True)
        wait_ready(self.sock, self.proc, logpath)
        for k in descendants(self.proc.pid):   # containerd, stopped by pid at the end
            self.track(k)
        run(self.cmd + ["load", "-q", "-i", self.b.image_tar], env=self.env)
        self.label = (f"docker run --rm (dockerd {short_version(['dockerd', '--version'])}, "
                      f"client {short_version([self.cli, '--version'])})")

    def run_once(self, slot):
        return timed(self.cmd + ["run", "--rm"] + self.pull + ["--network", "none", IMAGE, "true"],
                     env=self.env)

    def start_detached(self):
        run(self.cmd + ["run", "-d"] + self.pull + ["--network", "none", IMAGE, "sleep", "1000"],
            env=self.env)

    def supervisors(self):
        out = []
        for cid in run(self.cmd + ["ps", "-q", "--no-trunc"], env=self.env).split():
            init = int(run(self.cmd + ["inspect", "-f", "{{.State.Pid}}", cid],
                           env=self.env).strip())
            st = proc_stat(init)
            if not st:
                raise BenchError(f"docker: container {cid[:12]} has no process")
            self.track(st[1])
            self.track(init)
            out.append((cid, st[1]))
        return out

    def daemon_pids(self):
        out = {"dockerd": [self.proc.pid]}
        for k in descendants(self.proc.pid):  # containerd; shims are reparented to init
            if not exe_name(k).startswith("containerd-shim"):
                out.setdefault(exe_name(k), []).append(k)
        return out

    def remove_all(self):
        if self.proc and self.proc.poll() is None:
            ids = run(self.cmd + ["ps", "-aq", "--no-trunc"], env=self.env).split()
            if ids:
                run(self.cmd + ["rm", "-f"] + ids, env=self.env, timeout=600)

    def cleanup(self):
        if self.proc:
            for k in descendants(self.proc.pid):
                self.track(k)
            stop_proc(self.proc)


class Isod(Engine):
    name = "isod"
    supervisor = "isod-shim"
    daemon = "isod"

    def __init__(self, b):
        super().__init__(b)
        self.root = os.path.join(b.tmp, "isod-root")
        self.sock = os.path.join(b.tmp, "isod.sock")
        self.bin = os.environ.get("ISOD_BIN", os.path.join(BUILD, "isod"))
        self.ctl = os.environ.get("ISOCTL", os.path.join(BUILD, "cli", "isoctl"))
        self.env = dict(os.environ, ISOCTL_CONFIG=os.path.join(b.tmp, "isoctl.json"),
                        DOCKER_CONFIG=os.path.join(b.tmp, "docker-cli"))
        self.proc = None
        self.cg = CG_PREFIX + "isod"
        self.label = "isoctl run --rm"

    def setup(self):
        for p in (self.bin, self.ctl):
            if not os.access(p, os.X_OK):
                raise BenchError(f"{p} not found: build isod first (ninja -C {BUILD}) or set "
                                 "ISOD_BIN/ISOCTL, or leave isod out with --only")
        logpath = os.path.join(self.b.tmp, "isod.log")
        cmd = [self.bin, "--root", self.root, "-H", "unix://" + self.sock, "--log-level", "error"]
        if "--cgroup-parent" in run([self.bin, "--help"], check=False):
            cmd += ["--cgroup-parent", self.cg]     # removed with the others at the end
        else:
            log("isod: this isod has no --cgroup-parent (nor containers, probably)")
        with open(logpath, "w") as lf:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, start_new_session=True)
        wait_ready(self.sock, self.proc, logpath)
        with open(self.b.image_tar, "rb") as f:
            status, body = api(self.sock, "POST", "/v1.44/images/load?quiet=1", body=f,
                               headers={"Content-Type": "application/x-tar",
                                        "Content-Length": str(os.path.getsize(self.b.image_tar))})
        if status != 200 or b"errorDetail" in body:
            raise BenchError(f"isod: POST /images/load: {status} {body[-400:]!r}")
        has_run = subprocess.run([self.ctl, "run", "--help"], capture_output=True,
                                 env=self.env).returncode == 0
        if has_run:
            self.cmd = [self.ctl, "-H", "unix://" + self.sock]
            self.pull = []
            self.label = "isoctl run --rm (isod)"
        else:
            cli = os.environ.get("DOCKER") or ("/usr/bin/docker" if os.path.exists(
                "/usr/bin/docker") else "docker")
            self.cmd = [cli, "-H", "unix://" + self.sock]
            self.pull = ["--pull", "never"]
            self.label = "docker run --rm against isod (this isoctl has no `run`)"
            log("isod: isoctl has no `run` command; using the docker client against isod")

    def run_once(self, slot):
        return timed(self.cmd + ["run", "--rm"] + self.pull + ["--network", "none", IMAGE, "true"],
                     env=self.env)

    def start_detached(self):
        run(self.cmd + ["run", "-d"] + self.pull + ["--network", "none", IMAGE, "sleep", "1000"],
            env=self.env)

    def containers(self, all_=False):
        status, body = api(self.sock, "GET", "/v1.44/containers/json" + ("?all=1" if all_ else ""))
        if status != 200:
            raise BenchError(f"isod: GET /containers/json: {status} {body[-300:]!r}")
        return [c["Id"] for c in json.loads(body)]

    def shim_pids(self, cid):
        """(shim pid, shim starttime, init pid, init starttime) from shim.pid, or None."""
        try:
            with open(os.path.join(self.root, "containers", cid, "shim.pid")) as f:
                a = f.read().split()
            return int(a[0]), int(a[1]), int(a[2]), int(a[3])
        except (OSError, ValueError, IndexError):
            return None

    def supervisors(self):
        out = []
        for cid in self.containers():
            p = self.shim_pids(cid)
            if p is None:
                raise BenchError(f"isod: container {cid[:12]} has no shim.pid")
            self.tracked += [(p[0], p[1]), (p[2], p[3])]
            sup = p[0]
            if not alive(p[0], p[1]):
                # the supervisor is the init's parent (runtime.md: the shim forks after its
                # report); say so when shim.pid names another process
                st = proc_stat(p[2])
                if not st or not alive(p[2], p[3]):
                    raise BenchError(f"isod: container {cid[:12]}: shim.pid names no live process")
                log(f"isod: shim.pid of {cid[:12]} names a gone process; using the init's parent")
                sup = st[1]
                self.track(sup)
            out.append((cid, sup))
        return out

    def daemon_pids(self):
        return {"isod": [self.proc.pid]}

    def remove_all(self):
        if self.proc and self.proc.poll() is None:
            for cid in self.containers(all_=True):
                status, body = api(self.sock, "DELETE", f"/v1.44/containers/{cid}?force=1")
                if status not in (204, 404):
                    log(f"isod: DELETE container {cid[:12]}: {status} {body[-200:]!r}")

    def cleanup(self):
        if self.proc:
            stop_proc(self.proc)
        # shims outlive isod by design: any still running was started by this run
        d = os.path.join(self.root, "containers")
        if os.path.isdir(d):
            for cid in os.listdir(d):
                p = self.shim_pids(cid)
                if p:
                    self.tracked += [(p[0], p[1]), (p[2], p[3])]


# ---------------------------------------------------------------------------------- the run

class Bench:
    def __init__(self, a):
        self.a = a
        self.slots = max(a.concurrent, 1)
        self.tmp = tempfile.mkdtemp(prefix="isod-ctrbench-", dir="/dev/shm")
        self.engines = []
        self.hugetlb_mounts = 0      # v1 hugetlb mounts made by this run
        self.hugetlb_created = False
        self.want_hybrid_fix = False
        self.pre = {p: os.path.exists(p) for p in OUTSIDE_FILES + OUTSIDE_DIRS}
        self.done = False

    def fix_hybrid_cgroups(self):
        """crun 1.8 refuses a cgroup2 mount that holds controllers next to v1 ones; a v1
        hugetlb hierarchy takes hugetlb out of cgroup2 (undone in cleanup). Another user of
        this host may have mounted one already, and may take it away during the run:
        retry_hybrid() then mounts one again."""
        self.want_hybrid_fix = True
        try:
            with open(os.path.join(CG_ROOT, "unified", "cgroup.controllers")) as f:
                ctrls = f.read().split()
        except OSError:
            return
        if not ctrls:
            return
        if ctrls != ["hugetlb"]:
            raise BenchError(f"cgroup2 at {CG_ROOT}/unified holds {ctrls}: crun refuses that")
        d = os.path.join(CG_ROOT, "hugetlb")
        if not os.path.isdir(d):
            os.mkdir(d)
            self.hugetlb_created = True
        mount("cgroup", d, "cgroup", "hugetlb")
        self.hugetlb_mounts += 1
        log(f"mounted a v1 hugetlb hierarchy at {d} for crun/podman (removed at the end)")

    def retry_hybrid(self, fn, *args):
        """fn(*args); when crun refused hybrid cgroups because something else on this shared
        host took the v1 hugetlb hierarchy away meanwhile, mount it again and redo fn once."""
        try:
            return fn(*args)
        except BenchError as ex:
            if not self.want_hybrid_fix or "hybrid mode" not in str(ex):
                raise
            log("warning: the v1 hugetlb hierarchy went away during the run (another user of "
                "this host?); mounting it again and repeating the measurement")
            self.fix_hybrid_cgroups()
            return fn(*args)

    def remove_cgroups(self):
        for ctrl in sorted(os.listdir(CG_ROOT)):
            base = os.path.join(CG_ROOT, ctrl)
            try:
                tops = [n for n in os.listdir(base) if n.startswith(CG_PREFIX)]
            except OSError:
                continue
            for top in tops:
                dirs = []
                for dp, dn, _ in os.walk(os.path.join(base, top)):
                    dirs.append(dp)
                for dp in sorted(dirs, key=len, reverse=True):
                    for i in range(50):
                        try:
                            os.rmdir(dp)
                            break
                        except FileNotFoundError:
                            break
                        except OSError as e:
                            if i == 49:
                                log(f"warning: cannot remove cgroup {dp}: {e}")
                            time.sleep(0.1)

    def cleanup(self):
        if self.done:
            return
        self.done = True
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # finish cleaning up first
            signal.signal(sig, signal.SIG_IGN)
        for e in self.engines:
            try:
                e.remove_all()
            except Exception as ex:  # noqa: BLE001  best effort: go on cleaning
                log(f"{e.name}: removing containers: {ex}")
        for e in self.engines:
            try:
                e.cleanup()
            except Exception as ex:  # noqa: BLE001
                log(f"{e.name}: cleanup: {ex}")
        for e in self.engines:
            e.kill_tracked()
        time.sleep(0.2)
        unmount_under(self.tmp)
        self.remove_cgroups()
        d = os.path.join(CG_ROOT, "hugetlb")
        for _ in range(self.hugetlb_mounts):
            if d not in mounts_under(d):
                break
            if umount(d) < 0:
                log(f"warning: cannot unmount {d}")
                break
        if self.hugetlb_created and d not in mounts_under(d):
            try:
                os.rmdir(d)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        # written outside the roots by dockerd, containerd's shims, podman and crun: removed
        # when they were not there before (directories only when empty)
        for p in OUTSIDE_FILES:
            if not self.pre[p]:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        for p in OUTSIDE_DIRS:
            if not self.pre[p]:
                try:
                    os.rmdir(p)
                except OSError:
                    pass

    def make_image(self):
        self.image_tar = os.path.join(self.tmp, "busybox.tar")
        mk.docker_archive(self.image_tar, [(mk.busybox(), [IMAGE + ":latest"])], legacy=True)
        self.image_tar_layer = os.path.join(self.tmp, "busybox-layer.tar")
        with open(self.image_tar_layer, "wb") as f:
            f.write(mk.busybox_layer("none").tar())
        log(f"busybox image from {mk.BUSYBOX_BIN}: {os.path.getsize(self.image_tar)} bytes")


def pct(v, p):
    s = sorted(v)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def sequential(engine, n):
    t0 = time.perf_counter()
    for _ in range(n):
        engine.run_once(0)
    return time.perf_counter() - t0


def concurrent(engine, n):
    errs = []

    def one(slot):
        try:
            engine.run_once(slot)
        except Exception as ex:  # noqa: BLE001  reported below
            errs.append(ex)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errs:
        raise BenchError(f"{engine.name}: {len(errs)} of {n} concurrent runs failed: {errs[0]}")
    return dt


def save_smaps(a, e, what, pid):
    """Keeps /proc/PID/smaps as DIR/ENGINE-WHAT.smaps (--smaps), for scripts/smaps-sum.py."""
    if not a.smaps:
        return
    os.makedirs(a.smaps, exist_ok=True)
    try:
        with open(f"/proc/{pid}/smaps") as f, \
                open(os.path.join(a.smaps, f"{e.name}-{what}.smaps"), "w") as out:
            out.write(f.read())
    except OSError as ex:
        log(f"{e.name}: no smaps of pid {pid}: {ex}")


def measure_memory(b, e, a, res):
    if e.supervisor is None:
        return
    log(f"{e.name}: starting {a.mem} sleep containers")
    for _ in range(a.mem):
        b.retry_hybrid(e.start_detached)
    time.sleep(2)
    sups = e.supervisors()
    if len(sups) != a.mem:
        raise BenchError(f"{e.name}: {len(sups)} running containers, want {a.mem}")
    pss = [mem_kib(p)[1] for _, p in sups]
    res["sup_pss10"] = statistics.mean(pss)
    save_smaps(a, e, f"supervisor-{a.mem}", sups[0][1])
    res["sup_name"] = sorted({exe_name(p) for _, p in sups})
    log(f"{e.name}: {res['sup_name']} PSS {res['sup_pss10']:.0f} KiB each with {a.mem} running")
    if a.daemon_mem > a.mem:
        log(f"{e.name}: starting {a.daemon_mem - a.mem} more")
        for _ in range(a.daemon_mem - a.mem):
            b.retry_hybrid(e.start_detached)
        time.sleep(2)
        sups = e.supervisors()
        if len(sups) != a.daemon_mem:
            raise BenchError(f"{e.name}: {len(sups)} running containers, want {a.daemon_mem}")
        res["sup_pss100"] = statistics.mean(mem_kib(p)[1] for _, p in sups)
        save_smaps(a, e, f"supervisor-{a.daemon_mem}", sups[0][1])
        if e.daemon:
            res["daemon"] = {}
            for role, pids in e.daemon_pids().items():
                rss = sum(mem_kib(p)[0] for p in pids)
                pss = sum(mem_kib(p)[1] for p in pids)
                res["daemon"][role] = (rss, pss)
                for p in pids:
                    save_smaps(a, e, f"daemon-{role}-{p}", p)
            log(f"{e.name}: daemon with {a.daemon_mem} running: " + ", ".join(
                f"{k} RSS {v[0]} KiB PSS {v[1]} KiB" for k, v in res["daemon"].items()))
    log(f"{e.name}: removing the containers")
    e.remove_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=30, help="run --rm true per engine (30)")
    ap.add_argument("-b", "--batch-rounds", type=int, default=3,
                    help="rounds of the sequential and concurrent batches (3)")
    ap.add_argument("--sequential", type=int, default=50)
    ap.add_argument("--concurrent", type=int, default=20)
    ap.add_argument("--mem", type=int, default=10, help="containers for supervisor PSS (10)")
    ap.add_argument("--daemon-mem", type=int, default=100,
                    help="containers for daemon memory (100); 0 skips it")
    ap.add_argument("--no-mem", action="store_true", help="skip the memory part")
    ap.add_argument("--only", default=",".join(ENGINES))
    ap.add_argument("--smaps", metavar="DIR",
                    help="keep /proc/PID/smaps of one supervisor and of the daemon in DIR")
    ap.add_argument("-o", "--output", action="store_true", help="write bench/results/")
    a = ap.parse_args()
    only = [x for x in a.only.split(",") if x]
    for x in only:
        if x not in ENGINES:
            ap.error(f"unknown engine {x!r}; one of {','.join(ENGINES)}")
    if os.geteuid() != 0:
        raise SystemExit("containers.py: run as root")
    for tool, eng in (("crun", "crun"), ("podman", "podman"), ("dockerd", "docker")):
        if eng in only and not shutil.which(tool):
            raise SystemExit(f"containers.py: {tool} not found: apt-get install -y "
                             "--no-install-recommends crun podman docker.io")

    b = Bench(a)
    return run_guarded(b, lambda: bench(b, a, only), log)


def run_guarded(b, fn, log, after=None):
    """fn()'s exit code, with b cleaned up however the run ends (an error, ^C, SIGTERM,
    SIGHUP); then after(), if given."""
    atexit.register(b.cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    try:
        return fn()
    except BenchError as ex:
        log(f"error: {ex}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        log("cleaning up")
        b.cleanup()
        if after:
            after()


def bench(b, a, only):
    b.make_image()
    if "crun" in only or "podman" in only:
        b.fix_hybrid_cgroups()
    for name in only:
        if name == "isod":
            b.engines.append(Isod(b))
        elif name == "crun":
            b.engines += [Crun(b), Crun(b, overlay=True)]
        elif name == "podman":
            b.engines.append(Podman(b))
        elif name == "docker":
            b.engines.append(Docker(b))
    for e in b.engines:
        log(f"setting up {e.name}")
        e.setup()
    engines = b.engines
    names = [e.name for e in engines]
    lat = {n: [] for n in names}
    seq = {n: [] for n in names}
    conc = {n: [] for n in names}
    mem = {n: {} for n in names}

    log("warm-up: 2 runs each")
    for e in engines:
        b.retry_hybrid(e.run_once, 0)
        b.retry_hybrid(e.run_once, 0)
    log(f"run --rm true: {a.runs} rounds")
    for r in range(a.runs):
        k = r % len(engines)
        for e in engines[k:] + engines[:k]:
            lat[e.name].append(b.retry_hybrid(e.run_once, 0))
        if (r + 1) % 10 == 0 or r + 1 == a.runs:
            log(f"round {r + 1}: " + ", ".join(f"{n} {statistics.median(v) * 1e3:.1f}"
                                                for n, v in lat.items()) + " ms (medians so far)")
    for r in range(a.batch_rounds):
        k = r % len(engines)
        for e in engines[k:] + engines[:k]:
            seq[e.name].append(b.retry_hybrid(sequential, e, a.sequential))
            conc[e.name].append(b.retry_hybrid(concurrent, e, a.concurrent))
            log(f"batch round {r + 1} {e.name}: {a.sequential} sequential "
                f"{seq[e.name][-1]:.2f} s, {a.concurrent} concurrent {conc[e.name][-1]:.2f} s")
    if not a.no_mem:
        for e in engines:
            measure_memory(b, e, a, mem[e.name])

    text = report(b, a, engines, lat, seq, conc, mem)
    print(text)
    if a.output:
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        out = os.path.join(HERE, "results", time.strftime("containers-%Y-%m-%d.md", time.gmtime()))
        with open(out, "w") as f:
            f.write(text)
        log(f"wrote {out}")
    return 0


# ---------------------------------------------------------------------------------- report

def ratio(x, y):
    if x is None or y is None or not y:
        return "–"
    return f"{x / y:.2f}x"


def report(b, a, engines, lat, seq, conc, mem):
    names = [e.name for e in engines]
    isod = next((e for e in engines if e.name == "isod"), None)
    med = {n: statistics.median(v) * 1e3 for n, v in lat.items()}
    mseq = {n: statistics.median(v) for n, v in seq.items() if v}
    mconc = {n: statistics.median(v) for n, v in conc.items() if v}
    try:
        rev = run(["git", "-C", SRC, "rev-parse", "--short=8", "HEAD"], check=False).strip()
    except OSError:
        rev = "?"
    L = [f"# Container start and supervisor memory, "
         f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
         f"`bench/containers.py -n {a.runs} -b {a.batch_rounds} --only {a.only}`"
         f" (tree {rev}); kernel {os.uname().release}, {os.cpu_count()} CPUs. Image: busybox "
         f"(Debian busybox-static, one layer) loaded into each engine; every store on /dev/shm; "
         "`--network none` everywhere. Times are end to end from the client's exec to its exit. "
         "Compare ratios inside one run: the machines are shared VMs."
         + (f" isod: `{isod.bin}`, {version([isod.bin, '--version'])}." if isod else ""), "",
         "| engine | what runs | `run --rm true` median ms | p90 | min | vs crun | "
         f"{a.sequential} one after another, s | vs crun | {a.concurrent} at once, s | vs crun |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    labels = {e.name: e.label for e in engines}
    for n in names:
        v = [x * 1e3 for x in lat[n]]
        L.append(f"| {n} | {labels[n]} | {med[n]:.1f} | {pct(v, 90):.1f} | {min(v):.1f} | "
                 f"{ratio(med[n], med.get('crun'))} | {mseq[n]:.2f} | "
                 f"{ratio(mseq[n], mseq.get('crun'))} | {mconc[n]:.2f} | "
                 f"{ratio(mconc[n], mconc.get('crun'))} |")
    have_mem = any(mem[n] for n in names)
    if have_mem:
        L += ["", f"Memory, one engine at a time, containers running `sleep 1000`:", "",
              f"| engine | supervisor per container | PSS KiB each, {a.mem} running | "
              f"PSS KiB each, {a.daemon_mem} running | daemon with {a.daemon_mem} running: "
              "RSS MiB | PSS MiB |",
              "|---|---|---:|---:|---:|---:|"]
        for e in engines:
            m = mem[e.name]
            if e.supervisor is None:
                L.append(f"| {e.name} | none (no monitor process) | – | – | n/a | n/a |")
                continue
            d = m.get("daemon")
            if d:
                parts = " + ".join(f"{v[0] / 1024:.1f}" for v in d.values())
                pparts = " + ".join(f"{v[1] / 1024:.1f}" for v in d.values())
                tot_r = sum(v[0] for v in d.values()) / 1024
                tot_p = sum(v[1] for v in d.values()) / 1024
                dr = f"{parts} = {tot_r:.1f}" if len(d) > 1 else f"{tot_r:.1f}"
                dp = f"{pparts} = {tot_p:.1f}" if len(d) > 1 else f"{tot_p:.1f}"
                dr += f" ({' + '.join(d)})" if len(d) > 1 else ""
            else:
                dr = dp = "n/a (no daemon)" if e.daemon is None else "–"
            fmt = lambda k: f"{m[k]:.0f}" if k in m else "–"  # noqa: E731
            L.append(f"| {e.name} | {', '.join(m.get('sup_name', [e.supervisor]))} | "
                     f"{fmt('sup_pss10')} | {fmt('sup_pss100')} | {dr} | {dp} |")
    if "isod" in names:
        peers = [n for n in names if n != "isod"]
        im = mem["isod"]

        def dtot(n, i):
            d = mem[n].get("daemon")
            return sum(v[i] for v in d.values()) if d else None
        L += ["", "isod against each peer (isod/peer; below 1x isod is quicker or smaller):", "",
              "| metric | " + " | ".join(f"isod/{p}" for p in peers) + " |",
              "|---|" + "---:|" * len(peers)]
        rows = [("`run --rm true` median", med), (f"{a.sequential} one after another", mseq),
                (f"{a.concurrent} at once", mconc)]
        for lbl, d in rows:
            L.append(f"| {lbl} | " + " | ".join(ratio(d["isod"], d[p]) for p in peers) + " |")
        if have_mem:
            L.append(f"| supervisor PSS, {a.mem} running | " + " | ".join(
                ratio(im.get("sup_pss10"), mem[p].get("sup_pss10")) for p in peers) + " |")
            L.append(f"| daemon RSS, {a.daemon_mem} running | " + " | ".join(
                ratio(dtot("isod", 0), dtot(p, 0)) for p in peers) + " |")
        L += ["", "isod's targets:", ""]

        def chk(ok):
            return "met" if ok else "**missed**"
        if "crun" in med:
            L.append(f"- `run --rm` ≤ 1.2x crun run: {med['isod'] / med['crun']:.2f}x, "
                     f"{chk(med['isod'] <= 1.2 * med['crun'])}")
            L.append(f"- {a.concurrent} at once ≤ 1.5x crun: "
                     f"{mconc['isod'] / mconc['crun']:.2f}x, "
                     f"{chk(mconc['isod'] <= 1.5 * mconc['crun'])}")
        if "sup_pss10" in im:
            L.append(f"- < 150 KiB PSS per container: {im['sup_pss10']:.0f} KiB, "
                     f"{chk(im['sup_pss10'] < 150)}")
        if dtot("isod", 0) is not None:
            L.append(f"- isod < 8 MiB RSS with {a.daemon_mem} containers: "
                     f"{dtot('isod', 0) / 1024:.1f} MiB, {chk(dtot('isod', 0) < 8192)}")
    L += ["", "<details><summary>per-run values</summary>", "",
          "| engine | `run --rm true`, ms, in order | sequential batches, s | concurrent, s |",
          "|---|---|---|---|"]
    for n in names:
        L.append(f"| {n} | {' '.join(f'{x * 1e3:.1f}' for x in lat[n])} | "
                 f"{' '.join(f'{x:.2f}' for x in seq[n])} | "
                 f"{' '.join(f'{x:.2f}' for x in conc[n])} |")
    L += ["", "</details>"]
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
