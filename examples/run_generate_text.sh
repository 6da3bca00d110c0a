#!/usr/bin/env bash
# Runs examples/generate_text: on a synthetic model (always), and on
# stories260K from the shared reference data when present, where the text
# must hold more than the prompt. Exit 77 (skipped) names what is missing.
set -euo pipefail
exe=$1
# A cross build runs the example through its emulator (tests/meson.build).
run() { ${LLMK_TEST_EXEC_WRAPPER:+$LLMK_TEST_EXEC_WRAPPER} "$exe" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && run > synthetic.txt)
# Result lines as the doctest suites print them, for .ci/summarize.py.
fail() { echo "$1"; echo "llmk-tests: 0 passed, 1 failed, 0 skipped"; exit 1; }
grep -q '^Once upon a time' "$work/synthetic.txt" || fail "synthetic: no text"
shared=${LLMK_SHARED:-$PWD/../shared}
model=$shared/models/stories260K-f32.gguf
if [[ ! -f $model ]]; then
  echo "SKIP: $model absent (set LLMK_SHARED)"  # counted as skipped from meson's result
  exit 77
fi
run "$model" > "$work/stories.txt"
text=$(cat "$work/stories.txt")
echo "$text"
prompt="Once upon a time"
[[ $text == "$prompt"* && ${#text} -gt ${#prompt} ]] || fail "stories260K: no new text"
echo "llmk-tests: 2 passed, 0 failed, 0 skipped"
