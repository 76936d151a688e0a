#!/usr/bin/env python3
"""Self-test of the image fixtures (tests/fixtures/mkimage.py) and the local registry
(registry.py) that isod's pull/load/save tests stand on. Needs docker-registry, skopeo,
apache2-utils (htpasswd), busybox-static and zstd; no isod."""
import io
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import registry
from harness import Failure, run, test
from registry import Registry, RegistryError

import mkimage as mk  # registry put tests/fixtures on sys.path

MKIMAGE = os.path.join(os.path.dirname(registry._fixtures), "fixtures", "mkimage.py")
_dirs = []      # every temp dir made here: all must be gone at the end
_registries = []


def tmpdir(prefix="isod-fixtures-"):
    d = tempfile.mkdtemp(prefix=prefix, dir=registry.temp_base())
    _dirs.append(d)
    return d


def timed(what, fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    print(f"# {what}: {time.monotonic() - t0:.2f} s", flush=True)
    return r


def manifest_of(layout, tag):
    m, cfg, _ = mk.read_layout(layout, tag)
    return m, cfg


def layer_digests(layout, tag):
    return [l["digest"] for l in manifest_of(layout, tag)[0]["layers"]]


# ---------------------------------------------------------------------------------------------
# A reference unpacker, independent of mkimage's model: applies the real layer blobs of a layout
# in order into one directory, with OCI whiteout/opaque handling, using tarfile.

def _remove(p):
    if os.path.islink(p) or not os.path.isdir(p):
        if os.path.lexists(p):
            os.unlink(p)
    else:
        shutil.rmtree(p)


def reference_unpack(layout, tag, root):
    m, _, blobs = mk.read_layout(layout, tag)
    old = os.umask(0o022)
    try:
        for desc, blob in zip(m["layers"], blobs):
            tf = tarfile.open(fileobj=io.BytesIO(mk.decompress(blob, desc["mediaType"])))
            members = tf.getmembers()
            for mem in members:               # whiteouts hide what the lower layers have
                d, b = posixpath.split(mem.name.rstrip("/"))
                if b == ".wh..wh..opq":
                    p = os.path.join(root, d)
                    if os.path.isdir(p) and not os.path.islink(p):
                        for c in os.listdir(p):
                            _remove(os.path.join(p, c))
                elif b.startswith(".wh."):
                    _remove(os.path.join(root, d, b[4:]))
            for mem in members:
                if posixpath.basename(mem.name.rstrip("/")).startswith(".wh."):
                    continue
                target = os.path.join(root, mem.name)
                if os.path.lexists(target) and not (
                        mem.isdir() and os.path.isdir(target) and not os.path.islink(target)):
                    _remove(target)
                tf.extract(mem, root, set_attrs=True, numeric_owner=True,
                           filter="fully_trusted")
                for k, v in mem.pax_headers.items():
                    if k.startswith("SCHILY.xattr."):
                        os.setxattr(target, k[len("SCHILY.xattr."):], v.encode(),
                                    follow_symlinks=False)
    finally:
        os.umask(old)


# ---------------------------------------------------------------------------------------------

@test
def registry_round_trips_busybox_layered_and_128_layers(t):
    src, back = tmpdir(), tmpdir()
    timed("build busybox + layered + many:128 (+ zstd layered)", lambda: [
        mk.oci_layout(src, mk.busybox(), tag="busybox"),
        mk.oci_layout(src, mk.layered(), tag="layered"),
        mk.oci_layout(src, mk.layered("zstd"), tag="layered-zstd"),
        mk.oci_layout(src, mk.many_layers(128), tag="many")])
    t.eq(len(layer_digests(src, "many")), 128, "many:128 has 128 layers")
    t.eq(len(layer_digests(src, "layered")), 4, "layered has 4 layers")
    with Registry() as reg:
        _registries.append(reg)
        t.true(reg.url.startswith("127.0.0.1:"), f"url {reg.url}")
        for tag, name in [("busybox", "library/busybox"), ("layered", "layered"),
                          ("layered-zstd", "layered"), ("many", "many")]:
            timed(f"skopeo push {tag}", reg.push, src, name, tag)
            timed(f"skopeo pull {tag}", reg.pull, name, tag, back)
            m1, c1 = manifest_of(src, tag)
            m2, c2 = manifest_of(back, tag)
            t.eq(layer_digests(back, tag), layer_digests(src, tag), f"{tag} layer digests")
            t.eq(m2["config"]["digest"], m1["config"]["digest"], f"{tag} config digest")
            t.eq(c2["rootfs"]["diff_ids"], c1["rootfs"]["diff_ids"], f"{tag} diff_ids")
        t.eq([l["mediaType"] for l in manifest_of(back, "layered-zstd")[0]["layers"]],
             [mk.MT_LAYER["zstd"]] * 4, "zstd layers stay zstd")
        # the registry answers the manifest by tag with the digest we computed
        b = mk.build(mk.many_layers(128))
        st, hdrs, body = reg.get("/v2/many/manifests/many",
                                 {"Accept": mk.MT_MANIFEST})
        t.eq(st, 200, "GET manifest status")
        t.eq(hdrs.get("docker-content-digest"), b.manifest_digest, "Docker-Content-Digest")
        t.eq(body, b.manifest, "manifest bytes")
        # the fast path: written into storage, pulled back the same
        timed("seed many:128", reg.seed, src, "seeded", "many")
        timed("skopeo pull seeded", reg.pull, "seeded", "many", back, "seeded")
        t.eq(layer_digests(back, "seeded"), layer_digests(src, "many"), "seeded layer digests")
        st, _, body = reg.get("/v2/seeded/tags/list")
        t.eq(json.loads(body), {"name": "seeded", "tags": ["many"]}, "seeded tags/list")
        cfg = manifest_of(back, "busybox")[1]
        t.eq((cfg["architecture"], cfg["os"]), ("amd64", "linux"), "platform")
        t.eq(cfg["config"]["Cmd"], ["sh"], "Cmd")
        t.eq(cfg["config"]["Env"], ["PATH=" + mk.DEFAULT_PATH], "Env")
        t.eq(len(cfg["history"]), 1, "one history entry per layer")


@test
def multi_platform_index_pushes_with_all(t):
    src, back = tmpdir(), tmpdir()
    ib = mk.oci_index(src, mk.multiplatform(), tag="multi")
    with Registry() as reg:
        _registries.append(reg)
        reg.push_index(src, "multi", "multi")
        r = reg.inspect("multi", "multi", raw=True)
        t.eq(r.returncode, 0, f"inspect --raw: {r.stderr}")
        t.eq(r.stdout.encode().strip(), ib.index, "the index is stored unchanged")
        idx = json.loads(r.stdout)
        t.eq([m["platform"]["architecture"] for m in idx["manifests"]], ["amd64", "arm64"],
             "platforms")
        for arch, want in [("arm64", b"linux/arm64/v8\n"), ("amd64", b"linux/amd64\n")]:
            d = tmpdir()
            p = reg.skopeo("--override-arch", arch, "copy", "--quiet", "--src-tls-verify=false",
                           f"docker://{reg.ref('multi', 'multi')}", f"oci:{d}:x")
            t.eq(p.returncode, 0, f"pull {arch}: {p.stderr}")
            _, cfg, blobs = mk.read_layout(d, "x")
            t.eq(cfg["architecture"], arch, "architecture of the pulled image")
            top = tarfile.open(fileobj=io.BytesIO(mk.decompress(blobs[-1], "+gzip")))
            t.eq(top.extractfile("etc/platform").read(), want, f"/etc/platform for {arch}")
        reg.seed(src, "multi-seeded", "multi")
        reg.pull("multi-seeded", "multi", back, all=True)
        with open(os.path.join(back, "index.json")) as f:
            t.eq(json.load(f)["manifests"][0]["digest"], ib.index_digest, "seeded index digest")


@test
def expected_tree_matches_a_reference_unpack(t):
    src = tmpdir()
    images = {"busybox": mk.busybox(), "layered": mk.layered(),
              "layered-zstd": mk.layered("zstd"), "layered-none": mk.layered("none"),
              "many": mk.many_layers(8)}
    for tag, img in images.items():
        mk.oci_layout(src, img, tag=tag)
        root = tmpdir()
        reference_unpack(src, tag, root)
        want, got = mk.expected_tree(img), mk.scan_tree(root)
        t.eq(mk.diff_trees(want, got), [], f"{tag}: expected_tree vs unpacked")
        t.eq(mk.scan_hardlinks(root), mk.expected_hardlinks(img), f"{tag} hardlinks")
    lay = mk.expected_tree(mk.layered())
    t.true("/bin/yes" not in lay and "/bin/true" in lay, "whiteout of a base file")
    t.eq(sorted(p for p in lay if p.startswith("/opt/")), ["/opt/data", "/opt/data/new"],
         "opaque dir keeps only the upper entries; whited-out dir gone")
    t.eq(lay["/opt/data"].mode, 0o750, "opaque dir's own mode")
    t.eq((lay["/srv"].mode, lay["/srv"].uid, lay["/srv"].gid), (0o755, 1000, 1000),
         "dir mode/owner changed by a later layer")
    t.eq(lay["/srv/keep"].type, "file", "children survive a dir metadata change")
    t.eq((lay["/etc/motd"].mode, lay["/etc/motd"].data),
         (0o600, mk.hashlib.sha256(b"motd v2\n").hexdigest()), "deleted then re-added")
    t.eq(lay["/usr/bin/suid-tool"].mode, 0o4755, "setuid")
    t.eq((lay["/data/dev-null-copy"].type, lay["/data/dev-null-copy"].data), ("char", (1, 3)),
         "char device")
    t.eq(lay["/data/fifo"].type, "fifo", "fifo")
    t.eq(lay["/data/rel-link"].data, "hl-a", "relative symlink")
    t.eq(lay["/data/abs-link"].data, "/etc/passwd", "absolute symlink")
    t.eq(lay["/data/xattr-file"].xattrs, (("user.isod.test", b"hello"),), "user xattr")
    t.eq(mk.expected_hardlinks(mk.layered()), {frozenset({"/data/hl-a", "/data/hl-b"})},
         "hardlink pair")
    bb = mk.expected_tree(mk.busybox())
    for a in mk.APPLETS:
        t.eq(bb[f"/bin/{a}"][:5], ("symlink", 0o777, 0, 0, "busybox"), f"applet {a}")
    t.eq(bb["/bin/busybox"].mode, 0o755, "busybox mode")
    t.eq((bb["/tmp"].mode, bb["/root"].mode), (0o1777, 0o700), "tmp and root modes")
    t.eq(bb["/home/app"][:4], ("dir", 0o755, 1000, 1000), "/home/app")


@test
def busybox_runs_as_the_image_describes(t):
    """The unpacked busybox rootfs works under chroot: applets, users, groups."""
    src, root = tmpdir(), tmpdir()
    mk.oci_layout(src, mk.busybox(), tag="b")
    reference_unpack(src, "b", root)
    os.chmod(root, 0o755)                   # mkdtemp made it 0700: app could not traverse /
    r = subprocess.run(["chroot", "--userspec=1000:1000", "--groups=1000,2000", root, "/bin/id"],
                       capture_output=True, text=True,
                       env={"PATH": mk.DEFAULT_PATH})
    t.eq(r.stdout.strip(), "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)",
         f"id as app ({r.stderr})")
    r = subprocess.run(["chroot", root, "/bin/sh", "-c", "echo hi | sha256sum; ls /bin"],
                       capture_output=True, text=True, env={"PATH": mk.DEFAULT_PATH})
    t.eq(r.stdout.split()[0], mk.hashlib.sha256(b"hi\n").hexdigest(), f"sha256sum ({r.stderr})")
    t.eq(sorted(r.stdout.split()[2:]), sorted(mk.APPLETS + ["busybox"]), "ls /bin")


@test
def digests_are_stable_across_processes(t):
    a, b = tmpdir(), tmpdir()
    for d in (a, b):
        for spec in ("busybox", "layered", "many:128"):
            r = subprocess.run([sys.executable, MKIMAGE, "oci", d, spec, "--tag", spec],
                               capture_output=True, text=True)
            t.eq(r.returncode, 0, f"mkimage oci {spec}: {r.stderr}")
        r = subprocess.run([sys.executable, MKIMAGE, "oci", d, "layered", "--zstd", "--tag", "z"],
                           capture_output=True, text=True)
        t.eq(r.returncode, 0, f"mkimage oci layered --zstd: {r.stderr}")
    with open(os.path.join(a, "index.json"), "rb") as f1, \
            open(os.path.join(b, "index.json"), "rb") as f2:
        t.eq(f1.read(), f2.read(), "index.json identical")
    t.eq(sorted(os.listdir(os.path.join(a, "blobs", "sha256"))),
         sorted(os.listdir(os.path.join(b, "blobs", "sha256"))), "same blobs")
    with open(os.path.join(a, "index.json")) as f:
        by_tag = {m["annotations"][mk.REF_NAME]: m["digest"] for m in json.load(f)["manifests"]}
    t.eq(by_tag["layered"], mk.build(mk.layered()).manifest_digest,
         "in-process build equals the CLI's")
    t0 = time.monotonic()
    mk._busybox_layer.clear()
    mk._compress_cache.clear()
    mk.oci_layout(tmpdir(), mk.many_layers(128), tag="m")
    dt = time.monotonic() - t0
    print(f"# build many:128 from cold: {dt:.2f} s", flush=True)
    t.true(dt < 5, f"many:128 builds in under 5 s (took {dt:.2f})")


def _tar_names(path):
    with tarfile.open(path) as tf:
        return {m.name: m for m in tf.getmembers()}


def _tar_read(path, name):
    with tarfile.open(path) as tf:
        return tf.extractfile(name).read()


@test
def docker_archive_in_both_forms(t):
    d = tmpdir()
    modern, legacy = os.path.join(d, "modern.tar"), os.path.join(d, "legacy.tar")
    img = mk.layered()
    b = mk.build(img)
    mk.docker_archive(modern, [(img, ["layered:latest", "localhost:5000/x/y:v1"]),
                               (mk.busybox(), ["busybox"])])
    mk.docker_archive(legacy, [(img, ["layered:latest"])], legacy=True)
    for path, form in [(modern, "modern"), (legacy, "legacy")]:
        names = _tar_names(path)
        man = json.loads(_tar_read(path, "manifest.json"))
        t.eq(man[0]["RepoTags"], ["layered:latest", "localhost:5000/x/y:v1"][
             :2 if form == "modern" else 1], f"{form} RepoTags")
        cfg = json.loads(_tar_read(path, man[0]["Config"]))
        t.eq(mk.sha256(_tar_read(path, man[0]["Config"])), b.config_digest,
             f"{form} config digest = image ID")
        got = [mk.sha256(_tar_read(path, l)) for l in man[0]["Layers"]]
        t.eq(got, cfg["rootfs"]["diff_ids"], f"{form} layers are the uncompressed diff_ids")
        repos = json.loads(_tar_read(path, "repositories"))
        t.true("layered" in repos and "latest" in repos["layered"], f"{form} repositories")
        r = subprocess.run(["skopeo", "--insecure-policy", "inspect",
                            f"docker-archive:{path}:layered:latest"],
                           capture_output=True, text=True)
        t.eq(r.returncode, 0, f"skopeo reads the {form} docker-archive: {r.stderr}")
        if form == "modern":
            for n in ("oci-layout", "index.json", "blobs/", "blobs/sha256/"):
                t.true(n.rstrip("/") in names, f"modern archive has {n}")
            idx = json.loads(_tar_read(path, "index.json"))
            anns = [m["annotations"] for m in idx["manifests"]]
            t.eq(anns[0], {mk.CONTAINERD_NAME: "docker.io/library/layered:latest",
                           mk.REF_NAME: "latest"}, "index.json annotations")
            t.eq(anns[1][mk.CONTAINERD_NAME], "localhost:5000/x/y:v1", "registry-qualified name")
            r = subprocess.run(["skopeo", "--insecure-policy", "inspect",
                                f"oci-archive:{path}:v1"], capture_output=True, text=True)
            t.eq(r.returncode, 0, f"skopeo reads it as an oci-archive: {r.stderr}")
            t.eq(names["manifest.json"].mtime, 0, "manifest.json mtime 0, as moby writes it")
        else:
            for l in man[0]["Layers"]:
                v = l.split("/")[0]
                t.true(f"{v}/VERSION" in names and f"{v}/json" in names, f"legacy {v}/ files")
    untagged = os.path.join(d, "untagged.tar")
    mk.docker_archive(untagged, [(mk.busybox(), [])])
    t.eq(json.loads(_tar_read(untagged, "manifest.json"))[0]["RepoTags"], None,
         "untagged image: RepoTags null")
    t.true("repositories" not in _tar_names(untagged), "untagged: no repositories file")
    gz = os.path.join(d, "gz.tar")
    mk.docker_archive(gz, [(img, ["layered"])], layer_compression="gzip")
    man = json.loads(_tar_read(gz, "manifest.json"))
    t.eq(_tar_read(gz, man[0]["Layers"][0])[:2], b"\x1f\x8b", "gzip layers when asked")


@test
def malicious_layers_hold_exactly_the_bad_entries(t):
    want = {
        "dotdot": [("../escape", "file", "")],
        "absolute": [("/abs", "dir", ""), ("/abs/escape", "file", "")],
        "nested-dotdot": [("a", "dir", ""), ("a/../../escape", "file", "")],
        "symlink-write-through": [("evil", "symlink", "/x/SENTINEL"), ("evil/pwned", "file", "")],
        "hardlink-dotdot": [("passwd-link", "hardlink", "../../etc/passwd")],
        "hardlink-absolute-missing": [("shadow-link", "hardlink", "/etc/shadow")],
        "bare-whiteout": [(".wh.", "file", "")],
        "overlay-xattr": [("ovl", "dir", ""), ("ovl/file", "file", "")],
    }
    t.eq(sorted(want), sorted(mk.MALICIOUS_KINDS), "kinds")
    kinds = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
             tarfile.LNKTYPE: "hardlink"}
    for kind, entries in want.items():
        img = mk.malicious(kind, sentinel="/x/SENTINEL")
        t.eq(len(img.layers), 1, f"{kind}: one layer")
        tf = tarfile.open(fileobj=io.BytesIO(img.layers[0].tar()))
        got = [(m.name, kinds[m.type], m.linkname) for m in tf.getmembers()]
        t.eq(got, [("ok", "file", "")] + entries, f"{kind} entries")
        if kind == "overlay-xattr":
            t.eq(tf.getmember("ovl").pax_headers, {"SCHILY.xattr.trusted.overlay.opaque": "y"},
                 "trusted.overlay.opaque xattr")


