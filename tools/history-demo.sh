#!/usr/bin/env bash
# The results history end to end on real commits: clones this repository's
# HEAD into a temporary directory, builds llmk-bench there (bench only),
# makes five commits (the third slows the dot kernel with a dependent
# loop, the fifth reverts it), runs a few fast entries with --repetitions 3
# --db after each, then checks that `history` finds the change points at
# the slowed commit and at the revert, that
# `compare` of the first commit with it exits as documented, writes
# `llmk-bench report` pages and opens them in headless Chromium (a
# screenshot, and the DOM checked for the charts and for no script).
# Prints "history-report: N passed, M failed" last; exits non-zero on a
# failure.
#
#   tools/history-demo.sh DB_DIR OUT_DIR
#
# DB_DIR gets demo.sqlite (replaced); OUT_DIR gets report.html, report.png
# (1400x3000), report-full.png (the whole page), the DOM dumps and the logs. Set LLMK_LLAMA_BENCH to a llama-bench binary
# to add the llama.cpp peer of the generation entry (slower).
set -uo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 DB_DIR OUT_DIR" >&2
  exit 3
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1" "$2" || exit 3
db_dir=$(cd "$1" && pwd)
out=$(cd "$2" && pwd)
db=$db_dir/demo.sqlite
rm -f "$db" "$db-wal" "$db-shm"
# The logs are appended to below and counted: start them empty (a second run
# into the same OUT_DIR counted the first one's runs too).
rm -f "$out/bench.log" "$out/build.log"
work=$(mktemp -d /tmp/llmk-history-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "history-report: ok: $*"; }
bad() { failed=$((failed + 1)); echo "history-report: FAIL: $*"; }
finish() {
  echo "history-report: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
start=$SECONDS

# ---- the clone and its bench-only build
clone=$work/repo
git clone --quiet "$root" "$clone" || { bad "git clone"; finish; }
git -C "$clone" config user.name "history demo"
git -C "$clone" config user.email "demo@localhost"
if bash "$clone/tools/setup.sh" build -Dtests=false -Dtools=false > "$out/build.log" 2>&1; then
  ok "bench-only build of the clone ($((SECONDS - start)) s)"
else
  bad "bench-only build of the clone"; tail -n 30 "$out/build.log"; finish
fi
build_s=$((SECONDS - start))
bench=$clone/build/bench/llmk-bench

# A few fast entries: the dot kernel at two sizes (its scalar companion
# runs too, for the speedup panel), an arena entry that the slowdown does
# not touch, and time to first token for the generation panel.
entries='^ops/dot/384$|^ops/dot/4096$|^memory/arena/alloc_1KiB_reset$|^generate/stories15M-q4_0/ttft128$'
cpu=$(( $(nproc) - 1 ))
peer=()
[ -n "${LLMK_LLAMA_BENCH:-}" ] && peer=(--llama-bench "$LLMK_LLAMA_BENCH")
run_bench() {  # extra flags...
  "$bench" --cpu "$cpu" --filter "$entries" --repetitions 3 --max-time 0.05 --counters \
    --db "$db" --machine demo "${peer[@]}" "$@" >> "$out/bench.log" 2>&1
}
commit() {  # message
  git -C "$clone" commit --quiet -am "$1" && ninja -C "$clone/build" bench/llmk-bench \
    >> "$out/build.log" 2>&1
}
note() {  # a documentation change: a real commit that leaves the code alone
  echo "History demo: $1." >> "$clone/docs/history.md"
  commit "docs: $1"
}

last_run() { grep -o 'run [0-9]* appended' "$out/bench.log" | tail -n 1 | cut -d' ' -f2; }

bench_start=$SECONDS
runs_ok=1
run_bench || runs_ok=0
first_run=$(last_run)
run_bench || runs_ok=0  # the first commit twice: 6 repetitions for compare
first=$(git -C "$clone" rev-parse HEAD)
note "a first note" && run_bench || runs_ok=0
note "a second note" && run_bench || runs_ok=0
# The slowdown: a loop-carried chain over every element before the kernel
# call, which no vector unit can shorten.
sed -i 's|^  LLMK_RETURN_IF_ERROR(check_same("dot", b, "b", a.size()));|&\n  volatile float chain = 0;\n  for (float x : a) chain = chain * 0.5f + x;|' \
  "$clone/lib/ops/ops.cc"
if grep -q 'volatile float chain' "$clone/lib/ops/ops.cc"; then ok "the slowdown applied"; else bad "the slowdown sed"; fi
commit "ops: a dependent loop in dot (deliberately slow)" && run_bench && run_bench || runs_ok=0
slow=$(git -C "$clone" rev-parse HEAD)
note "a third note" && run_bench || runs_ok=0
later_run=$(last_run)
# The revert runs twice too: with 3 points after a shift the permutation
# test cannot reach p <= 0.01 against 9 before it.
git -C "$clone" revert --quiet --no-edit "$slow" && ninja -C "$clone/build" bench/llmk-bench \
  >> "$out/build.log" 2>&1 && run_bench && run_bench || runs_ok=0
reverted=$(git -C "$clone" rev-parse HEAD)
# Every Highway target of the dot kernel, for the speedup bars.
"$bench" --cpu "$cpu" --filter '^ops/dot/384$' --target all --repetitions 3 --max-time 0.05 \
  --db "$db" --machine demo >> "$out/bench.log" 2>&1 || runs_ok=0
commits=$(git -C "$clone" rev-list --count "$first..HEAD")
appended=$(grep -c 'appended to the history' "$out/bench.log")
if [ "$runs_ok" -eq 1 ] && [ "$commits" -ge 5 ] && [ "$appended" -eq 10 ]; then
  ok "$commits commits, $appended runs appended ($((SECONDS - bench_start)) s with rebuilds)"
else
  bad "bench runs (see $out/bench.log)"; tail -n 20 "$out/bench.log"
fi

# ---- history: the change point names the slowed commit
"$bench" history --db "$db" --machine demo > "$out/history.txt" 2>&1 || bad "history exited $?"
echo "--- history of ops/dot/384"
awk '/^ops\/dot\/384  /{p=1} p&&/^$/{exit} p' "$out/history.txt"
if awk '/^ops\/dot\/384  /{p=1} p&&/^$/{exit} p' "$out/history.txt" |
     grep -E "^  ${slow:0:12} .*<< shift \+" > /dev/null; then
  ok "history marks the change point at the slowed commit ${slow:0:12}"
else
  bad "no change point at ${slow:0:12} in history (see $out/history.txt)"
fi
if awk '/^ops\/dot\/384  /{p=1} p&&/^$/{exit} p' "$out/history.txt" |
     grep -E "^  ${reverted:0:12} .*<< shift -" > /dev/null; then
  ok "history marks the way back at the revert ${reverted:0:12}"
else
  bad "no change point at the revert ${reverted:0:12} in history"
fi
if awk '/^memory\/arena\/alloc_1KiB_reset  /{p=1} p&&/^$/{exit} p' "$out/history.txt" |
     grep -E "^  ${slow:0:12} .*<< shift" > /dev/null; then
  bad "an entry the slowdown does not touch has a change point at ${slow:0:12}"
else
  ok "no change point at ${slow:0:12} for memory/arena/alloc_1KiB_reset"
fi

# ---- compare: commits pool their runs (6 repetitions a side), single runs have 3
"$bench" compare "${first:0:12}" "${slow:0:12}" --db "$db" --machine demo > "$out/compare.txt" 2>&1
rc=$?
cat "$out/compare.txt"
if [ $rc -eq 1 ] && grep -qE '^ops/dot/384 .*REGRESSION' "$out/compare.txt"; then
  ok "compare first slowed: exit 1, ops/dot/384 REGRESSION"
else
  bad "compare first slowed exited $rc (expected 1, a regression)"
fi
"$bench" compare "$first_run" "$later_run" --db "$db" > "$out/compare-runs.txt" 2>&1
rc=$?
if [ $rc -eq 2 ]; then
  ok "compare of runs $first_run and $later_run (3 repetitions a side): exit 2, inconclusive"
else
  bad "compare $first_run $later_run exited $rc (expected 2: 3 repetitions cannot reach p < 0.01)"
fi

# ---- the report, and a run under a hostile machine name for the escaping
"$bench" --cpu "$cpu" --filter '^ops/dot/384$' --repetitions 1 --max-time 0.02 --db "$db" \
  --machine '<script>alert(1)</script>' >> "$out/bench.log" 2>&1 || bad "the hostile-name run"
if "$bench" report --db "$db" --machine demo -o "$out/report.html" &&
   "$bench" report --db "$db" -o "$out/all-machines.html"; then
  ok "report written ($(wc -c < "$out/report.html") bytes)"
else
  bad "llmk-bench report"; finish
fi

# ---- headless Chromium: a screenshot, and the DOM it built
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get > /dev/null; then
  echo "history-report: installing chromium" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -y -qq install --no-install-recommends chromium \
    > "$out/apt.log" 2>&1 || { apt-get -qq update > /dev/null 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get -y -qq install --no-install-recommends chromium \
      > "$out/apt.log" 2>&1; }
  browser=$(command -v chromium || true)
fi
if [ -z "$browser" ]; then
  bad "no chromium to open the report (apt-get install chromium)"; finish
fi
chrome() {  # page, flags...
  local page=$1; shift
  # The page has no script; --enable-logging would print any console error.
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --enable-logging=stderr --v=0 "$@" "file://$page"
}
chrome "$out/report.html" --screenshot="$out/report.png" --window-size=1400,3000 \
  > /dev/null 2> "$out/chromium.log"
# The whole page too: 3000 px hold the trends, the panels follow them.
chrome "$out/report.html" --screenshot="$out/report-full.png" --window-size=1400,7000 \
  > /dev/null 2>> "$out/chromium.log"
chrome "$out/report.html" --dump-dom > "$out/report.dom.html" 2>> "$out/chromium.log"
chrome "$out/all-machines.html" --dump-dom > "$out/all-machines.dom.html" 2>> "$out/chromium.log"
if python3 - "$out" "$slow" <<'PY'
import re, sys
out, slow = sys.argv[1], sys.argv[2]
png = open(f"{out}/report.png", "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000, "no screenshot"
source = open(f"{out}/report.html").read()
dom = open(f"{out}/report.dom.html").read()
entries = source.count('<figure class="entry">')
assert entries >= 5, f"{entries} trend figures"
# The DOM Chromium built has every chart and point the page wrote.
for needle in ('<svg xmlns="http://www.w3.org/2000/svg" class="trend"', '<circle class="rep"',
               '<polyline class="median"', '<line class="change"', 'class="speedup"',
               '<rect class="bar"', '<table class="counters">', '<table class="generation">',
               '<table class="runs">'):
    assert dom.count(needle) == source.count(needle) > 0, f"{needle}: {dom.count(needle)} in the DOM, {source.count(needle)} in the page"
assert f"change at {slow[:7]} +" in dom, "no change marker naming the slowed commit"
assert "<script" not in source and "<script" not in dom, "a script element"
hostile = open(f"{out}/all-machines.dom.html").read()
assert "<script" not in hostile, "the hostile machine name became an element"
assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile, "the hostile name is not shown as text"
points, changes = dom.count('<circle class="rep"'), dom.count('<line class="change"')
bars = dom.count('<rect class="bar')
print(f"DOM: {entries} trend charts, {points} points, {changes} change markers, {bars} speedup bars")
PY
then
  ok "Chromium: screenshot $out/report.png, DOM has every chart, no script"
else
  bad "Chromium's rendering of the report (see $out/*.dom.html)"
fi
if grep -E 'Uncaught|CONSOLE\(' "$out/chromium.log"; then
  bad "console messages while rendering"
else
  ok "no console message while rendering"
fi
echo "history-report: build ${build_s} s, total $((SECONDS - start)) s"
finish
