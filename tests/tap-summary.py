#!/usr/bin/env python3
"""Counts TAP test cases in meson's testlog.json files and prints "N passed, N failed".
A test program that failed without reporting a failing case counts as one failure, and so
does each --failed=WHAT (a step that is not a test program, such as a build)."""
import json
import re
import sys

passed = failed = 0
steps = [a[len("--failed="):] for a in sys.argv[1:] if a.startswith("--failed=")]
for what in steps:
    print(f"not ok - {what}")
failed += len(steps)
for path in (a for a in sys.argv[1:] if not a.startswith("--failed=")):
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout") or ""
            ok = len(re.findall(r"^ok \d+", out, re.M))
            bad = len(re.findall(r"^not ok \d+", out, re.M))
            if t.get("result") not in ("OK", "EXPECTEDFAIL") and bad == 0:
                bad = 1
            passed += ok
            failed += bad
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
