#!/usr/bin/env bash
# Runs examples/generate_text: on a synthetic model (always), and on
# stories260K from the shared reference data when present, where the text
# must hold more than the prompt. Exit 77 (skipped) names what is missing.
set -euo pipefail
exe=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && "$exe" > synthetic.txt)
grep -q '^Once upon a time' "$work/synthetic.txt" || { echo "synthetic: no text"; exit 1; }
shared=${LLMK_SHARED:-$PWD/../shared}
model=$shared/models/stories260K-f32.gguf
if [[ ! -f $model ]]; then
  echo "SKIP: $model absent (set LLMK_SHARED)"
  exit 77
fi
"$exe" "$model" > "$work/stories.txt"
text=$(cat "$work/stories.txt")
echo "$text"
prompt="Once upon a time"
[[ $text == "$prompt"* && ${#text} -gt ${#prompt} ]] || { echo "stories260K: no new text"; exit 1; }
