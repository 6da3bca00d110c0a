#!/usr/bin/env python3
"""Adds up the per-suite `llmk-tests: N passed, M failed, K skipped` lines in
meson test logs and prints one total line. A suite that crashed or timed out
before printing its line counts as one failed test, and so does one that
exited non-zero after it.

Before the total, on stderr, each suite that did not end OK is named with
its exit status and the lines of its output that say why (doctest's failed
checks, sanitizer reports, the output's last lines), so that the tail of a CI
log, which is all some viewers keep, shows what failed."""
import json
import re
import sys

LINE = re.compile(r"^llmk-tests: (\d+) passed, (\d+) failed, (\d+) skipped$", re.M)
WHY = re.compile(r"(ERROR|FAILED|error:|runtime error|Sanitizer|TEST CASE:|SUMMARY:|"
                 r"Segmentation|Aborted|terminate called|timed out)")


def explain(path, entry, reason):
    out = (entry.get("stdout") or "").splitlines()
    print(f"summary: {entry.get('name')} ({path}): {reason}; result {entry.get('result')}, "
          f"exit status {entry.get('returncode')}, {entry.get('duration', 0):.1f} s",
          file=sys.stderr)
    why = [line for line in out if WHY.search(line)][:24]
    for line in why + ["(last lines)"] + out[-8:]:
        print(f"summary:   {line[:300]}", file=sys.stderr)


passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            entry = json.loads(raw)
            stdout = entry.get("stdout") or ""
            found = LINE.findall(stdout)
            ok = entry.get("result") in ("OK", "EXPECTEDFAIL")
            if found:
                p, m, k = (int(x) for x in found[-1])
                passed, failed, skipped = passed + p, failed + m, skipped + k
                if m:
                    explain(path, entry, f"{m} failed test case(s)")
                elif not ok:
                    failed += 1
                    explain(path, entry, "every case passed, then the suite did not end OK")
            elif entry.get("result") == "SKIP":
                skipped += 1
            else:
                failed += 1
                explain(path, entry, "ended without a result line")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
