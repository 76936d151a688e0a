#!/usr/bin/env python3
"""GET /isod/metrics: the Prometheus text format 0.0.4, checked by a strict parser, and values
that follow what the daemon did (a container run, a pull from a real local registry)."""
import json
import math
import os
import shutil
import re
import tempfile
import time
import urllib.parse

import registry
from harness import Failure, Isod, run, test
from registry import Registry

import mkimage as mk
from ctrlib import Daemon, create, rm, run_ctr, start as start_ctr

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
HELP = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL = re.compile(rf'({LABEL_NAME})="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
SUFFIXES = ("_bucket", "_sum", "_count")


def parse_float(s, line):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise Failure(f"bad value {s!r} in {line!r}")
    return float(s)


def parse_labels(text, line):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            raise Failure(f"bad labels at {text[pos:]!r} in {line!r}")
        value = re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(x.group(1), x.group(1)), m.group(2))
        if m.group(1) in labels:
            raise Failure(f"label {m.group(1)} twice in {line!r}")
        labels[m.group(1)] = value
        pos = m.end()
    return labels


def parse(text):
    """Strict text format 0.0.4: returns {metric: {"type":..., "samples": [(name, labels,
    value)]}}; raises Failure on anything off."""
    if not text.endswith("\n"):
        raise Failure("exposition must end with a newline")
    metrics, current = {}, None
    for line in text[:-1].split("\n"):
        if line.startswith("#"):
            m = HELP.match(line) or TYPE.match(line)
            if not m:
                raise Failure(f"bad comment line {line!r}")
            name = m.group(1)
            entry = metrics.setdefault(name, {"type": None, "help": None, "samples": []})
            if entry["samples"]:
                raise Failure(f"{line!r} after samples of {name}")
            if line.startswith("# TYPE"):
                if entry["type"]:
                    raise Failure(f"TYPE of {name} declared twice")
                entry["type"] = m.group(2)
            else:
                if entry["help"] is not None:
                    raise Failure(f"HELP of {name} twice")
                entry["help"] = m.group(2)
            current = name
            continue
        m = SAMPLE.match(line)
        if not m:
            raise Failure(f"bad sample line {line!r}")
        sname, labels = m.group(1), parse_labels(m.group(2) or "", line)
        value = parse_float(m.group(3), line)
        base = sname
        if sname not in metrics:
            for suf in SUFFIXES:
                if sname.endswith(suf) and sname[:-len(suf)] in metrics:
                    base = sname[:-len(suf)]
        if base not in metrics or not metrics[base]["type"]:
            raise Failure(f"sample {sname} without a TYPE before it")
        if base != current:
            raise Failure(f"samples of {base} are not grouped together")
        if metrics[base]["type"] == "histogram" and base == sname:
            raise Failure(f"histogram {base} with a bare sample")
        if metrics[base]["type"] != "histogram" and base != sname:
            raise Failure(f"{sname} on a {metrics[base]['type']}")
        metrics[base]["samples"].append((sname, labels, value))
    for name, e in metrics.items():
        if e["type"] == "counter" and any(v < 0 for _, _, v in e["samples"]):
            raise Failure(f"negative counter {name}")
        if e["type"] == "histogram":
            check_histogram(name, e["samples"])
    return metrics


def check_histogram(name, samples):
    buckets = [(s[1], s[2]) for s in samples if s[0] == name + "_bucket"]
    sums = [s[2] for s in samples if s[0] == name + "_sum"]
    counts = [s[2] for s in samples if s[0] == name + "_count"]
    if len(sums) != 1 or len(counts) != 1 or not buckets:
        raise Failure(f"histogram {name}: one _sum, one _count and buckets wanted")
    bounds = [parse_float(labels["le"], name) for labels, _ in buckets]
    if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
        raise Failure(f"histogram {name}: le not increasing: {bounds}")
    if not math.isinf(bounds[-1]) or buckets[-1][0]["le"] != "+Inf":
        raise Failure(f"histogram {name}: last bucket must be le=\"+Inf\"")
    values = [v for _, v in buckets]
    if values != sorted(values):
        raise Failure(f"histogram {name}: buckets not cumulative: {values}")
    if values[-1] != counts[0]:
        raise Failure(f"histogram {name}: +Inf bucket {values[-1]} != _count {counts[0]}")
    if sums[0] < 0:
        raise Failure(f"histogram {name}: negative _sum")


def scrape(d):
    r = d.get("/isod/metrics")
    if r.status != 200:
        raise Failure(f"metrics: {r.status} {r.body!r}")
    if r.header("content-type") != "text/plain; version=0.0.4; charset=utf-8":
        raise Failure(f"content type {r.header('content-type')!r}")
    return parse(r.body.decode())


def value(m, name, **labels):
    for sname, l, v in m[name]["samples"]:
        if sname == name and l == labels:
            return v
    raise Failure(f"no sample {name}{labels}")


def sample(m, metric, sname, **labels):
    for s, l, v in m[metric]["samples"]:
        if s == sname and l == labels:
            return v
    raise Failure(f"no sample {sname}{labels}")


