"""A real local registry (Debian's docker-registry, distribution 2.8) for isod's image tests,
filled with skopeo. Python 3 standard library only.

    from registry import Registry
    import mkimage as mk            # tests/fixtures on sys.path (done below)
    with Registry() as reg:                          # or Registry(auth=("user", "pass"))
        mk.oci_layout(lay, mk.busybox(), tag="latest")
        reg.push(lay, "library/busybox", "latest")
        ref = f"{reg.url}/library/busybox:latest"    # "127.0.0.1:PORT/library/busybox:latest"

Everything (storage, config, htpasswd, log, skopeo's auth/policy files) lives in one temp dir
(on /dev/shm when writable: the virtual disk stalls), removed by stop(), also when the body
raises. The registry is stopped by pid: SIGTERM, SIGKILL after 10 s.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

_here = os.path.dirname(os.path.abspath(__file__))
_fixtures = os.path.join(os.path.dirname(_here), "fixtures")
if _fixtures not in sys.path:
    sys.path.insert(0, _fixtures)

REGISTRY_BIN = os.environ.get("REGISTRY_BIN", "docker-registry")
SKOPEO_BIN = os.environ.get("SKOPEO_BIN", "skopeo")

started_pids = []       # every registry pid this process started (see leaked())

try:                    # let harness.run()'s "nothing left running" check cover registries too
    import harness as _harness
except ImportError:     # pragma: no cover - usable without the harness
    _harness = None


class RegistryError(Exception):
    pass


def temp_base():
    base = os.environ.get("ISOD_TEST_TMP")
    if base:
        return base
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def leaked():
    """Registry pids started here that are still alive (not zombies)."""
    out = []
    for pid in started_pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(pid)
        except FileNotFoundError:
            pass
    return out


class Registry:
    """A docker-registry on 127.0.0.1:<free port>, plain HTTP; `auth=(user, password)` turns on
    htpasswd (bcrypt) auth with realm "isod-test"."""

    def __init__(self, auth=None, timeout=10.0):
        self.auth = tuple(auth) if auth else None
        self.timeout = timeout
        self.tmp = self.workdir = None     # workdir keeps the path after stop()
        self.proc = None
        self.port = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self):
        """"127.0.0.1:PORT", the registry host part of references."""
        return f"127.0.0.1:{self.port}"

    def ref(self, name, tag="latest"):
        return f"{self.url}/{name}:{tag}"

    def _write_config(self):
        storage = os.path.join(self.tmp, "storage")
        os.makedirs(storage, exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {storage}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: isod-test-secret",
        ]
        if self.auth:
            hp = os.path.join(self.tmp, "htpasswd")
            r = subprocess.run(["htpasswd", "-Bbn", self.auth[0], self.auth[1]],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RegistryError(f"htpasswd failed: {r.stderr.strip()}")
            with open(hp, "w") as f:
                f.write(r.stdout.strip() + "\n")
            lines += ["auth:", "  htpasswd:", "    realm: isod-test", f"    path: {hp}"]
        self.config = os.path.join(self.tmp, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _answers(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                c.request("GET", "/v2/")
                return c.getresponse().status in (200, 401)
            finally:
                c.close()
        except OSError:
            return False

    def start(self):
        self.tmp = self.workdir = tempfile.mkdtemp(prefix="isod-registry-", dir=temp_base())
        try:
            for attempt in range(3):
                self.port = free_port()
                self._write_config()
                self.log_path = os.path.join(self.tmp, f"registry-{attempt}.log")
                with open(self.log_path, "wb") as logf:
                    self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config],
                                                 stdin=subprocess.DEVNULL, stdout=logf,
                                                 stderr=logf, start_new_session=True)
                started_pids.append(self.proc.pid)
                if _harness is not None:
                    _harness._started_pids.append(self.proc.pid)
                end = time.monotonic() + self.timeout
                while True:
                    if self.proc.poll() is not None:
                        break
                    if self._answers():
                        return self
                    if time.monotonic() > end:
                        raise RegistryError(f"registry did not answer /v2/ within "
                                            f"{self.timeout}s: {self.log()}")
                    time.sleep(0.01)
                if "address already in use" not in self.log():     # lost the port race
                    raise RegistryError(f"registry exited with {self.proc.returncode}: "
                                        f"{self.log()}")
            raise RegistryError(f"registry could not bind a port: {self.log()}")
        except BaseException:
            self.stop()
            raise

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except (OSError, AttributeError):
            return ""

    def stop(self, timeout=10):
        """SIGTERM by pid, SIGKILL after `timeout` s; removes the temp dir. Idempotent."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- skopeo -----------------------------------------------------------------------------

    def skopeo(self, *args, timeout=120):
        """Runs skopeo with no policy check and auth files of its own (never the user's);
        returns the CompletedProcess (text)."""
        env = dict(os.environ)
        env["REGISTRY_AUTH_FILE"] = os.path.join(self.tmp, "auth.json")  # absent = no creds
        env["DOCKER_CONFIG"] = os.path.join(self.tmp, "docker-config")
        return subprocess.run([SKOPEO_BIN, "--insecure-policy"] + list(args),
                              capture_output=True, text=True, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def _creds(self, creds, flag):
        """creds: None = the registry's own (if it has auth), False = anonymous,
        (user, pass) = those."""
        if creds is None:
            creds = self.auth
        return [flag, f"{creds[0]}:{creds[1]}"] if creds else []

    def _check(self, r, what):
        if r.returncode != 0:
            raise RegistryError(f"{what} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def push(self, oci_dir, name, tag="latest", src_tag=None, creds=None, all=False,
             args=()):
        """skopeo copy oci:DIR:SRC_TAG docker://127.0.0.1:PORT/NAME:TAG (SRC_TAG defaults to
        TAG). Digests are kept (no recompression). Raises RegistryError on failure."""
        cmd = ["copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"]
        cmd += (["--all"] if all else []) + self._creds(creds, "--dest-creds") + list(args)
        cmd += [f"oci:{oci_dir}:{src_tag or tag}", f"docker://{self.ref(name, tag)}"]
        return self._check(self.skopeo(*cmd), f"push {name}:{tag}")

    def push_index(self, oci_dir, name, tag="latest", src_tag=None, creds=None):
        """Pushes a multi-platform image (an OCI image index tagged in the layout, as
        mkimage.oci_index writes) with all its manifests, index digest preserved."""
        return self.push(oci_dir, name, tag, src_tag, creds, all=True)

    def pull(self, name, tag, oci_dir, dest_tag=None, creds=None, all=False, args=()):
        """skopeo copy docker://…/NAME:TAG oci:DIR:DEST_TAG."""
        cmd = ["copy", "--quiet", "--src-tls-verify=false", "--preserve-digests"]
        cmd += (["--all"] if all else []) + self._creds(creds, "--src-creds") + list(args)
        cmd += [f"docker://{self.ref(name, tag)}", f"oci:{oci_dir}:{dest_tag or tag}"]
        return self._check(self.skopeo(*cmd), f"pull {name}:{tag}")

    def inspect(self, name, tag="latest", creds=None, raw=False):
        """skopeo inspect; returns the CompletedProcess without raising (tests look at
        returncode / stdout / stderr)."""
        cmd = ["inspect", "--tls-verify=false"] + (["--raw"] if raw else [])
        cmd += self._creds(creds, "--creds") + [f"docker://{self.ref(name, tag)}"]
        return self.skopeo(*cmd)

    def seed(self, oci_dir, name, tag="latest", src_tag=None):
        """The fast path: writes the image tagged SRC_TAG (default TAG) in an OCI layout —
        a manifest or an image index with its manifests — straight into the registry's
        storage (distribution's filesystem layout), as if pushed. No HTTP, no skopeo: a
        128-layer image takes milliseconds. Returns the top digest."""
        src_tag = src_tag or tag
        with open(os.path.join(oci_dir, "index.json")) as f:
            descs = [m for m in json.load(f)["manifests"]
                     if m.get("annotations", {}).get("org.opencontainers.image.ref.name")
                     == src_tag]
        if not descs:
            raise RegistryError(f"no image tagged {src_tag!r} in {oci_dir}")
        v2 = os.path.join(self.tmp, "storage", "docker", "registry", "v2")
        repo = os.path.join(v2, "repositories", name)

        def link(path, digest):
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "link"), "w") as f:
                f.write(digest)

        def blob(digest):
            algo, hexd = digest.split(":", 1)
            src = os.path.join(oci_dir, "blobs", algo, hexd)
            dst_dir = os.path.join(v2, "blobs", algo, hexd[:2], hexd)
            dst = os.path.join(dst_dir, "data")
            if not os.path.exists(dst):
                os.makedirs(dst_dir, exist_ok=True)
                shutil.copyfile(src, dst + ".tmp")
                os.rename(dst + ".tmp", dst)
            return src

        def manifest(digest):
            algo, hexd = digest.split(":", 1)
            with open(blob(digest), "rb") as f:
                m = json.load(f)
            link(os.path.join(repo, "_manifests", "revisions", algo, hexd), digest)
            for child in m.get("manifests", []):
                if os.path.exists(os.path.join(oci_dir, "blobs", *child["digest"].split(":"))):
                    manifest(child["digest"])
            for d in ([m["config"]] if "config" in m else []) + m.get("layers", []):
                blob(d["digest"])
                link(os.path.join(repo, "_layers", *d["digest"].split(":", 1)), d["digest"])

        top = descs[0]["digest"]
        manifest(top)
        t = os.path.join(repo, "_manifests", "tags", tag)
        link(os.path.join(t, "current"), top)
        link(os.path.join(t, "index", *top.split(":", 1)), top)
        return top

    def get(self, path, headers=None, auth=None):
        """Plain HTTP GET against the registry API: (status, headers dict, body bytes)."""
        import base64
        h = dict(headers or {})
        if auth:
            h["Authorization"] = "Basic " + base64.b64encode(
                f"{auth[0]}:{auth[1]}".encode()).decode()
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()
