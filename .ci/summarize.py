#!/usr/bin/env python3
"""Adds up the per-suite `llmk-tests: N passed, M failed, K skipped` lines in
meson test logs and prints one total line. A suite that crashed or timed out
before printing its line counts as one failed test."""
import json
import re
import sys

LINE = re.compile(r"^llmk-tests: (\d+) passed, (\d+) failed, (\d+) skipped$", re.M)

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
            if found:
                p, m, k = (int(x) for x in found[-1])
                passed, failed, skipped = passed + p, failed + m, skipped + k
                if entry.get("result") not in ("OK", "EXPECTEDFAIL") and m == 0:
                    failed += 1  # exited non-zero although every case passed
            elif entry.get("result") == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"summary: suite {entry.get('name')} ended {entry.get('result')} "
                      "without a result line", file=sys.stderr)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
