#!/usr/bin/env bash
# Installs a built tree into a staging directory, builds
# examples/bench_own_function.cc against the installed copy through
# pkg-config (llmk-bench), runs it and checks its JSON. Prints
#   installed-example: N passed, M failed
# Usage: .ci/installed_example.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
stage=$(mktemp -d /tmp/llmk-install.XXXXXX)
trap 'rm -rf "$stage"' EXIT
passed=0 failed=0
check() {  # name, command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); echo "FAIL: $name"; fi
}

# The README shows the example whole; a change to one must reach the other.
check "README shows the example as it is" python3 - <<'PY'
import re
readme = open("README.md").read()
example = open("examples/bench_own_function.cc").read()
blocks = re.findall(r"```cpp\n(.*?)```", readme, re.S)
assert example in blocks, "examples/bench_own_function.cc differs from README's code block"
PY
check "meson install" meson install -C "$build" --destdir "$stage" --quiet
prefix=$(meson introspect "$build" --buildoptions |
         python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
pcdir=$(dirname "$(find "$stage" -name llmk-bench.pc | head -n1)")
libdir=$(dirname "$(find "$stage" -name 'libllmk_bench.so' | head -n1)")
work=$stage/example
mkdir -p "$work"
# The sysroot makes the .pc files' ${prefix} paths point into the staging tree.
flags() { PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$stage pkg-config "$@" llmk-bench; }
check "pkg-config llmk-bench" flags --exists
# shellcheck disable=SC2046  # pkg-config's flags are words
check "build against the installed copy" \
  c++ -std=c++20 -O2 -Wall -Werror examples/bench_own_function.cc $(flags --cflags --libs) \
    -o "$work/bench_own_function"
check "not linked to the build tree" \
  bash -c "! LD_LIBRARY_PATH=$libdir ldd '$work/bench_own_function' | grep -q '$PWD/$build'"
check "runs" bash -c "cd '$work' && LD_LIBRARY_PATH=$libdir ./bench_own_function > out.txt 2> err.txt"
check "console table names the entry" grep -q 'mine/sum/4096' "$work/out.txt"
check "JSON has 5 repetition rows" python3 - "$work/mine.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["benchmarks"]
runs = [r for r in rows if r.get("run_type") == "iteration" and r["name"].startswith("mine/sum/4096")]
assert len(runs) == 5, len(runs)
assert all(r["real_time"] > 0 for r in runs)
PY
echo "(prefix $prefix staged under $stage)"
echo "installed-example: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
