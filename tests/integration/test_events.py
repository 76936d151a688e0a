#!/usr/bin/env python3
"""GET /events: a live stream, replay with since, until, filters; image events; isoctl events
and docker events against a real isod."""
import json
import os
import re
import socket
import time
import urllib.parse

from harness import Failure, docker, docker_clients, isoctl, run, test, wait_until

from ctrlib import Daemon, create, rm, start, wait


class EventStream:
    """GET /events on a raw socket: decodes the chunked body as it arrives, line by line."""

    def __init__(self, sock, query=""):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(sock)
        self.s.sendall(f"GET /v1.44/events{query} HTTP/1.1\r\nHost: isod\r\n\r\n".encode())
        self.raw = b""
        self.body = b""
        self.closed = False
        while b"\r\n\r\n" not in self.raw:
            self._recv()
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.head = head.decode()

    def _recv(self):
        chunk = self.s.recv(65536)
        if not chunk:
            self.closed = True
            raise EOFError
        self.raw += chunk

    def _decode(self):
        while True:
            line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                return
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.raw = b""
                self.closed = True
                return
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.raw = rest[size + 2:]

    def next(self, timeout=10):
        """The next event, or None when the stream ended."""
        end = time.monotonic() + timeout
        while True:
            self._decode()
            if b"\n" in self.body:
                line, _, self.body = self.body.partition(b"\n")
                return json.loads(line)
            if self.closed:
                return None
            left = end - time.monotonic()
            if left <= 0:
                raise Failure(f"no event within {timeout}s")
            self.s.settimeout(left)
            try:
                self._recv()
            except EOFError:
                return None
            except socket.timeout:
                raise Failure(f"no event within {timeout}s")

    def all(self, timeout=10):
        out = []
        while True:
            ev = self.next(timeout)
            if ev is None:
                return out
            out.append(ev)

    def close(self):
        self.s.close()


def q(**params):
    for k, v in list(params.items()):
        if isinstance(v, dict):
            params[k] = json.dumps(v)
    return "?" + urllib.parse.urlencode(params)


def now():
    return f"{time.time():.9f}"


def events(d, **params):
    """A finished stream (until in the past): all its events."""
    r = d.get("/v1.44/events" + q(**params), timeout=15)
    if r.status != 200:
        raise Failure(f"events: {r.status} {r.body!r}")
    return [json.loads(line) for line in r.body.decode().splitlines() if line.strip()]


def lifecycle(d, name, labels=None):
    cid = create(d, ["true"], name=name, Labels=labels or {})
    start(d, cid)
    wait(d, cid)
    rm(d, cid)
    return cid


def actions(evs):
    return [(e["Type"], e["Action"]) for e in evs]


