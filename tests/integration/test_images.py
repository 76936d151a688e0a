#!/usr/bin/env python3
"""Images: pulls from a real local registry (Debian's docker-registry) through the API, isoctl
and the docker CLI; the unpacked layers checked byte for byte through a real overlay mount;
bad input, malicious layers, crash safety, tags and removal."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

import registry
from harness import (Failure, Isod, docker, docker_clients, isoctl, request, run, test,
                     wait_until)
from registry import Registry

import mkimage as mk

_tmp = tempfile.mkdtemp(prefix="isod-images-", dir=registry.temp_base())


def layout(name, image, tag="latest"):
    d = os.path.join(_tmp, name)
    return d, mk.oci_layout(d, image, tag=tag)


def pull(d, ref, auth=None, timeout=120):
    """POST /images/create; returns (status, list of JSON lines or the error body)."""
    name, _, tag = ref.rpartition(":") if "@" not in ref else (ref, "", "")
    path = "/v1.44/images/create?fromImage=" + (name or ref) + ("&tag=" + tag if tag else "")
    headers = {"X-Registry-Auth": auth} if auth else {}
    r = d.req("POST", path, headers=headers, timeout=timeout)
    if r.status != 200:
        return r.status, r.json()
    return 200, [json.loads(l) for l in r.body.splitlines() if l.strip()]


def statuses(lines):
    return [l.get("status", "") for l in lines]


def chain_dirs(d):
    con = sqlite3.connect(f"file:{os.path.join(d.root, 'isod.db')}?mode=ro", uri=True)
    try:
        return {row[0] for row in con.execute("SELECT chain_id FROM layers")}
    finally:
        con.close()


def image_layers(d, image_id):
    con = sqlite3.connect(f"file:{os.path.join(d.root, 'isod.db')}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute(
            "SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position", (image_id,))]
    finally:
        con.close()


class Overlay:
    """The image's layers mounted read-only, the way a container will see them."""

    def __init__(self, d, image_id):
        self.d = d
        self.chains = image_layers(d, image_id)
        self.target = tempfile.mkdtemp(prefix="isod-ovl-", dir=registry.temp_base())

    def __enter__(self):
        layers = os.path.join(self.d.root, "layers")
        shorts = []
        for c in reversed(self.chains):
            with open(os.path.join(layers, c.split(":")[1], "link")) as f:
                shorts.append("l/" + f.read().strip())
        if len(shorts) == 1:
            subprocess.run(["mount", "--bind", "-o", "ro", os.path.join(layers, shorts[0]),
                            self.target], check=True)
        else:
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            "ro,lowerdir=" + ":".join(shorts), self.target], check=True,
                           cwd=layers)
        return self.target

    def __exit__(self, *exc):
        subprocess.run(["umount", self.target], check=False)
        os.rmdir(self.target)