@test
def htpasswd_registry_wants_credentials(t):
    src = tmpdir()
    mk.oci_layout(src, mk.busybox(), tag="latest")
    with Registry(auth=("isod", "s3cret")) as reg:
        _registries.append(reg)
        st, hdrs, _ = reg.get("/v2/")
        t.eq(st, 401, "anonymous /v2/")
        t.contains(hdrs.get("www-authenticate", ""), 'Basic realm="isod-test"', "challenge")
        t.eq(reg.get("/v2/", auth=("isod", "s3cret"))[0], 200, "/v2/ with creds")
        try:
            reg.push(src, "bb", "latest", creds=False)
            raise Failure("anonymous push was accepted")
        except RegistryError as e:
            t.contains(str(e).lower(), "unauthorized", "anonymous push refused")
        reg.push(src, "bb", "latest")                       # the registry's own creds
        r = reg.inspect("bb", creds=False)
        t.true(r.returncode != 0, "anonymous inspect refused")
        t.contains(r.stderr.lower(), "unauthorized", "anonymous inspect error")
        r = reg.inspect("bb", creds=("isod", "wrong"))
        t.true(r.returncode != 0, "wrong password refused")
        r = reg.inspect("bb", creds=("isod", "s3cret"))
        t.eq(r.returncode, 0, f"inspect with creds: {r.stderr}")
        t.eq(json.loads(r.stdout)["Layers"], layer_digests(src, "latest"), "inspected layers")