@test
def parser_rejects_bad_text(t):
    good = ("# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\\\"\\n\"} 1\n"
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\n"
            "h_count 2\n")
    t.eq(value(parse(good), "a_total", k='v"\n'), 1.0, "escapes decoded")
    for bad in ("a 1\n", "# TYPE a counter\na one\n", "# TYPE a counter\na{k=v} 1\n",
                "# TYPE a counter\n# TYPE a counter\na 1\n", "# TYPE 1a gauge\n",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"
                "h_count 1\n",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
                "# TYPE a gauge\na 1"):
        try:
            parse(bad)
        except Failure:
            continue
        raise Failure(f"parser accepted {bad!r}")


@test
def values_follow_a_container_run(t):
    with Daemon() as d:
        m = scrape(d)
        for state in ("running", "paused", "exited", "created", "restarting", "dead"):
            t.eq(value(m, "isod_containers", state=state), 0.0, f"no container {state}")
        t.eq(m["isod_containers"]["type"], "gauge", "containers is a gauge")
        t.eq(value(m, "isod_images"), 1.0, "the loaded image")
        t.true(value(m, "isod_layers") >= 1, "layers")
        t.true(value(m, "isod_layers_bytes") > 100000, "layer bytes on disk")
        t.eq(sample(m, "isod_container_start_duration_seconds",
                    "isod_container_start_duration_seconds_count"), 0.0, "no start yet")

        code, out, err, cid = run_ctr(d, ["true"])
        t.eq(code, 0, "ran")
        m = scrape(d)
        t.eq(value(m, "isod_containers", state="exited"), 1.0, "one exited")
        t.eq(value(m, "isod_shims"), 0.0, "no shim left")
        start = "isod_container_start_duration_seconds"
        t.eq(sample(m, start, start + "_count"), 1.0, "one start timed")
        t.true(0 < sample(m, start, start + "_sum") < 30, "a plausible start time")
        t.eq(m[start]["type"], "histogram", "start latency is a histogram")
        req = "isod_http_requests_total"
        t.eq(m[req]["type"], "counter", "requests counter")
        for route, method, code_ in (("/containers/create", "POST", "201"),
                                     ("/containers/{id}/start", "POST", "204"),
                                     ("/containers/{id}/wait", "POST", "200"),
                                     ("/containers/{id}/logs", "GET", "200"),
                                     ("/images/load", "POST", "200"),
                                     ("/isod/metrics", "GET", "200")):
            t.eq(value(m, req, route=route, method=method, code=code_), 1.0,
                 f"{method} {route} {code_} counted once")
        d.get("/v1.44/containers/nosuch/json")
        d.get("/nosuch/path")
        m = scrape(d)
        t.eq(value(m, req, route="/containers/{id}/json", method="GET", code="404"), 1.0,
             "404 by route pattern")
        t.eq(value(m, req, route="none", method="GET", code="404"), 1.0, "unrouted")
        dur = "isod_http_request_duration_seconds"
        total = sum(v for s, _, v in m[req]["samples"])
        t.eq(sample(m, dur, dur + "_count"), total, "every request timed")

        # A running container has a shim; paused counts as paused.
        cid = create(d, ["sleep", "100"])
        start_ctr(d, cid)
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/pause").status, 204, "pause")
        m = scrape(d)
        t.eq((value(m, "isod_containers", state="paused"), value(m, "isod_shims")), (1.0, 1.0),
             "paused and its shim")
        t.eq(d.req("POST", f"/v1.44/containers/{cid}/unpause").status, 204, "unpause")
        m = scrape(d)
        t.eq(value(m, "isod_containers", state="running"), 1.0, "running")
        rm(d, cid, force=True)


@test
def pull_counts_bytes_and_time(t):
    tmp = tempfile.mkdtemp(prefix="isod-metrics-", dir=registry.temp_base())
    try:
        _pull_counts(t, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pull_counts(t, tmp):
    lay = os.path.join(tmp, "bb")
    built = mk.oci_layout(lay, mk.busybox(), tag="latest")
    with Registry() as reg, Isod() as d:
        reg.seed(lay, "library/busybox", "latest")
        ref = reg.ref("library/busybox")
        name, _, tag = ref.rpartition(":")
        r = d.req("POST", f"/v1.44/images/create?fromImage={name}&tag={tag}", timeout=120)
        t.eq(r.status, 200, "pull")
        t.true(b"errorDetail" not in r.body, f"pull ok: {r.body[-300:]!r}")
        m = scrape(d)
        want = sum(len(layer.blob()) for layer in built.layers)
        t.eq(value(m, "isod_pull_bytes_total"), float(want), "layer bytes fetched")
        pd = "isod_pull_duration_seconds"
        t.eq(sample(m, pd, pd + "_count"), 1.0, "one pull timed")
        t.eq(value(m, "isod_images"), 1.0, "one image")
        # The pull event names the reference.
        r = d.get("/v1.44/events?" + urllib.parse.urlencode(
            {"since": "1", "until": f"{time.time():.9f}",
             "filters": json.dumps({"type": ["image"]})}))
        evs = [json.loads(line) for line in r.body.decode().splitlines() if line]
        t.eq([(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in evs],
             [("pull", ref, name)], "pull event")


run()