def helpers_of(root):
    """Live isod-fetch processes working on root."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argv[0].endswith(b"isod-fetch") and root.encode() in argv and state != "Z":
            found.append(int(pid))
    return found


def leftover_mounts():
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if "isod-ovl-" in l or "isod-it-" in l]


@test
def pull_busybox_through_the_api(t):
    d_bb, built = layout("busybox", mk.busybox())
    with Registry() as reg, Isod() as d:
        reg.seed(d_bb, "library/busybox", "latest")
        ref = reg.ref("library/busybox")
        status, lines = pull(d, ref)
        t.eq(status, 200, f"pull status: {lines}")
        st = statuses(lines)
        t.eq(st[0], "Pulling from library/busybox", "first line")
        for want in ("Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete",
                     "Extracting", "Pull complete"):
            t.true(want in st, f"'{want}' in {st}")
        t.eq(st[-2], "Digest: " + built.manifest_digest, "digest line")
        t.eq(st[-1], f"Status: Downloaded newer image for {ref}", "final line")
        dl = [l for l in lines if l.get("status") == "Downloading"]
        t.eq(dl[-1]["progressDetail"]["total"], len(built.layers[0].blob()), "progress total")
        t.eq(lines[1]["id"], built.layer_digests[0][7:19], "layer id is 12 hex of the blob")

        images = d.get("/v1.44/images/json").json()
        t.eq(len(images), 1, "one image")
        t.eq(images[0]["Id"], built.config_digest, "image id is the config digest")
        t.eq(images[0]["RepoTags"], [ref], "RepoTags")
        t.eq(images[0]["RepoDigests"], [ref.rsplit(":", 1)[0] + "@" + built.manifest_digest],
             "RepoDigests")
        t.true(images[0]["Size"] > 1000000, "size counts the unpacked busybox")

        # The unpacked layer is the tar, byte for byte.
        with Overlay(d, built.config_digest) as root:
            t.eq(mk.diff_trees(mk.expected_tree(mk.busybox()), mk.scan_tree(root)), [],
                 "rootfs differences")
        # Pulling again fetches nothing.
        status, lines = pull(d, ref)
        t.true("Already exists" in statuses(lines), "layer already exists")
        t.eq(statuses(lines)[-1], f"Status: Image is up to date for {ref}", "up to date")
        t.eq(leftover_mounts(), [], "no mounts left")


@test
def layered_image_merges_like_overlay_should(t):
    d_l, built = layout("layered", mk.layered())
    with Registry() as reg, Isod() as d:
        reg.seed(d_l, "test/layered", "v1", src_tag="latest")
        status, lines = pull(d, reg.ref("test/layered", "v1"))
        t.eq(status, 200, "status")
        t.true(not any("error" in l for l in lines), f"no error: {lines[-1]}")
        with Overlay(d, built.config_digest) as root:
            t.eq(mk.diff_trees(mk.expected_tree(mk.layered()), mk.scan_tree(root)), [],
                 "merged tree")
            t.eq(mk.scan_hardlinks(root), mk.expected_hardlinks(mk.layered()), "hardlinks")
        info = d.get("/v1.44/images/" + reg.ref("test/layered", "v1") + "/json").json()
        t.eq(info["RootFS"]["Layers"], built.diff_ids, "RootFS.Layers")
        t.eq(info["Config"]["Cmd"], ["sh"], "Config.Cmd from the image config")
        hist = d.get("/v1.44/images/" + built.config_digest[7:19] + "/history").json()
        t.eq(len(hist), len(built.diff_ids), "one history entry per layer")
        t.eq(hist[0]["Id"], built.config_digest, "newest entry carries the id")


@test
def max_concurrent_downloads_queues_layers(t):
    d_l, built = layout("layered-queue", mk.layered())
    with Registry() as reg, Isod(args=["--max-concurrent-downloads", "1"]) as d:
        reg.seed(d_l, "test/layered", "q", src_tag="latest")
        status, lines = pull(d, reg.ref("test/layered", "q"))
        t.eq(status, 200, "status")
        waiting = [l["id"] for l in lines if l.get("status") == "Waiting"]
        t.eq(len(waiting), len(built.layer_digests) - 1, f"all but one layer wait: {lines[:12]}")
        t.eq(statuses(lines)[-1], "Status: Downloaded newer image for " +
             reg.ref("test/layered", "q"), "pulled")


@test
def image_of_128_layers_pulls_and_mounts(t):
    d_m, built = layout("many", mk.many_layers(128))
    with Registry() as reg, Isod() as d:
        reg.seed(d_m, "test/many", "latest")
        status, lines = pull(d, reg.ref("test/many"))
        t.eq(status, 200, "status")
        t.true(not any("error" in l for l in lines), f"no error: {lines[-1]}")
        with Overlay(d, built.config_digest) as root:
            files = os.listdir(os.path.join(root, "layers"))
            t.eq(len(files), 127, "one file per added layer visible through one mount")
            t.true(os.path.exists(os.path.join(root, "bin", "busybox")), "base layer visible")


@test
def zstd_and_uncompressed_layers(t):
    for comp in ("zstd", "none"):
        d_z, built = layout("bb-" + comp, mk.busybox(comp))
        with Registry() as reg, Isod() as d:
            reg.seed(d_z, "test/bb", comp, src_tag="latest")
            status, lines = pull(d, reg.ref("test/bb", comp))
            t.eq(status, 200, f"{comp} status")
            t.true(statuses(lines)[-1].startswith("Status: Downloaded"), f"{comp}: {lines[-1]}")
            with Overlay(d, built.config_digest) as root:
                t.eq(mk.diff_trees(mk.expected_tree(mk.busybox()), mk.scan_tree(root)), [],
                     f"{comp} rootfs")


@test
def bad_references_and_missing_images_are_4xx(t):
    d_bb, built = layout("busybox2", mk.busybox())
    with Registry() as reg, Isod() as d:
        reg.seed(d_bb, "library/busybox", "latest")
        status, body = pull(d, "Upper/Case:latest")
        t.eq(status, 400, "uppercase reference")
        t.contains(body["message"], "invalid reference format", "message")
        status, body = pull(d, reg.ref("library/busybox", "nosuchtag"))
        t.eq(status, 404, f"missing tag: {body}")
        t.contains(body["message"].lower(), "not found", "missing tag message")
        status, body = pull(d, reg.ref("library/nosuchrepo", "latest"))
        t.eq(status, 404, f"missing repository: {body}")
        r = d.req("POST", "/v1.44/images/create?fromImage=busybox",
                  headers={"X-Registry-Auth": "!!not base64!!"})
        t.eq(r.status, 400, "bad X-Registry-Auth")
        status, body = pull(d, "127.0.0.1:1/library/busybox:latest")
        t.true(status >= 500 or status == 404, f"unreachable registry: {status}")
        t.contains(body["message"], "127.0.0.1:1", "message names the registry")
        t.eq(d.get("/v1.44/images/json").json(), [], "nothing half-made")
        t.eq(d.get("/_ping").status, 200, "daemon alive")


@test
def basic_auth_registry_needs_x_registry_auth(t):
    import base64
    d_bb, built = layout("busybox-auth", mk.busybox())
    with Registry(auth=("user", "pass")) as reg, Isod() as d:
        reg.push(d_bb, "private/busybox", "latest")
        status, body = pull(d, reg.ref("private/busybox"))
        t.true(status in (401, 403, 404, 500) or
               (status == 200 and "error" in body[-1]), f"anonymous refused: {status} {body}")
        bad = base64.urlsafe_b64encode(json.dumps(
            {"username": "user", "password": "wrong"}).encode()).decode()
        status, body = pull(d, reg.ref("private/busybox"), auth=bad)
        t.true(status != 200 or "error" in body[-1], "wrong password refused")
        good = base64.urlsafe_b64encode(json.dumps(
            {"username": "user", "password": "pass",
             "serveraddress": reg.url}).encode()).decode().rstrip("=")
        status, body = pull(d, reg.ref("private/busybox"), auth=good)
        t.eq(status, 200, "with credentials")
        t.true(statuses(body)[-1].startswith("Status: Downloaded"), f"pulled: {body[-1]}")
        t.true("pass" not in d.log(), "the password is never logged")


@test
def malicious_layers_fail_cleanly_and_write_nothing_outside(t):
    sentinel_dir = tempfile.mkdtemp(prefix="isod-sentinel-", dir=registry.temp_base())
    sentinel = os.path.join(sentinel_dir, "target")
    os.mkdir(sentinel)
    with Registry() as reg, Isod() as d:
        for kind in mk.MALICIOUS_KINDS:
            d_x, built = layout("mal-" + kind, mk.malicious(kind, sentinel=sentinel))
            reg.seed(d_x, "evil/" + kind, "latest")
            status, body = pull(d, reg.ref("evil/" + kind))
            failed = status != 200 or "error" in body[-1]
            t.eq(os.listdir(sentinel), [], f"{kind}: nothing written through to the host")
            for escape in ("/escape", "/abs/escape", os.path.join(d.root, "escape"),
                           os.path.join(d.root, "layers", "escape")):
                t.true(not os.path.exists(escape), f"{kind}: {escape} not created")
            if kind != "symlink-write-through":
                t.true(failed, f"{kind}: refused, not {body}")
                msg = body["message"] if isinstance(body, dict) else body[-1].get("error", "")
                t.true(len(msg) > 10, f"{kind}: a message ({msg!r})")
        t.eq(os.listdir(os.path.join(d.root, "tmp")), [], "no unpack left in tmp/")
        known = chain_dirs(d)
        on_disk = {"sha256:" + n for n in os.listdir(os.path.join(d.root, "layers"))
                   if n != "l"}
        t.eq(on_disk - known, set(), "no unrecorded layer directories")
    shutil.rmtree(sentinel_dir)


@test
def docker_cli_and_isoctl_pull(t):
    d_bb, built = layout("busybox3", mk.busybox())
    with Registry() as reg, Isod() as d:
        reg.seed(d_bb, "library/busybox", "latest")
        ref = reg.ref("library/busybox")
        for client in docker_clients():
            r = docker(client, d.sock, "pull", ref, timeout=120)
            t.eq(r.returncode, 0, f"{client} pull: {r.stderr}")
            t.contains(r.stdout, built.manifest_digest, f"{client} prints the digest")
            r = docker(client, d.sock, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
            t.eq(r.returncode, 0, f"{client} images: {r.stderr}")
            t.contains(r.stdout, ref + " " + built.config_digest[7:19], f"{client} images")
            r = docker(client, d.sock, "rmi", ref)
            t.eq(r.returncode, 0, f"{client} rmi: {r.stderr}")
            t.contains(r.stdout, "Untagged: " + ref, f"{client} rmi output")
            t.contains(r.stdout, "Deleted: " + built.config_digest, f"{client} rmi output")
        t.eq(d.get("/v1.44/images/json").json(), [], "all removed")
        t.eq([n for n in os.listdir(os.path.join(d.root, "layers")) if n != "l"], [],
             "layer directories removed with the last image")


@test
def isoctl_image_commands(t):
    d_bb, built = layout("busybox5", mk.busybox())
    with Registry() as reg, Isod() as d:
        reg.seed(d_bb, "library/busybox", "latest")
        ref = reg.ref("library/busybox")
        r = isoctl("pull", ref, host=d.sock, timeout=120)
        t.eq(r.returncode, 0, f"pull: {r.stderr}")
        t.contains(r.stdout, "Digest: " + built.manifest_digest, "pull prints the digest")
        t.eq(r.stdout.strip().splitlines()[-1], ref, "pull ends with the reference")
        r = isoctl("pull", "-q", ref, host=d.sock)
        t.eq(r.stdout.strip(), ref, "pull -q")
        r = isoctl("images", host=d.sock)
        t.eq(r.returncode, 0, f"images: {r.stderr}")
        t.contains(r.stdout, "REPOSITORY", "table header")
        row = [l for l in r.stdout.splitlines() if l.startswith(ref.rsplit(":", 1)[0])][0]
        t.eq(row.split()[1:3], ["latest", built.config_digest[7:19]], "tag and short id")
        r = isoctl("images", "-q", host=d.sock)
        t.eq(r.stdout.split(), [built.config_digest[7:19]], "images -q")
        r = isoctl("tag", ref, "mine/bb:v1", host=d.sock)
        t.eq(r.returncode, 0, f"tag: {r.stderr}")
        r = isoctl("image", "inspect", "mine/bb:v1", host=d.sock)
        t.eq(json.loads(r.stdout)[0]["Id"], built.config_digest, "image inspect")
        r = isoctl("system", "df", host=d.sock)
        t.eq(r.returncode, 0, f"system df: {r.stderr}")
        t.contains(r.stdout, "Images", "df table")
        r = isoctl("rmi", "nosuch:latest", host=d.sock)
        t.eq(r.returncode, 1, "rmi of an unknown image")
        t.contains(r.stderr, "No such image: nosuch:latest", "message")
        r = isoctl("rmi", "mine/bb:v1", ref, host=d.sock)
        t.eq(r.returncode, 0, f"rmi: {r.stderr}")
        t.contains(r.stdout, "Deleted: " + built.config_digest, "rmi output")
        r = isoctl("pull", reg.ref("library/nosuch"), host=d.sock)
        t.eq(r.returncode, 1, "pull of a missing repository")
        t.true(r.stderr.startswith("isoctl: "), f"error message: {r.stderr}")


@test
def tag_and_remove_follow_dockers_rules(t):
    d_bb, built = layout("busybox4", mk.busybox())
    with Registry() as reg, Isod() as d:
        reg.seed(d_bb, "library/busybox", "latest")
        ref = reg.ref("library/busybox")
        pull(d, ref)
        r = d.req("POST", f"/v1.44/images/{ref}/tag?repo=mine/bb&tag=v2")
        t.eq(r.status, 201, "tag")
        names = d.get("/v1.44/images/json").json()[0]["RepoTags"]
        t.eq(sorted(names), sorted([ref, "mine/bb:v2"]), "both names")
        r = d.req("DELETE", "/v1.44/images/" + built.config_digest[7:19])
        t.eq(r.status, 409, "by id with two repositories needs force")
        r = d.req("DELETE", "/v1.44/images/mine/bb:v2")
        t.eq(r.status, 200, "untag one name")
        t.eq(r.json(), [{"Untagged": "mine/bb:v2"}], "only untagged")
        r = d.req("DELETE", "/v1.44/images/nosuch:latest")
        t.eq(r.status, 404, "unknown image")
        t.eq(r.json()["message"], "No such image: nosuch:latest", "message")
        r = d.req("POST", "/v1.44/images/nosuch/tag?repo=x")
        t.eq(r.status, 404, "tag unknown image")
        r = d.req("POST", f"/v1.44/images/{ref}/tag?repo=UPPER")
        t.eq(r.status, 400, "tag with an invalid name")
        df = d.get("/v1.44/system/df").json()
        t.eq(len(df["Images"]), 1, "system df lists the image")
        t.true(df["LayersSize"] > 0, "LayersSize")
        r = d.req("POST", "/v1.44/images/prune?filters=" + '{"dangling":["false"]}')
        t.eq(r.status, 200, "prune all")
        # The bottom layer's chain id is its diff_id; a prune reports it last.
        t.eq(r.json()["ImagesDeleted"][-1], {"Deleted": built.diff_ids[0]}, "prune")
        t.eq(d.get("/v1.44/images/json").json(), [], "pruned")


@test
def kill_9_mid_pull_leaves_nothing_and_the_pull_works_after(t):
    big = mk.Image([mk.busybox_layer(), mk.Layer(
        [mk.File("big", os.urandom(48 << 20), mode=0o644)], "gzip", "big")], mk.BUSYBOX_CONFIG)
    d_b, built = layout("big", big)
    with Registry() as reg:
        reg.seed(d_b, "test/big", "latest")
        d = Isod().start()
        try:
            r = {}

            def go():
                try:
                    r["v"] = pull(d, reg.ref("test/big"))
                except Exception as e:  # the daemon dies under the request
                    r["v"] = e
            th = threading.Thread(target=go)
            th.start()
            wait_until(lambda: os.path.exists(os.path.join(d.root, "tmp")) and
                       os.listdir(os.path.join(d.root, "tmp")), 30, "an unpack in flight")
            t.true(helpers_of(d.root), "an isod-fetch at work")
            d.stop(signal.SIGKILL)
            wait_until(lambda: not helpers_of(d.root), 10, "helpers to die with isod")
            th.join(30)
            d2 = Isod(tmp=d.tmp, root=d.root).start()
            try:
                t.eq(d2.get("/v1.44/images/json").json(), [], "no image after the crash")
                t.eq(os.listdir(os.path.join(d.root, "tmp")), [], "tmp/ wiped at startup")
                t.eq({"sha256:" + n for n in os.listdir(os.path.join(d.root, "layers"))
                      if n != "l"} - chain_dirs(d2), set(), "no unrecorded layers")
                status, lines = pull(d2, reg.ref("test/big"))
                t.eq(status, 200, "pull after restart")
                t.true(statuses(lines)[-1].startswith("Status:"), f"pulled: {lines[-1]}")
                # A pull that reported success survives kill -9 right after.
                d2.stop(signal.SIGKILL)
                d3 = Isod(tmp=d.tmp, root=d.root).start()
                try:
                    imgs = d3.get("/v1.44/images/json").json()
                    t.eq([i["Id"] for i in imgs], [built.config_digest], "image survived")
                    with Overlay(d3, built.config_digest) as root:
                        t.eq(os.path.getsize(os.path.join(root, "big")), 48 << 20, "big file")
                finally:
                    d3.stop()
            finally:
                d2.stop()
        finally:
            d.cleanup()


@test
def sigterm_lets_a_pull_in_flight_finish(t):
    big = mk.Image([mk.busybox_layer(), mk.Layer(
        [mk.File("big", os.urandom(32 << 20), mode=0o644)], "gzip", "big")], mk.BUSYBOX_CONFIG)
    d_b, built = layout("big-term", big)
    with Registry() as reg:
        reg.seed(d_b, "test/big", "latest")
        d = Isod().start()
        try:
            r = {}
            th = threading.Thread(target=lambda: r.__setitem__("v", pull(d, reg.ref("test/big"))))
            th.start()
            wait_until(lambda: os.path.exists(os.path.join(d.root, "tmp")) and
                       os.listdir(os.path.join(d.root, "tmp")), 30, "an unpack in flight")
            d.send_signal(signal.SIGTERM)
            t.eq(d.proc.wait(30), 0, "exit code")
            th.join(30)
            t.eq(r["v"][0], 200, "the pull's answer")
            t.eq(statuses(r["v"][1])[-1], "Status: Downloaded newer image for " +
                 reg.ref("test/big"), "the pull finished before isod exited")
            t.true(not os.path.exists(d.sock), "socket removed")
        finally:
            d.cleanup()


@test
def sigterm_with_a_pull_stuck_on_a_silent_registry_exits_in_time(t):
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts into the backlog, never answers
    port = silent.getsockname()[1]
    d = Isod().start()
    try:
        r = {}
        th = threading.Thread(target=lambda: r.__setitem__("v", pull(d, f"127.0.0.1:{port}/a/b:x")))
        th.start()
        wait_until(lambda: helpers_of(d.root), 10, "the pull's helper")
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        t.eq(d.proc.wait(30), 0, "exit code after the grace period")
        took = time.monotonic() - t0
        t.true(9 < took < 15, f"bounded by the 10 s grace period (took {took:.1f} s)")
        th.join(10)
        t.eq(r["v"], (503, {"message": "isod is shutting down"}), "the waiting client's answer")
        wait_until(lambda: not helpers_of(d.root), 10, "helpers gone")
    finally:
        silent.close()
        d.cleanup()


@test
def concurrent_pulls_share_a_layer_fetch(t):
    base = mk.busybox_layer()
    a = mk.Image([base, mk.Layer([mk.File("a", "a\n")], "gzip", "a")], mk.BUSYBOX_CONFIG)
    b = mk.Image([base, mk.Layer([mk.File("b", "b\n")], "gzip", "b")], mk.BUSYBOX_CONFIG)
    d_a, built_a = layout("share-a", a)
    d_b, built_b = layout("share-b", b)
    with Registry() as reg, Isod() as d:
        reg.seed(d_a, "test/a", "latest")
        reg.seed(d_b, "test/b", "latest")
        results = {}
        ths = [threading.Thread(target=lambda n=n: results.__setitem__(n, pull(d, reg.ref(n))))
               for n in ("test/a", "test/b")]
        for th in ths:
            th.start()
        for th in ths:
            th.join(120)
        for n in ("test/a", "test/b"):
            t.eq(results[n][0], 200, f"{n} status")
            t.true(statuses(results[n][1])[-1].startswith("Status:"), f"{n}: {results[n][1][-1]}")
        base_blob = base.digest
        gets = [l for l in reg.log().splitlines()
                if "GET" in l and base_blob[7:] in l and "/blobs/" in l and '" 200 ' in l]
        t.true(len(gets) <= 1, f"base layer fetched once, not {len(gets)}: {gets[:3]}")
        t.eq(len(d.get("/v1.44/images/json").json()), 2, "both images")


@test
def platform_is_chosen_from_an_index(t):
    d_i = os.path.join(_tmp, "multi")
    idx = mk.oci_index(d_i, mk.multiplatform(), tag="latest")
    with Registry() as reg, Isod() as d:
        reg.seed(d_i, "test/multi", "latest")
        ref = reg.ref("test/multi")
        for platform, want in (("", "linux/amd64"), ("linux/arm64/v8", "linux/arm64/v8")):
            r = d.req("POST", "/v1.44/images/create?fromImage=" + ref.rsplit(":", 1)[0] +
                      "&tag=latest" + ("&platform=" + platform if platform else ""),
                      timeout=120)
            t.eq(r.status, 200, f"{want}: status")
            lines = [json.loads(l) for l in r.body.splitlines() if l.strip()]
            t.eq(statuses(lines)[-2], "Digest: " + idx.index_digest, "the index digest")
            built = idx.images[0 if want == "linux/amd64" else 1]
            with Overlay(d, built.config_digest) as root:
                with open(os.path.join(root, "etc", "platform")) as f:
                    t.eq(f.read().strip(), want, "the platform's rootfs")
        r = d.req("POST", "/v1.44/images/create?fromImage=" + ref.rsplit(":", 1)[0] +
                  "&tag=latest&platform=linux/s390x")
        body = r.json() if r.status != 200 else [json.loads(l) for l in r.body.splitlines()][-1]
        t.true(r.status != 200 or "error" in body, f"no s390x image: {body}")
        r = d.req("POST", "/v1.44/images/create?fromImage=" + ref.rsplit(":", 1)[0] +
                  "&platform=nonsense")
        t.eq(r.status, 400, "malformed platform")


@test
def login_checks_credentials_and_isoctl_uses_them(t):
    d_bb, built = layout("busybox-login", mk.busybox())
    with Registry(auth=("user", "pass")) as reg, Isod() as d:
        reg.push(d_bb, "private/bb", "latest")
        body = json.dumps({"username": "user", "password": "pass", "serveraddress": reg.url})
        r = d.req("POST", "/v1.44/auth", body=body, headers={"Content-Type": "application/json"})
        t.eq(r.status, 200, f"good credentials: {r.body}")
        t.eq(r.json()["Status"], "Login Succeeded", "status")
        body = json.dumps({"username": "user", "password": "nope", "serveraddress": reg.url})
        r = d.req("POST", "/v1.44/auth", body=body)
        t.eq(r.status, 401, "wrong password")
        t.contains(r.json()["message"], "unauthorized", "message")
        r = d.req("POST", "/v1.44/auth", body=json.dumps({"username": 5}))
        t.eq(r.status, 400, "a number for a username")
        t.eq(r.json()["message"], "field 'username' must be a string, not an integer", "message")
        r = d.req("POST", "/v1.44/auth", body="{not json")
        t.eq(r.status, 400, "bad JSON")
        t.contains(r.json()["message"], "invalid JSON", "message")
        r = d.req("POST", "/v1.44/auth", body="")
        t.eq(r.status, 400, "empty body")

        cfg = os.path.join(_tmp, "isoctl-config.json")
        env = {"ISOCTL_CONFIG": cfg}
        r = isoctl("login", "-u", "user", "--password-stdin", reg.url, host=d.sock, env=env,
                   input="pass\n")
        t.eq(r.returncode, 0, f"isoctl login: {r.stderr}")
        t.contains(r.stdout, "Login Succeeded", "login output")
        t.eq(oct(os.stat(cfg).st_mode & 0o777), "0o600", "credentials file mode")
        r = isoctl("pull", reg.ref("private/bb"), host=d.sock, env=env, timeout=120)
        t.eq(r.returncode, 0, f"pull with stored credentials: {r.stderr}")
        r = isoctl("logout", reg.url, host=d.sock, env=env)
        t.eq(r.returncode, 0, f"logout: {r.stderr}")
        r = isoctl("login", "-u", "user", "--password-stdin", reg.url, host=d.sock, env=env,
                   input="wrong\n")
        t.eq(r.returncode, 1, "login with a wrong password")


def archive_load(d, path, quiet=True):
    with open(path, "rb") as f:
        data = f.read()
    # Chunked, as `docker load` sends it.
    r = d.req("POST", "/v1.44/images/load?quiet=" + ("1" if quiet else "0"),
              body=iter([data[i:i + 65536] for i in range(0, len(data), 65536)]),
              headers={"Content-Type": "application/x-tar"},
              timeout=120)
    lines = [json.loads(l) for l in r.body.splitlines() if l.strip()] if r.status == 200 else []
    return r, lines


@test
def load_docker_archives_of_both_forms(t):
    with Isod() as d:
        for legacy in (False, True):
            path = os.path.join(_tmp, f"bb-{legacy}.tar")
            built = mk.docker_archive(path, [(mk.layered(), ["layered:v1", "layered:v2"])],
                                      legacy=legacy)[0]
            r, lines = archive_load(d, path)
            t.eq(r.status, 200, f"legacy={legacy}: {r.body[:300]}")
            streams = [l.get("stream") for l in lines]
            t.eq(sorted(streams), ["Loaded image: layered:v1\n", "Loaded image: layered:v2\n"],
                 f"legacy={legacy}: {lines}")
            imgs = d.get("/v1.44/images/json").json()
            t.eq([i["Id"] for i in imgs], [built.config_digest], "the config digest is the id")
            with Overlay(d, built.config_digest) as root:
                t.eq(mk.diff_trees(mk.expected_tree(mk.layered()), mk.scan_tree(root)), [],
                     f"legacy={legacy}: rootfs")
            d.req("DELETE", "/v1.44/images/layered:v1")
            d.req("DELETE", "/v1.44/images/layered:v2")
        t.eq(os.listdir(os.path.join(d.root, "tmp")), [], "the upload file is gone")


@test
def load_refuses_bad_archives_and_keeps_nothing(t):
    with Isod() as d:
        bad = os.path.join(_tmp, "bad.tar")
        with open(bad, "wb") as f:
            f.write(b"this is not a tar archive" * 100)
        r, lines = archive_load(d, bad)
        msg = r.json()["message"] if r.status != 200 else lines[-1].get("error", "")
        t.true(r.status >= 400 or "error" in lines[-1], f"refused: {r.status} {lines}")
        t.true(len(msg) > 5, f"a message: {msg!r}")
        import tarfile
        empty = os.path.join(_tmp, "empty.tar")
        with tarfile.open(empty, "w") as tf:
            info = tarfile.TarInfo("hello.txt")
            info.size = 2
            tf.addfile(info, __import__("io").BytesIO(b"hi"))
        r, lines = archive_load(d, empty)
        msg = r.json()["message"] if r.status != 200 else lines[-1].get("error", "")
        t.contains(msg, "manifest.json", "Docker's message for an archive without a manifest")
        t.eq(d.get("/v1.44/images/json").json(), [], "no image")
        t.eq(os.listdir(os.path.join(d.root, "tmp")), [], "no upload left in tmp/")
        t.eq([n for n in os.listdir(os.path.join(d.root, "layers")) if n != "l"], [],
             "no layer left")


@test
def save_then_load_round_trip_with_isoctl_and_docker(t):
    with Isod() as d:
        path = os.path.join(_tmp, "rt.tar")
        mk.docker_archive(path, [(mk.layered(), ["layered:rt"])])
        r, _ = archive_load(d, path)
        t.eq(r.status, 200, "load")
        saved = os.path.join(_tmp, "saved.tar")
        r = isoctl("save", "-o", saved, "layered:rt", host=d.sock)
        t.eq(r.returncode, 0, f"isoctl save: {r.stderr}")
        t.true(os.path.getsize(saved) > 1000000, "a real archive")
        d.req("DELETE", "/v1.44/images/layered:rt")
        t.eq(d.get("/v1.44/images/json").json(), [], "removed")
        r = isoctl("load", "-i", saved, host=d.sock)
        t.eq(r.returncode, 0, f"isoctl load: {r.stderr}")
        t.contains(r.stdout, "Loaded image: layered:rt", "isoctl load output")
        img = d.get("/v1.44/images/layered:rt/json").json()
        with Overlay(d, img["Id"]) as root:
            t.eq(mk.diff_trees(mk.expected_tree(mk.layered()), mk.scan_tree(root)), [],
                 "rootfs after the round trip")
        for client in docker_clients():
            out = os.path.join(_tmp, "docker-saved.tar")
            r = docker(client, d.sock, "save", "-o", out, "layered:rt")
            t.eq(r.returncode, 0, f"{client} save: {r.stderr}")
            d.req("DELETE", "/v1.44/images/layered:rt?force=1")
            r = docker(client, d.sock, "load", "-i", out)
            t.eq(r.returncode, 0, f"{client} load: {r.stderr}")
            t.contains(r.stdout, "Loaded image: layered:rt", f"{client} load output")


@test
def kill_9_mid_load_leaves_nothing(t):
    big = mk.Image([mk.busybox_layer(), mk.Layer(
        [mk.File("big", os.urandom(64 << 20), mode=0o644)], "none", "big")], mk.BUSYBOX_CONFIG)
    path = os.path.join(_tmp, "big-load.tar")
    built = mk.docker_archive(path, [(big, ["big:load"])])[0]
    d = Isod().start()
    try:
        th = threading.Thread(target=lambda: isoctl("load", "-i", path, host=d.sock,
                                                    timeout=120))
        th.start()
        wait_until(lambda: os.path.exists(os.path.join(d.root, "tmp")) and
                   os.listdir(os.path.join(d.root, "tmp")), 30, "a load in flight")
        d.stop(signal.SIGKILL)
        th.join(60)
        d2 = Isod(tmp=d.tmp, root=d.root).start()
        try:
            t.eq(d2.get("/v1.44/images/json").json(), [], "no image after the crash")
            t.eq(os.listdir(os.path.join(d.root, "tmp")), [], "tmp/ wiped at startup")
            t.eq([n for n in os.listdir(os.path.join(d.root, "layers")) if n != "l"]
                 and {"sha256:" + n for n in os.listdir(os.path.join(d.root, "layers"))
                      if n != "l"} - chain_dirs(d2) or set(), set(), "no unrecorded layers")
            r = isoctl("load", "-i", path, host=d2.sock, timeout=120)
            t.eq(r.returncode, 0, f"load after restart: {r.stderr}")
            t.eq([i["Id"] for i in d2.get("/v1.44/images/json").json()], [built.config_digest],
                 "loaded")
        finally:
            d2.stop()
    finally:
        d.cleanup()


def cleanup():
    shutil.rmtree(_tmp, ignore_errors=True)


import atexit  # noqa: E402
atexit.register(cleanup)
run()
