#!/usr/bin/env python3
"""Charts from llmk-bench JSON (--json / --save-baseline output).

  plot_bench.py RESULT.json [--baseline BASE.json] [--out DIR] [--format png|svg]

Writes, where the data allows:
  distributions.<fmt>  per-benchmark sample distributions (llmk.samples_ns), log scale
  targets.<fmt>        speedup of every Highway target over scalar (--target all runs)
  baseline.<fmt>       current / baseline median per benchmark (with --baseline)
  tokens.<fmt>         tokens/s by model (generate/<model>/pp<N>, tg<N> entries)

Needs matplotlib (Debian/Ubuntu: apt-get install python3-matplotlib).
"""
import argparse
import json
import os
import re
import statistics
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if "benchmarks" not in doc:
        sys.exit(f"{path}: no 'benchmarks' array (not llmk-bench / google-benchmark JSON)")
    return [b for b in doc["benchmarks"] if not b.get("error_occurred")]


def samples(bench):
    return bench.get("llmk", {}).get("samples_ns") or []


def split_target(name):
    """'ops/dot/384@AVX2' -> ('ops/dot/384', 'AVX2'); no suffix -> (name, None)."""
    base, sep, target = name.rpartition("@")
    return (base, target) if sep else (name, None)


def plot_distributions(plt, benches, path):
    rows = [(b["name"], samples(b)) for b in benches if samples(b)]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.5))
    ax.boxplot([s for _, s in rows], vert=False, showfliers=True, whis=(1, 99),
               flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(rows) + 1))
    ax.set_yticklabels([n for n, _ in rows], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("ns per operation (box: quartiles, whiskers: p1-p99)")
    ax.set_title("llmk-bench sample distributions")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_targets(plt, benches, path):
    table = {}
    for b in benches:
        base, target = split_target(b["name"])
        if target:
            table.setdefault(base, {})[target] = b["real_time"]
    if not table:
        return False
    targets = []
    for row in table.values():
        for t in row:
            if t not in targets:
                targets.append(t)
    scalar = next((t for t in targets if t in ("SCALAR", "EMU128")), targets[-1])
    names = sorted(table)
    width = 0.8 / max(1, len(targets))
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(names)), 5))
    for i, t in enumerate(targets):
        xs, ys = [], []
        for j, n in enumerate(names):
            row = table[n]
            if t in row and scalar in row and row[t] > 0:
                xs.append(j + i * width)
                ys.append(row[scalar] / row[t])
        ax.bar(xs, ys, width, label=t)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))])
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(f"speedup over {scalar} (median)")
    ax.axhline(1.0, color="black", linewidth=0.5)
    ax.legend(fontsize=7)
    ax.set_title("Per-target speedup")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_baseline(plt, benches, base_benches, path):
    base = {b["name"]: b for b in base_benches}
    rows = []
    for b in benches:
        if b["name"] in base and base[b["name"]]["real_time"] > 0:
            rows.append((b["name"], b["real_time"] / base[b["name"]]["real_time"]))
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(rows) + 1.5))
    colors = ["tab:red" if r > 1.10 else "tab:green" if r < 1 / 1.10 else "tab:gray"
              for _, r in rows]
    ax.barh(range(len(rows)), [r for _, r in rows], color=colors)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([n for n, _ in rows], fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.5)
    ax.axvline(1.10, color="tab:red", linestyle="--", linewidth=0.8, label="1.10x (regression bar)")
    ax.set_xlabel("current / baseline median (lower is faster)")
    ax.legend(fontsize=7)
    ax.set_title("Baseline comparison")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_tokens(plt, benches, path):
    pattern = re.compile(r"^generate/([^/]+)/(pp|tg)(\d+)")
    rows = {}
    for b in benches:
        m = pattern.match(split_target(b["name"])[0])
        if m and b.get("items_per_second"):
            rows.setdefault(m.group(1), {})[m.group(2) + m.group(3)] = b["items_per_second"]
    if not rows:
        return False
    models = list(rows)
    tests = sorted({t for r in rows.values() for t in r})
    width = 0.8 / len(tests)
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(models)), 4.5))
    for i, t in enumerate(tests):
        xs = [j + i * width for j, m in enumerate(models) if t in rows[m]]
        ys = [rows[m][t] for m in models if t in rows[m]]
        ax.bar(xs, ys, width, label=t)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(models))])
    ax.set_xticklabels(models)
    ax.set_yscale("log")
    ax.set_ylabel("tokens/s")
    ax.legend()
    ax.set_title("Tokens per second by model")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result")
    ap.add_argument("--baseline")
    ap.add_argument("--out", default=".")
    ap.add_argument("--format", choices=("png", "svg"), default="png")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_bench.py needs matplotlib: apt-get install python3-matplotlib")

    benches = load(args.result)
    os.makedirs(args.out, exist_ok=True)
    out = lambda stem: os.path.join(args.out, f"{stem}.{args.format}")
    written = []
    if plot_distributions(plt, benches, out("distributions")):
        written.append(out("distributions"))
    if plot_targets(plt, benches, out("targets")):
        written.append(out("targets"))
    if args.baseline and plot_baseline(plt, benches, load(args.baseline), out("baseline")):
        written.append(out("baseline"))
    if plot_tokens(plt, benches, out("tokens")):
        written.append(out("tokens"))
    for w in written:
        print(w)
    if not written:
        print("nothing to plot", file=sys.stderr)
        return 1
    n = sum(1 for b in benches if samples(b))
    med = statistics.median(len(samples(b)) for b in benches if samples(b)) if n else 0
    print(f"{len(benches)} benchmarks, {n} with raw samples (median {med:g} samples each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
