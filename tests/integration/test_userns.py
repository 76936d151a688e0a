"""--userns-remap: containers in a user namespace mapped onto the isodremap user's subordinate
ids, with the shared layer store presented through idmapped mounts."""
import os
import pwd
import subprocess

from harness import Failure, Isod, run, test

import ctrlib
from ctrlib import create, demux, exec_create, exec_start, inspect, rm, run_ctr, start, wait

USER = "isodremap"
_etc = {}
_created = False


def _snapshot():
    """/etc files the daemon may change when it creates the user; restored if it did."""
    global _created
    try:
        pwd.getpwnam(USER)
    except KeyError:
        _created = True
    for f in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/subuid",
              "/etc/subgid"):
        try:
            with open(f, "rb") as fh:
                _etc[f] = fh.read()
        except FileNotFoundError:
            _etc[f] = None


def _restore():
    if not _created:
        return
    subprocess.run(["userdel", USER], capture_output=True)
    for f, data in _etc.items():
        if data is None:
            if os.path.exists(f):
                os.unlink(f)
            continue
        with open(f, "rb") as fh:
            if fh.read() == data:
                continue
        with open(f, "wb") as fh:
            fh.write(data)


def remap_daemon(*args):
    return ctrlib.daemon("--userns-remap", "default", *args, searchable=True)


def subid(path):
    with open(path) as f:
        for line in f:
            name, start, count = line.strip().split(":")
            if name == USER:
                return int(start), int(count)
    raise Failure(f"no {USER} range in {path}")


@test
def remapped_root_is_the_subordinate_range(t):
    d = remap_daemon()
    try:
        ustart, ucount = subid("/etc/subuid")
        gstart, gcount = subid("/etc/subgid")
        t.true(ucount >= 65536 and gcount >= 65536, "ranges of 65536 ids at least")
        r = d.get("/v1.44/info")
        t.true("name=userns" in r.json()["SecurityOptions"], "docker info lists name=userns")

        code, out, err, cid = run_ctr(d, ["sh", "-c",
                                          "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
                                          "echo hi > /etc/x && cat /etc/x; "
                                          "stat -c '%u %g' /bin/busybox"])
        t.eq(code, 0, f"exit code (stderr {err!r})")
        lines = [" ".join(x.split()) for x in out.splitlines()]
        t.eq(lines, [f"0 {ustart} {ucount}", f"0 {gstart} {gcount}", "0", "hi", "0 0"],
             "maps, root inside, a write to /etc, image files owned by root")
        # Through the idmapped upper layer the file lands on disk as uid 0.
        up = os.path.join(d.root, "containers", cid, "upper", "etc", "x")
        st = os.stat(up)
        t.eq((st.st_uid, st.st_gid), (0, 0), "upper file owned by host root on disk")
        t.eq(os.stat(os.path.join(d.root, "containers", cid, "upper")).st_mode & 0o777, 0o700,
             "upper closed to host users")
        rm(d, cid)

        # The process runs as the first subordinate uid on the host; exec joins the namespace.
        cid = create(d, ["sleep", "30"])
        start(d, cid)
        pid = inspect(d, cid)["State"]["Pid"]
        with open(f"/proc/{pid}/status") as f:
            st = {k: v.split() for k, v in (ln.split(":", 1) for ln in f)}
        t.eq(st["Uid"][0], str(ustart), "host uid of the container's root")
        t.eq(st["Gid"][0], str(gstart), "host gid of the container's root")
        eid = exec_create(d, cid, ["sh", "-c", "id -u; cat /proc/self/uid_map"])
        out, _ = demux(exec_start(d, eid))
        t.eq([" ".join(x.split()) for x in out.splitlines()], ["0", f"0 {ustart} {ucount}"],
             "exec runs in the user namespace")
        rm(d, cid, force=True)

        # A terminal, a read-only root and a bind mount of a host directory work there too.
        src = os.path.join(d.tmp, "src")
        os.mkdir(src)
        os.chmod(src, 0o755)
        with open(os.path.join(src, "f"), "w") as f:
            f.write("host file\n")
        cid = create(d, ["sh", "-c", "id -u; cat /mnt/f; touch /y 2>/dev/null || echo ro"],
                     Tty=True, host={"ReadonlyRootfs": True, "Binds": [src + ":/mnt:ro"]})
        start(d, cid)
        t.eq(wait(d, cid), 0, "tty container exit code")
        r = d.get(f"/v1.44/containers/{cid}/logs?stdout=1")
        t.eq(r.body.decode().replace("\r", ""), "0\nhost file\nro\n", "tty output")
        rm(d, cid)

        # UsernsMode "host" opts out.
        code, out, _, cid = run_ctr(d, ["cat", "/proc/self/uid_map"],
                                    host={"UsernsMode": "host"})
        t.eq((code, " ".join(out.split())), (0, "0 0 4294967295"), "identity map")
        rm(d, cid)

        # Docker's rules: no privileged, no host network, in a user namespace.
        r = create(d, ["true"], host={"Privileged": True}, status=400)
        t.contains(r["message"], "privileged mode is incompatible with user namespaces")
        r = create(d, ["true"], host={"NetworkMode": "host"}, status=400)
        t.contains(r["message"], "user namespaces are enabled")
        r = create(d, ["true"], host={"UsernsMode": "private"}, status=400)
        t.contains(r["message"], "invalid USER mode")
        d.stop()
    finally:
        d.cleanup()


