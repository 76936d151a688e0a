#!/usr/bin/env python3
"""Cold pulls of one image from a local registry, in one run, interleaved: isod (isoctl pull),
docker pull (dockerd), podman pull; beside the floor, `gzip -dc | tar -x` of the same layer
blobs one after another. Every store is on /dev/shm (the virtual disk here stalls at random).

    sudo python3 bench/pull.py [-r ROUNDS] [--only isod,docker,podman] [-o]

The image: about 190 MB uncompressed in 4 gzip layers cut from this host's /usr
(python3.11, /usr/include in two halves, /etc), built once per run. Needs the build in
$BUILD (default build/), docker.io, podman and docker-registry (bench/daemons.sh installs
the peers). Daemons are started here and stopped by pid; everything is removed at the end."""
import argparse
import gzip
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import registry  # noqa: E402  (also puts tests/fixtures on sys.path)
from registry import Registry  # noqa: E402

BUILD = os.environ.get("BUILD", os.path.join(SRC, "build"))
LAYERS = [("usr/lib/python3.11",), ("usr/include/[a-l]*",), ("usr/include/[m-z]*",), ("etc",)]


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layout(d):
    """OCI layout of the 4 layers; returns the gzip blobs' paths."""
    os.makedirs(os.path.join(d, "blobs", "sha256"))
    blobs, descs, diffs = [], [], []
    for spec in LAYERS:
        tar = subprocess.run(["sh", "-c", f"cd / && tar --numeric-owner -cf - {spec[0]}"],
                             check=True, capture_output=True).stdout
        gz = gzip.compress(tar, compresslevel=6, mtime=0)
        dg = sha(gz)
        p = os.path.join(d, "blobs", "sha256", dg[7:])
        with open(p, "wb") as f:
            f.write(gz)
        blobs.append(p)
        diffs.append(sha(tar))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg,
                      "size": len(gz)})
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                      "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": sha(cfg), "size": len(cfg)},
                      "layers": descs}).encode()
    for data in (cfg, man):
        with open(os.path.join(d, "blobs", "sha256", sha(data)[7:]), "wb") as f:
            f.write(data)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(man),
             "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]},
            f)
    return blobs, sum(len(subprocess.run(["gzip", "-dc", b], capture_output=True).stdout)
                      for b in blobs), sum(os.path.getsize(b) for b in blobs)


def wait_sock(path, proc, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited: {proc.args}")
        if os.path.exists(path):
            r = subprocess.run(["curl", "-sf", "--unix-socket", path, "http://x/_ping"],
                               capture_output=True)
            if r.returncode == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"{proc.args[0]} did not come up")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def unmount_under(d):
    with open("/proc/self/mountinfo") as f:
        points = [l.split()[4] for l in f if l.split()[4].startswith(d)]
    for p in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)


