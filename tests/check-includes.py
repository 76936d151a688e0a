#!/usr/bin/env python3
"""Checks STYLE.md's include rules: which of our modules and which third-party headers each
folder may include. TAP output, one line per source file."""
import os
import re
import sys

OURS = ("common", "store", "runtime", "daemon", "api", "cli")
THIRD_PARTY = {
    "uv.h": "libuv", "jansson.h": "jansson", "sqlite3.h": "sqlite3", "archive.h": "libarchive",
    "archive_entry.h": "libarchive", "microhttpd.h": "libmicrohttpd", "curl/curl.h": "libcurl",
    "seccomp.h": "libseccomp", "openssl/evp.h": "libcrypto", "openssl/sha.h": "libcrypto",
    "zlib.h": "zlib", "zstd.h": "libzstd",
}
# folder -> (our folders it may include, third-party libraries it may include)
RULES = {
    "common": ({"common"}, set()),
    "runtime": ({"common", "runtime"}, set()),
    "store": ({"common", "store"}, {"sqlite3", "libarchive", "libcurl", "libcrypto", "zlib", "libzstd", "jansson"}),
    "daemon": ({"common", "store", "runtime", "daemon"}, {"libuv", "jansson", "libseccomp"}),
    "api": ({"common", "api", "daemon/engine.h"}, {"libuv", "jansson", "libmicrohttpd"}),
    "cli": ({"common", "cli"}, {"jansson"}),
}
# Single files with wider rights, and why.
EXCEPTIONS = {
    "common/json.c": {"jansson"}, "common/json.h": {"jansson"},
    # main() wires the engine to the API server; the engine itself never includes api/.
    "daemon/main.c": {"api"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def check(root, rel):
    folder = rel.split("/")[0]
    ours_ok, third_ok = RULES[folder]
    extra = EXCEPTIONS.get(rel, set())
    problems = []
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        text = f.read()
    for kind, inc in INCLUDE.findall(text):
        top = inc.split("/")[0]
        if kind == '"':
            if inc == "build-config.h":
                continue
            if top not in OURS:
                problems.append(f'"{inc}": write our includes from the source root')
                continue
            if inc.endswith("-internal.h") and os.path.dirname(inc) != os.path.dirname(rel):
                problems.append(f'"{inc}": private header of another folder')
            if not (top in ours_ok or inc in ours_ok or top in extra):
                problems.append(f'"{inc}": {folder}/ may not include {top}/')
        else:
            lib = THIRD_PARTY.get(inc)
            if lib and lib not in third_ok and lib not in extra:
                problems.append(f"<{inc}>: {folder}/ may not use {lib}")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    files = []
    for folder in RULES:
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    files.append(os.path.relpath(os.path.join(dirpath, n), root))
    failed = 0
    for i, rel in enumerate(sorted(files), 1):
        problems = check(root, rel)
        print(f"{'not ok' if problems else 'ok'} {i} - {rel}")
        for p in problems:
            print(f"# {rel}: {p}")
        failed += bool(problems)
    print(f"1..{len(files)}")
    return 1 if failed or not files else 0


if __name__ == "__main__":
    sys.exit(main())
