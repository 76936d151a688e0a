"""What the container tests share: the busybox image with the probe, a started isod with it
loaded, and thin wrappers over the container endpoints."""
import atexit
import json
import urllib.parse
import os
import shutil
import socket
import struct
import subprocess
import tempfile

from harness import Failure, Isod, cgroup_dirs

import registry  # noqa: F401  (puts tests/fixtures on sys.path)
import mkimage as mk  # noqa: E402

_tmp = tempfile.mkdtemp(prefix="isod-ctr-")
_archive = os.path.join(_tmp, "busybox.tar")
_probe = os.path.join(_tmp, "probe")
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)


def _fixtures():
    if os.path.exists(_archive):
        return
    src = os.path.join(os.path.dirname(mk.__file__), "probe.c")
    r = subprocess.run(["gcc", "-static", "-O2", "-o", _probe, src], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise Failure("cannot build the probe: " + r.stderr)
    with open(_probe, "rb") as f:
        probe = f.read()
    base = mk.busybox_layer()
    extra = mk.Layer([mk.Dir("usr"), mk.Dir("usr/local"), mk.Dir("usr/local/bin"),
                      mk.File("usr/local/bin/probe", probe, 0o755),
                      mk.Dir("mnt"), mk.Dir("data"),
                      mk.Symlink("escape", "../../../../../../../../tmp"),
                      mk.File("etc/motd", "image motd\n")])
    img = mk.Image([base, extra], mk.BUSYBOX_CONFIG)
    mk.docker_archive(_archive, [(img, ["busybox:latest"])])


def daemon(*args, searchable=False):
    """A started isod with the busybox image loaded. searchable: its temporary directory
    mode 0711, so a remapped container root can walk to its rootfs (--userns-remap)."""
    _fixtures()
    d = Isod(args=args)
    if searchable:
        os.chmod(d.tmp, 0o711)
    d.start()
    try:
        with open(_archive, "rb") as f:
            r = d.req("POST", "/v1.44/images/load?quiet=1", body=f.read(),
                      headers={"Content-Type": "application/x-tar"}, timeout=120)
        if r.status != 200 or b"Loaded image" not in r.body:
            raise Failure(f"load failed: {r.status} {r.body[:500]!r}")
    except BaseException:
        d.cleanup()
        raise
    return d


class Daemon:
    def __init__(self, *args):
        self.args = args

    def __enter__(self):
        self.d = daemon(*self.args)
        return self.d

    def __exit__(self, *exc):
        try:
            self.d.stop()
        finally:
            self.d.cleanup()


def create(d, cmd=None, name=None, host=None, status=201, **cfg):
    body = {"Image": "busybox", "AttachStdout": True, "AttachStderr": True}
    if cmd is not None:
        body["Cmd"] = cmd
    body.update(cfg)
    body["HostConfig"] = {"NetworkMode": "none"}
    body["HostConfig"].update(host or {})
    path = "/v1.44/containers/create" + (f"?name={urllib.parse.quote(name)}" if name else "")
    r = d.req("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    if r.status != status:
        raise Failure(f"create: {r.status} {r.body!r}, want {status}")
    return r.json()["Id"] if status == 201 else r.json()


def start(d, cid, status=204):
    r = d.req("POST", f"/v1.44/containers/{cid}/start")
    if r.status != status:
        raise Failure(f"start: {r.status} {r.body!r}, want {status}")
    return r


def inspect(d, cid):
    r = d.get(f"/v1.44/containers/{cid}/json")
    if r.status != 200:
        raise Failure(f"inspect: {r.status} {r.body!r}")
    return r.json()


def wait(d, cid, condition="not-running", timeout=60):
    r = d.req("POST", f"/v1.44/containers/{cid}/wait?condition={condition}", timeout=timeout)
    if r.status != 200:
        raise Failure(f"wait: {r.status} {r.body!r}")
    return r.json()["StatusCode"]


def demux(data):
    out, err, i = b"", b"", 0
    while i + 8 <= len(data):
        kind, size = data[i], struct.unpack(">I", data[i + 4:i + 8])[0]
        chunk = data[i + 8:i + 8 + size]
        if kind == 1:
            out += chunk
        elif kind == 2:
            err += chunk
        i += 8 + size
    return out.decode(errors="replace"), err.decode(errors="replace")


def logs(d, cid, query="stdout=1&stderr=1"):
    r = d.get(f"/v1.44/containers/{cid}/logs?{query}")
    if r.status != 200:
        raise Failure(f"logs: {r.status} {r.body!r}")
    return demux(r.body)


def run_ctr(d, cmd, host=None, **cfg):
    """create, start, wait: (exit code, stdout, stderr, id)."""
    cid = create(d, cmd, host=host, **cfg)
    start(d, cid)
    code = wait(d, cid)
    out, err = logs(d, cid)
    return code, out, err, cid


def rm(d, cid, force=False):
    r = d.req("DELETE", f"/v1.44/containers/{cid}" + ("?force=1" if force else ""))
    if r.status != 204:
        raise Failure(f"rm: {r.status} {r.body!r}")


def ctr_cgroups(d, cid):
    return [os.path.join(p, cid) for p in cgroup_dirs(d.cgroup_parent)
            if os.path.isdir(os.path.join(p, cid))]


def upgrade(d, path, body=b"", what="upgrade"):
    """POSTs path asking to upgrade the connection: (socket, bytes after the 101 headers)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(d.sock)
    ctype = "Content-Type: application/json\r\n" if body else ""
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              f"{ctype}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise Failure(f"{what}: connection closed: {head!r}")
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise Failure(f"{what}: {head!r}")
    return s, rest


def read_all(s, rest=b""):
    """Everything until the server closes."""
    out = rest
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def exec_create(d, cid, cmd, status=201, **cfg):
    body = {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True}
    body.update(cfg)
    r = d.req("POST", f"/v1.44/containers/{cid}/exec", body=json.dumps(body),
              headers={"Content-Type": "application/json"})
    if r.status != status:
        raise Failure(f"exec create: {r.status} {r.body!r}, want {status}")
    return r.json()["Id"] if status == 201 else r.json()


def exec_start(d, eid, tty=False, stdin=None):
    """An upgraded start: all the output until the shim closes."""
    s, out = upgrade(d, f"/v1.44/exec/{eid}/start",
                     json.dumps({"Detach": False, "Tty": tty}).encode(), "exec start")
    if stdin is not None:
        s.sendall(stdin)
        s.shutdown(socket.SHUT_WR)
    out = read_all(s, out)
    s.close()
    return out
