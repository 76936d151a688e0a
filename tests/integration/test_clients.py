#!/usr/bin/env python3
"""isoctl and the docker CLI against a real isod."""
import os
import platform

from harness import ISOCTL, Isod, docker, docker_clients, isoctl, run, test


@test
def isoctl_version_prints_both_sides(t):
    with Isod() as d:
        r = isoctl("version", host=d.sock)
        t.eq(r.returncode, 0, f"exit code: {r.stderr}")
        t.contains(r.stdout, "Client:", "client section")
        t.contains(r.stdout, "Server:", "server section")
        t.contains(r.stdout, "1.44", "API version")
        t.contains(r.stdout, platform.release(), "server kernel version")


@test
def isoctl_info_shows_the_daemons_values(t):
    with Isod() as d:
        r = isoctl("info", host=d.sock)
        t.eq(r.returncode, 0, f"exit code: {r.stderr}")
        t.contains(r.stdout, d.root, "root dir")
        t.contains(r.stdout, "overlay2", "storage driver")
        t.contains(r.stdout, "CPUs: %d" % os.cpu_count(), "CPU count")


@test
def isoctl_host_from_environment(t):
    with Isod() as d:
        r = isoctl("version", env={"ISOD_HOST": "unix://" + d.sock})
        t.eq(r.returncode, 0, f"exit code: {r.stderr}")
        t.contains(r.stdout, "Server:", "server section")


@test
def isoctl_unreachable_daemon_says_so(t):
    r = isoctl("info", host="/nonexistent/isod.sock")
    t.eq(r.returncode, 1, "exit code")
    t.eq(r.stderr.strip(), "isoctl: cannot connect to isod at unix:///nonexistent/isod.sock: "
         "No such file or directory; is isod running?", "message")


@test
def isoctl_usage_errors_exit_2(t):
    r = isoctl("frobnicate")
    t.eq(r.returncode, 2, "unknown command exit code")
    t.true(r.stderr.strip() != "", "a message on stderr")
    r = isoctl("version", "--bogus")
    t.eq(r.returncode, 2, "unknown flag exit code")
    for args in (["--help"], ["version", "--help"], ["info", "--help"]):
        r = isoctl(*args)
        t.eq(r.returncode, 0, f"{args} exit code")
        t.contains(r.stdout.lower(), "usage", f"{args} prints usage")


@test
def docker_cli_version_and_info(t):
    with Isod() as d:
        for client in docker_clients():
            r = docker(client, d.sock, "version")
            t.eq(r.returncode, 0, f"{client} version: {r.stderr}")
            t.contains(r.stdout, "Server:", f"{client} server section")
            t.contains(r.stdout, "1.44", f"{client} API version")
            r = docker(client, d.sock, "version", "--format", "{{.Server.KernelVersion}}")
            t.eq(r.stdout.strip(), platform.release(), f"{client} server kernel")
            r = docker(client, d.sock, "version", "--format", "{{.Server.Version}}")
            t.eq(r.stdout.strip(), "0.1.0", f"{client} server version")
            r = docker(client, d.sock, "info")
            t.eq(r.returncode, 0, f"{client} info: {r.stderr}")
            t.contains(r.stdout, "Docker Root Dir: " + d.root, f"{client} root dir")
            t.contains(r.stdout, "Storage Driver: overlay2", f"{client} storage driver")
            t.contains(r.stdout, "Server Version: 0.1.0", f"{client} server version")
            t.true("Swarm: active" not in r.stdout, f"{client} swarm inactive")
            r = docker(client, d.sock, "info", "--format", "{{.NCPU}}")
            t.eq(r.stdout.strip(), str(os.cpu_count()), f"{client} NCPU")


@test
def docker_inspect_falls_through_to_no_such_object(t):
    with Isod() as d:
        for client in docker_clients():
            r = docker(client, d.sock, "inspect", "nosuchthing")
            t.eq(r.returncode, 1, f"{client} exit code")
            t.contains(r.stderr.lower(), "no such object", f"{client} message")


run()