@test
def registry_stops_and_cleans_up_when_the_body_raises(t):
    reg = Registry()
    try:
        with reg:
            pid, tmp = reg.proc.pid, reg.tmp
            t.true(os.path.isdir(tmp), "temp dir exists while running")
            raise ValueError("boom")
    except ValueError:
        pass
    t.true(not os.path.exists(tmp), "temp dir removed")
    t.true(pid not in registry.leaked(), "registry process gone")
    t.true(reg.proc.returncode is not None, "reaped")


@test
def cli_writes_layouts_and_archives(t):
    d = tmpdir()
    lay, arc = os.path.join(d, "lay"), os.path.join(d, "bb.tar")
    r = subprocess.run([sys.executable, MKIMAGE, "oci", lay, "busybox"], capture_output=True,
                       text=True)
    t.eq(r.returncode, 0, f"oci: {r.stderr}")
    t.eq(r.stdout.strip(), mk.build(mk.busybox()).manifest_digest, "prints the manifest digest")
    with open(os.path.join(lay, "oci-layout")) as f:
        t.eq(json.load(f), {"imageLayoutVersion": "1.0.0"}, "oci-layout")
    with open(os.path.join(lay, "index.json")) as f:
        t.eq(json.load(f)["manifests"][0]["annotations"], {mk.REF_NAME: "latest"}, "ref name")
    r = subprocess.run([sys.executable, MKIMAGE, "docker-archive", arc, "busybox"],
                       capture_output=True, text=True)
    t.eq(r.returncode, 0, f"docker-archive: {r.stderr}")
    t.eq(json.loads(_tar_read(arc, "manifest.json"))[0]["RepoTags"], ["busybox:latest"],
         "RepoTags")


@test
def nothing_left_behind(t):
    t.eq(registry.leaked(), [], "registry processes still running")
    t.eq([r.workdir for r in _registries if os.path.exists(r.workdir)], [],
         "registry temp dirs left")
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)
    t.eq([d for d in _dirs if os.path.exists(d)], [], "temp dirs left")


run()
