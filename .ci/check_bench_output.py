#!/usr/bin/env python3
"""Checks what one `llmk-bench --json J --csv C` run wrote.

JSON: google/benchmark's shape (what its tools/compare.py reads) plus the
fields libllmk adds under each benchmark's "llmk" key. CSV: a header and one
row per JSON benchmark row of run_type "iteration". Every entry must have run:
a skipped or failed entry is a failure here, except skips whose reason is in
--allow-skip (regexes; e.g. multi-threaded entries on a 1-CPU machine).

Prints one line per problem and a closing "bench-output: N checks, M failed";
exits 1 when any check failed.
"""
import argparse
import csv
import json
import math
import re
import sys

problems = []
checks = 0


def check(cond, text):
    global checks
    checks += 1
    if not cond:
        problems.append(text)
    return cond


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def reject_constant(token):
    raise ValueError(f"non-standard JSON number {token}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json_path")
    ap.add_argument("csv_path")
    ap.add_argument("--allow-skip", action="append", default=[],
                    help="regex of a skip reason that is acceptable on this machine")
    args = ap.parse_args()

    with open(args.json_path, encoding="utf-8") as f:
        doc = json.load(f, parse_constant=reject_constant)  # NaN/Infinity are not JSON

    ctx = doc.get("context")
    if check(isinstance(ctx, dict), "context: missing"):
        check(ctx.get("json_schema_version") == 1, "context.json_schema_version != 1")
        for key in ("date", "host_name", "executable", "num_cpus"):
            check(key in ctx, f"context.{key}: missing")
        ours = ctx.get("llmk")
        if check(isinstance(ours, dict), "context.llmk: missing"):
            for key in ("timer", "targets_run", "warnings"):
                check(key in ours, f"context.llmk.{key}: missing")

    rows = doc.get("benchmarks")
    check(isinstance(rows, list) and rows, "benchmarks: missing or empty")
    rows = rows or []
    allow = [re.compile(p) for p in args.allow_skip]
    iteration_names = []
    for i, b in enumerate(rows):
        name = b.get("name", f"#{i}")
        where = f"benchmarks[{i}] {name}"
        check(isinstance(b.get("name"), str) and b["name"], f"{where}: name missing")
        run_type = b.get("run_type")
        check(run_type in ("iteration", "aggregate"), f"{where}: run_type {run_type!r}")
        for key in ("repetitions", "repetition_index", "threads", "iterations"):
            check(isinstance(b.get(key), int), f"{where}: {key} not an integer")
        check(b.get("time_unit") in ("ns", "us", "ms", "s"), f"{where}: time_unit")
        for key in ("real_time", "cpu_time"):
            check(number(b.get(key)), f"{where}: {key} not a finite number")
        if b.get("error_occurred"):
            reason = str(b.get("error_message", ""))
            check(any(p.search(reason) for p in allow), f"{where}: did not run: {reason}")
            continue
        if run_type != "iteration":
            continue
        iteration_names.append(name)
        check(b.get("iterations", 0) > 0, f"{where}: no iterations")
        check(b.get("real_time", 0) > 0, f"{where}: real_time not positive")
        ours = b.get("llmk")
        if not check(isinstance(ours, dict), f"{where}: llmk key missing"):
            continue
        samples = ours.get("samples_ns")
        if check(isinstance(samples, list) and samples, f"{where}: llmk.samples_ns empty"):
            check(all(number(s) and s > 0 for s in samples),
                  f"{where}: llmk.samples_ns has a non-positive or non-finite sample")
        for key in ("target", "batch_size", "median_ns", "min_ns", "max_ns", "mad_ns"):
            check(key in ours, f"{where}: llmk.{key} missing")
        if number(ours.get("min_ns")) and number(ours.get("median_ns")) and number(ours.get("max_ns")):
            check(ours["min_ns"] <= ours["median_ns"] <= ours["max_ns"],
                  f"{where}: min <= median <= max does not hold")
        for c in ours.get("counter_status", []):
            # A counter that did not run has no value at all, never a 0.
            if c.get("status") != "ok":
                check(c.get("event") not in b, f"{where}: counter {c.get('event')} not ok but written")

    with open(args.csv_path, encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    check(len(table) >= len(set(iteration_names)),
          f"csv: {len(table)} rows for {len(set(iteration_names))} benchmarks")
    csv_names = {r.get("name") for r in table}
    for n in set(iteration_names):
        check(n in csv_names, f"csv: no row for {n}")

    for p in problems:
        print(f"bench-output: {p}")
    print(f"bench-output: {checks} checks, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