def timed(cmd, env=None):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr[-500:]}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", "--rounds", type=int, default=5)
    ap.add_argument("--only", default="isod,docker,podman,floor")
    ap.add_argument("-o", "--output", action="store_true", help="write bench/results/")
    a = ap.parse_args()
    only = a.only.split(",")

    tmp = tempfile.mkdtemp(prefix="isod-pullbench-", dir="/dev/shm")
    podman_lock = "/dev/shm/libpod_lock"
    had_lock = os.path.exists(podman_lock)
    procs, times = [], {k: [] for k in only}
    try:
        blobs, tar_bytes, gz_bytes = make_layout(os.path.join(tmp, "layout"))
        reg = Registry().__enter__()
        procs.append(reg)
        reg.seed(os.path.join(tmp, "layout"), "bench/debian", "latest")
        ref = reg.ref("bench/debian")
        env = dict(os.environ)
        daemons = {}
        if "isod" in only:
            sock = os.path.join(tmp, "isod.sock")
            p = subprocess.Popen([os.path.join(BUILD, "isod"), "--root", os.path.join(tmp, "isod"),
                                  "-H", "unix://" + sock, "--log-level", "error"])
            daemons["isod"] = (p, sock)
            wait_sock(sock, p)
        if "docker" in only:
            sock = os.path.join(tmp, "docker.sock")
            p = subprocess.Popen(["dockerd", "-H", "unix://" + sock, "--data-root",
                                  os.path.join(tmp, "docker"), "--exec-root",
                                  os.path.join(tmp, "docker-exec"), "--pidfile",
                                  os.path.join(tmp, "docker.pid"), "--iptables=false",
                                  "--ip-masq=false", "--bridge=none", "--insecure-registry",
                                  reg.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            daemons["docker"] = (p, sock)
            wait_sock(sock, p)
        conf = os.path.join(tmp, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=20000:20000"]\n'
                    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        penv = dict(env, CONTAINERS_CONF=conf)
        podman = ["podman", "--root", os.path.join(tmp, "podman"), "--runroot",
                  os.path.join(tmp, "podman-run"), "--tmpdir", os.path.join(tmp, "podman-tmp")]

        def pull(kind):
            if kind == "isod":
                _, sock = daemons["isod"]
                dt = timed([os.path.join(BUILD, "cli", "isoctl"), "-H", "unix://" + sock,
                            "pull", "-q", ref])
                subprocess.run([os.path.join(BUILD, "cli", "isoctl"), "-H", "unix://" + sock,
                                "rmi", ref], capture_output=True, check=True)
            elif kind == "docker":
                _, sock = daemons["docker"]
                dt = timed(["docker", "-H", "unix://" + sock, "pull", "-q", ref])
                subprocess.run(["docker", "-H", "unix://" + sock, "rmi", ref],
                               capture_output=True, check=True)
            elif kind == "podman":
                dt = timed(podman + ["pull", "-q", "--tls-verify=false", ref], env=penv)
                subprocess.run(podman + ["rmi", ref], capture_output=True, check=True, env=penv)
            else:  # the floor: gzip -dc | tar -x of each layer, one after another
                dest = os.path.join(tmp, "floor")
                os.mkdir(dest)
                t0 = time.monotonic()
                for b in blobs:
                    subprocess.run(f"gzip -dc {b} | tar -x -C {dest}", shell=True, check=True)
                dt = time.monotonic() - t0
                shutil.rmtree(dest)
            return dt

        for r in range(a.rounds):
            order = only[r % len(only):] + only[:r % len(only)]
            for k in order:
                times[k].append(pull(k))
                print(f"round {r + 1} {k}: {times[k][-1]:.2f} s", file=sys.stderr, flush=True)
        gz_floor = []
        for _ in range(a.rounds):
            t0 = time.monotonic()
            for b in blobs:
                subprocess.run(f"gzip -dc {b} > /dev/null", shell=True, check=True)
            gz_floor.append(time.monotonic() - t0)

        med = {k: statistics.median(v) for k, v in times.items()}
        lines = [f"# Pull benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
                 f"Image: 4 gzip layers, {gz_bytes / 1e6:.1f} MB compressed, "
                 f"{tar_bytes / 1e6:.1f} MB of tar; local docker-registry on 127.0.0.1; every "
                 f"store on /dev/shm; {a.rounds} interleaved cold pulls each; medians.", "",
                 "| what | seconds (median) | vs isod |", "|---|---:|---:|"]
        for k in only:
            lbl = {"isod": "isoctl pull (isod)", "docker": "docker pull (dockerd 20.10)",
                   "podman": "podman pull (4.3)",
                   "floor": "floor: gzip -dc \\| tar -x, layers one after another"}[k]
            ratio = f"{med[k] / med['isod']:.2f}x" if "isod" in med else ""
            lines.append(f"| {lbl} | {med[k]:.2f} | {ratio} |")
        lines.append(f"| floor: gzip -dc alone | {statistics.median(gz_floor):.2f} | "
                     + (f"{statistics.median(gz_floor) / med['isod']:.2f}x |" if "isod" in med
                        else "|"))
        lines += ["", "Per run (s): " + "; ".join(
            f"{k} " + " ".join(f"{x:.2f}" for x in v) for k, v in times.items())]
        text = "\n".join(lines) + "\n"
        print(text)
        if a.output:
            os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
            with open(os.path.join(HERE, "results",
                                   time.strftime("pull-%Y-%m-%d.md", time.gmtime())), "w") as f:
                f.write(text)
    finally:
        for p, _ in list(locals().get("daemons", {}).values()):
            stop(p)
        for r in procs:
            r.stop()
        unmount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if not had_lock and os.path.exists(podman_lock):
            os.unlink(podman_lock)  # podman's lock file; it was not there before


if __name__ == "__main__":
    main()
