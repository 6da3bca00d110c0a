#!/usr/bin/env bash
# Builds the seed corpus of every fuzz target in OUT/<target>/ (default
# build-fuzz/corpus): the handmade inputs of make_seeds.py, plus inputs taken
# from the reference data in ../shared (or $LLMK_SHARED) — the conformance
# strings and token ids, and the first bytes of the model and vocabulary
# files (whole files would make every execution slow). Nothing is copied
# into the repository.
#
#   tests/fuzz/make_corpus.sh [OUT]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build-fuzz/corpus}
shared=${LLMK_SHARED:-$root/../shared}

rm -rf "$out"
mkdir -p "$out"
python3 "$here/make_seeds.py" "$out"

if [ ! -d "$shared" ]; then
  echo "make_corpus: $shared not found; handmade seeds only" >&2
  exit 0
fi

# prefix TARGET FILE BYTES...: the first BYTES of FILE as seeds of TARGET.
prefix() {
  local target=$1 file=$shared/$2
  shift 2
  [ -f "$file" ] || return 0
  local n
  for n in "$@"; do
    head -c "$n" "$file" > "$out/$target/shared_$(basename "$file").$n"
  done
}
prefix gguf models/t1m-q4_0.gguf 4096 65536
prefix gguf models/stories260K-f32.gguf 4096
prefix gguf vocab/ggml-vocab-gpt-2.gguf 4096
prefix gguf vocab/ggml-vocab-llama-spm.gguf 4096
prefix model_load models/t1m-q8_0.gguf 4096
prefix model_load models/stories260K.bin 4096
prefix llama2c models/stories260K.bin 28 4096
prefix tokenizer_bin models/tokenizer.bin 4096 65536

# The conformance strings, one seed each, for both tokenizers; the expected
# ids, as int32 arrays, for decode (first byte 0 = Llama vocabulary, 1 = GPT-2).
python3 - "$shared" "$out" <<'PY'
import os, struct, sys
shared, out = sys.argv[1], sys.argv[2]
for selector, vocab in enumerate(["ggml-vocab-llama-spm", "ggml-vocab-gpt-2"]):
    base = os.path.join(shared, "vocab", vocab + ".gguf")
    try:
        inp = open(base + ".inp", "rb").read()
        lines = open(base + ".out", encoding="utf-8").read().split("\n")
    except OSError:
        continue
    texts = inp.split(b"\n__ggml_vocab_test__\n")
    for i, text in enumerate(texts):
        for target in ("spm_encode", "bpe_encode"):
            with open(os.path.join(out, target, "%s.%d" % (vocab, i)), "wb") as f:
                f.write(text)
    for i, line in enumerate(lines):
        ids = [int(x) for x in line.split()]
        if not ids:
            continue
        with open(os.path.join(out, "decode", "%s.%d" % (vocab, i)), "wb") as f:
            f.write(bytes([selector]) + struct.pack("<%di" % len(ids), *ids))
PY