@test
def whiteouts_and_opaque_dirs_hide_lower_files_in_a_user_namespace(t):
    # The layers reach a remapped container through idmapped mounts: the overlay must still
    # read the image's whiteouts and opaque dirs, and make its own when the container
    # deletes a file of the image.
    mk = ctrlib.mk
    layers = [mk.busybox_layer(),
              mk.Layer([mk.Dir("etc"), mk.File("etc/gone", "lower\n"),
                        mk.File("etc/keep", "keep\n"), mk.Dir("data"),
                        mk.File("data/old", "old\n")]),
              mk.Layer([mk.Dir("etc"), mk.Whiteout("etc/gone"), mk.Dir("data"),
                        mk.Opaque("data"), mk.File("data/new", "new\n")])]
    archive = os.path.join(ctrlib._tmp, "whiteouts.tar")
    mk.docker_archive(archive, [(mk.Image(layers, mk.BUSYBOX_CONFIG), ["whiteouts:latest"])])
    d = remap_daemon()
    try:
        with open(archive, "rb") as f:
            r = d.req("POST", "/v1.44/images/load?quiet=1", body=f.read(),
                      headers={"Content-Type": "application/x-tar"}, timeout=120)
        t.eq(r.status, 200, "image loaded")
        code, out, err, cid = run_ctr(d, ["sh", "-c",
                                          "ls /etc/gone 2>&1; ls /data; cat /etc/keep; "
                                          "rm /etc/keep && ls /etc/keep 2>&1; echo done"],
                                      Image="whiteouts")
        t.eq(code, 0, f"exit code (stderr {err!r})")
        t.eq(out.splitlines(), ["ls: /etc/gone: No such file or directory", "new", "keep",
                                "ls: /etc/keep: No such file or directory", "done"],
             "whiteout hides, opaque dir shows only its own, a delete inside hides the lower")
        rm(d, cid)
    finally:
        d.cleanup()


@test
def startup_errors_are_clear(t):
    for arg, want in (("no-such-user-xyz", "no such user 'no-such-user-xyz'"),
                      ("root", "cannot remap to root"),
                      ("nobody:no-such-group-xyz", "no such group")):
        d = Isod(args=("--userns-remap", arg), wait=False)
        try:
            d.start()
            code = d.proc.wait(10)
            with open(d.stderr_path) as f:
                log = f.read()
            t.true(code != 0, f"{arg}: isod exits")
            t.contains(log, want, f"{arg}: message")
        finally:
            d.cleanup()
    # The root's parents must be searchable by the remapped root.
    d = Isod(args=("--userns-remap", "default"), wait=False)
    try:
        os.chmod(d.tmp, 0o700)
        d.start()
        t.true(d.proc.wait(10) != 0, "isod exits")
        with open(d.stderr_path) as f:
            t.contains(f.read(), "must be searchable by others")
    finally:
        d.cleanup()


_snapshot()
try:
    run()
finally:
    _restore()