@test
def live_stream_sees_a_lifecycle_in_order(t):
    with Daemon() as d:
        st = EventStream(d.sock, q(filters={"type": ["container"]}))
        try:
            t.eq(st.status, 200, "status")
            t.contains(st.head.lower(), "content-type: application/json", "content type")
            cid = lifecycle(d, "web", {"k": "v"})
            got = [st.next() for _ in range(4)]
        finally:
            st.close()
        t.eq([e["Action"] for e in got], ["create", "start", "die", "destroy"], "order")
        for e in got:
            t.eq((e["Type"], e["Actor"]["ID"], e["scope"]), ("container", cid, "local"), "ids")
            a = e["Actor"]["Attributes"]
            t.eq((a["name"], a["image"], a["k"]), ("web", "busybox", "v"), "attributes")
            t.eq((e["status"], e["id"], e["from"]), (e["Action"], cid, "busybox"), "legacy")
            t.eq(e["time"], e["timeNano"] // 10**9, "time and timeNano agree")
        t.eq(got[2]["Actor"]["Attributes"]["exitCode"], "0", "die exitCode")
        t.true("execDuration" in got[2]["Actor"]["Attributes"], "die execDuration")
        t.true(all(a["timeNano"] <= b["timeNano"] for a, b in zip(got, got[1:])), "times")


@test
def every_container_action(t):
    with Daemon() as d:
        t0 = now()
        cid = create(d, ["sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.1; done"],
                     name="all", Tty=True, OpenStdin=True)
        start(d, cid)
        for path in ("pause", "unpause", "rename?name=all2", "resize?h=10&w=20"):
            r = d.req("POST", f"/v1.44/containers/{cid}/{path}")
            t.true(r.status in (200, 204), f"{path}: {r.status} {r.body!r}")
        t.eq(d.get(f"/v1.44/containers/{cid}/top").status, 200, "top")
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/stop?t=5").status, 204, "stop")
        start(d, cid)
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/kill").status, 204, "kill")
        wait(d, cid)
        rm(d, cid)
        evs = events(d, since=t0, until=now())
        got = [(e["Action"], e["Actor"]["Attributes"].get("name")) for e in evs]
        t.eq([a for a, _ in got],
             ["create", "start", "pause", "unpause", "rename", "resize", "top", "kill", "die",
              "stop", "start", "kill", "die", "destroy"], "actions")
        t.eq(got[0][1], "all", "name before the rename")
        t.eq({n for _, n in got[4:]}, {"all2"}, "the new name after it")
        attrs = [e["Actor"]["Attributes"] for e in evs]
        t.eq(attrs[4]["oldName"], "all", "rename oldName")
        t.eq((attrs[5]["height"], attrs[5]["width"]), ("10", "20"), "resize size")
        t.eq(attrs[7]["signal"], "15", "stop sends SIGTERM")
        t.eq(attrs[8]["exitCode"], "143", "died of it")
        t.eq((attrs[11]["signal"], attrs[12]["exitCode"]), ("9", "137"), "kill")


@test
def since_replays_and_until_ends(t):
    with Daemon() as d:
        t0 = now()
        time.sleep(0.01)
        cid = lifecycle(d, "web")
        evs = events(d, since=t0, until=now())
        t.eq(actions(evs), [("container", a) for a in ("create", "start", "die", "destroy")],
             "replayed lifecycle")
        t.eq({e["Actor"]["ID"] for e in evs}, {cid}, "the container's")
        # Replay, then live until a time a second from now: the stream ends by itself.
        st = EventStream(d.sock, q(since=t0, until=f"{time.time() + 1.0:.9f}"))
        try:
            replayed = [st.next() for _ in range(4)]
            t.eq([e["Action"] for e in replayed], ["create", "start", "die", "destroy"], "replay")
            t1 = time.monotonic()
            cid2 = create(d, ["true"], name="late")
            live = st.next(5)
            t.eq((live["Action"], live["Actor"]["ID"]), ("create", cid2), "live after replay")
            t.eq(st.next(5), None, "ends at until")
            t.true(time.monotonic() - t1 < 4, "ended on time")
        finally:
            st.close()
        # since in RFC 3339 and as a duration.
        evs = events(d, since="10m", until=now(), filters={"container": ["late"]})
        t.eq([e["Action"] for e in evs], ["create"], "duration since")
        rfc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))
        evs = events(d, since=rfc, until=now(), filters={"container": ["late"]})
        t.eq([e["Action"] for e in evs], ["create"], "RFC 3339 since")


@test
def filters_select(t):
    with Daemon() as d:
        t0 = now()
        a = lifecycle(d, "ca", {"k": "v", "x": "1"})
        b = lifecycle(d, "cb", {"k": "w"})
        t1 = now()

        def ev(filters):
            return [(e["Actor"]["ID"], e["Action"])
                    for e in events(d, since=t0, until=t1, filters=filters)]

        t.eq(ev({"type": ["container"], "event": ["start"], "container": ["ca"]}),
             [(a, "start")], "type+event+container name")
        t.eq(ev({"event": ["start"], "container": [b[:12]]}), [(b, "start")], "id prefix")
        t.eq(ev({"event": ["die", "destroy"], "container": [a]}), [(a, "die"), (a, "destroy")],
             "two events, full id")
        t.eq(ev({"event": ["create"], "label": ["k=v"]}), [(a, "create")], "label k=v")
        t.eq(ev({"event": ["create"], "label": ["k"]}), [(a, "create"), (b, "create")],
             "label k")
        t.eq(ev({"event": ["create"], "label": ["k", "x=1"]}), [(a, "create")], "labels AND")
        t.eq(ev({"event": ["create"], "image": ["busybox"]}), [(a, "create"), (b, "create")],
             "image")
        t.eq(ev({"event": {"start": True}, "container": {"ca": True}}), [(a, "start")],
             "old map form")
        t.eq(ev({"type": ["image"]}), [], "no image events in the window")
        for bad in ('{"nosuch":["x"]}', "notjson", '{"type":"container"}', '{"type":["bogus"]}',
                    '{"event":[1]}'):
            r = d.get("/v1.44/events?" + urllib.parse.urlencode({"filters": bad, "until": t1}))
            t.eq(r.status, 400, f"bad filters {bad}")
            t.true("message" in r.json(), "an error message")
        r = d.get("/v1.44/events?since=notatime")
        t.eq(r.status, 400, "bad since")
        r = d.get(f"/v1.44/events?since={t1}&until={t0}")
        t.eq(r.status, 400, "until before since")


