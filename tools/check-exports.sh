#!/usr/bin/env bash
# Fails when libllmk.so exports anything beyond the public API: every
# dynamic symbol it defines must name a type or function of namespace llmk
# (the public headers), none of llmk::kernels, llmk::internal or a
# Highway per-target namespace (llmk::N_*), and none of another library.
#
#   tools/check-exports.sh [BUILD_DIR]     (default: build)
set -euo pipefail
build=${1:-build}
lib=$build/lib/libllmk.so
[[ -f $lib ]] || { echo "check-exports: $lib not built" >&2; exit 2; }
symbols=$(nm -D --defined-only "$lib" | awk '{ $1 = ""; $2 = ""; sub(/^  /, ""); print }' | c++filt)
# ELF version nodes and the like carry no name to judge.
named=$(grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' <<<"$symbols" || true)
bad=$(grep -v 'llmk::' <<<"$named" || true)
internal=$(grep -E 'llmk::(kernels|internal|N_[A-Z0-9_]+)::' <<<"$named" || true)
status=0
if [[ -n $bad ]]; then
  echo "check-exports: symbols outside namespace llmk:" >&2
  head -n 40 <<<"$bad" >&2
  status=1
fi
if [[ -n $internal ]]; then
  echo "check-exports: internal llmk symbols exported:" >&2
  head -n 40 <<<"$internal" >&2
  status=1
fi
count=$(grep -c . <<<"$named" || true)
[[ $status -eq 0 ]] && echo "check-exports: $count symbols, all public API"
# The result line .ci/summarize.py adds up, like the doctest suites'.
echo "llmk-tests: $((1 - status)) passed, $status failed, 0 skipped"
exit $status