@test
def image_events(t):
    with Daemon() as d:
        evs = events(d, since="1", until=now(), filters={"type": ["image"]})
        t.eq([e["Action"] for e in evs], ["load"], "load")
        img = d.get("/v1.44/images/busybox/json").json()["Id"]
        t.eq((evs[0]["Actor"]["ID"], evs[0]["Actor"]["Attributes"]["name"], evs[0]["status"],
              evs[0]["id"]), (img, img, "load", img), "load actor")
        t0 = now()
        r = d.req("POST", "/v1.44/images/busybox/tag?repo=myrepo&tag=v1")
        t.eq(r.status, 201, f"tag: {r.body!r}")
        r = d.req("DELETE", "/v1.44/images/myrepo:v1")
        t.eq(r.status, 200, f"untag: {r.body!r}")
        r = d.req("DELETE", "/v1.44/images/busybox")
        t.eq(r.status, 200, f"delete: {r.body!r}")
        evs = events(d, since=t0, until=now())
        t.eq(actions(evs), [("image", "tag"), ("image", "untag"), ("image", "untag"),
                            ("image", "delete")], "tag, untag, delete")
        t.eq({e["Actor"]["ID"] for e in evs}, {img}, "all name the image id")
        t.eq(evs[0]["Actor"]["Attributes"]["name"], "myrepo:v1", "tag names the new tag")
        evs = events(d, since=t0, until=now(), filters={"image": ["myrepo"]})
        t.eq([e["Action"] for e in evs], ["tag"], "image filter strips the tag")


def sockets(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


@test
def a_client_that_leaves_ends_its_stream_at_once(t):
    with Daemon() as d:
        base = 1  # the listening socket, once the fixture's own connections are gone
        wait_until(lambda: sockets(d.proc.pid) == base, 5, "isod to be idle")
        st = EventStream(d.sock, q(filters={"type": ["container"]}))
        wait_until(lambda: sockets(d.proc.pid) == base + 1, 5, "isod to hold the stream")
        st.close()
        # No event comes: isod sees the hang-up by itself and lets the connection go.
        wait_until(lambda: sockets(d.proc.pid) == base, 5, "isod to close the stream")
        # And the streams still work after.
        st = EventStream(d.sock, q(filters={"type": ["container"]}))
        try:
            cid = create(d, ["true"], name="after")
            ev = st.next()
            t.eq((ev["Action"], ev["Actor"]["ID"]), ("create", cid), "a new stream works")
        finally:
            st.close()


LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) (\S+) (\S+) (\S+)"
                  r"(?: \((.*)\))?$")


@test
def isoctl_events(t):
    with Daemon() as d:
        t0 = now()
        cid = lifecycle(d, "web", {"b": "2", "a": "1"})
        r = isoctl("events", "--since", t0, "--until", now(), host=d.sock,
                   env={"TZ": "UTC"})
        t.eq(r.returncode, 0, f"events: {r.stderr}")
        lines = r.stdout.splitlines()
        t.eq(len(lines), 4, f"four lines: {r.stdout}")
        parsed = [LINE.match(line) for line in lines]
        t.true(all(parsed), f"docker's line format: {r.stdout}")
        t.eq([(m.group(2), m.group(3), m.group(4)) for m in parsed],
             [("container", a, cid) for a in ("create", "start", "die", "destroy")], "fields")
        t.eq(parsed[0].group(5), "a=1, b=2, image=busybox, name=web", "sorted attributes")
        t.true(lines[0][29] == "Z", "UTC ends in Z")
        r = isoctl("events", "--since", t0, "--until", now(), "-f", "event=die", "--format",
                   "json", host=d.sock)
        t.eq(r.returncode, 0, f"events json: {r.stderr}")
        objs = [json.loads(line) for line in r.stdout.splitlines()]
        t.eq([(o["Action"], o["Actor"]["ID"]) for o in objs], [("die", cid)], "json + filter")
        # Live until a moment from now: it returns by itself.
        t1 = time.monotonic()
        r = isoctl("events", "--until", f"{time.time() + 1:.3f}", host=d.sock, timeout=10)
        t.eq(r.returncode, 0, f"live until: {r.stderr}")
        t.true(time.monotonic() - t1 < 5, "returned at until")
        r = isoctl("events", "-f", "nosuch=1", "--until", now(), host=d.sock)
        t.eq(r.returncode, 1, "bad filter fails")
        t.contains(r.stderr, "invalid filter", "the daemon's message")


@test
def docker_events(t):
    with Daemon() as d:
        t0 = now()
        cid = lifecycle(d, "web")
        t1 = now()
        for client in docker_clients():
            r = docker(client, d.sock, "events", "--since", t0, "--until", t1)
            t.eq(r.returncode, 0, f"{client} events: {r.stderr}")
            lines = r.stdout.splitlines()
            t.eq([line.split(" ")[1:4] for line in lines],
                 [["container", a, cid] for a in ("create", "start", "die", "destroy")],
                 f"{client} events lines: {r.stdout}")
            r = docker(client, d.sock, "events", "--since", t0, "--until", t1, "--filter",
                       "event=start", "--format", "{{.Actor.Attributes.name}} {{.Status}}")
            t.eq((r.returncode, r.stdout), (0, "web start\n"), f"{client} filter+format")


run()
