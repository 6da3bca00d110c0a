#!/usr/bin/env python3
"""Writes the handmade seed inputs of every fuzz target into OUT/<target>/.

Small well-formed files (tiny llama and gpt2 GGUF models in F32, Q8_0 and
Q4_0, llama2.c checkpoints with shared and separate classifiers, a small
tokenizer.bin), a few near-misses, and token/position records, so libFuzzer
starts from inputs that reach deep into each loader.

    make_seeds.py OUT
"""
import os
import random
import struct
import sys

# GGUF value and tensor type numbers (as in the spec).
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
T_F32, T_F16, T_Q4_0, T_Q8_0 = 0, 1, 2, 8


def gguf_string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, value):
    if vtype == STR:
        return gguf_string(value)
    if vtype == ARR:
        etype, items = value
        out = struct.pack("<IQ", etype, len(items))
        for item in items:
            out += gguf_value(etype, item)
        return out
    fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "B",
           U64: "Q", I64: "q", F64: "d"}[vtype]
    return struct.pack("<" + fmt, value)


def gguf_file(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, dims, type, data bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, value in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype) + gguf_value(vtype, value)
    offset = 0
    offsets = []
    for name, dims, ttype, data in tensors:
        offsets.append(offset)
        out += gguf_string(name) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ttype, offset)
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    for (_, _, _, data), off in zip(tensors, offsets):
        out += data + b"\0" * (-len(data) % alignment)
    return out


def tensor_data(rng, ttype, rows, cols):
    """Random weights of a rows × cols matrix (GGUF dims [cols, rows])."""
    n = rows * cols
    if ttype == T_F32:
        return struct.pack("<%df" % n, *(rng.uniform(-0.5, 0.5) for _ in range(n)))
    if ttype == T_F16:
        return struct.pack("<%de" % n, *(rng.uniform(-0.5, 0.5) for _ in range(n)))
    assert cols % 32 == 0
    out = b""
    for _ in range(n // 32):
        scale = struct.pack("<e", rng.uniform(0.001, 0.05))
        if ttype == T_Q8_0:
            out += scale + bytes(rng.randrange(256) for _ in range(32))
        else:
            out += scale + bytes(rng.randrange(256) for _ in range(16))
    return out


def vocab_kvs(vocab, model="llama"):
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(min(vocab - 3, 8))]
    tokens += ["\u2581t%d" % i for i in range(vocab - len(tokens))]
    return [
        ("tokenizer.ggml.model", STR, model),
        ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        ("tokenizer.ggml.scores", ARR, (F32, [-float(i) for i in range(vocab)])),
        ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3] + [6] * min(vocab - 3, 8)
                                            + [1] * (vocab - 3 - min(vocab - 3, 8)))),
        ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
    ]


def llama_gguf(rng, dim, hidden, heads, kv_heads, vocab, ctx, mtype, tied, with_vocab):
    head_dim = dim // heads
    kv = head_dim * kv_heads
    kvs = [
        ("general.architecture", STR, "llama"),
        ("llama.context_length", U32, ctx),
        ("llama.embedding_length", U32, dim),
        ("llama.feed_forward_length", U32, hidden),
        ("llama.block_count", U32, 1),
        ("llama.attention.head_count", U32, heads),
        ("llama.attention.head_count_kv", U32, kv_heads),
        ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
        ("llama.rope.freq_base", F32, 10000.0),
        ("llama.rope.dimension_count", U32, head_dim),
    ]
    if with_vocab:
        kvs += vocab_kvs(vocab)
    norm = lambda: struct.pack("<%df" % dim, *(1.0 + rng.uniform(-0.1, 0.1) for _ in range(dim)))
    mat = lambda name, rows, cols: (name, [cols, rows], mtype, tensor_data(rng, mtype, rows, cols))
    tensors = [mat("token_embd.weight", vocab, dim),
               ("output_norm.weight", [dim], T_F32, norm())]
    if not tied:
        tensors.append(mat("output.weight", vocab, dim))
    tensors += [
        ("blk.0.attn_norm.weight", [dim], T_F32, norm()),
        mat("blk.0.attn_q.weight", dim, dim),
        mat("blk.0.attn_k.weight", kv, dim),
        mat("blk.0.attn_v.weight", kv, dim),
        mat("blk.0.attn_output.weight", dim, dim),
        ("blk.0.ffn_norm.weight", [dim], T_F32, norm()),
        mat("blk.0.ffn_gate.weight", hidden, dim),
        mat("blk.0.ffn_up.weight", hidden, dim),
        mat("blk.0.ffn_down.weight", dim, hidden),
    ]
    return gguf_file(kvs, tensors)


def gpt2_gguf(rng, dim, hidden, heads, vocab, ctx):
    kvs = [
        ("general.architecture", STR, "gpt2"),
        ("gpt2.context_length", U32, ctx),
        ("gpt2.embedding_length", U32, dim),
        ("gpt2.feed_forward_length", U32, hidden),
        ("gpt2.block_count", U32, 1),
        ("gpt2.attention.head_count", U32, heads),
        ("gpt2.attention.layer_norm_epsilon", F32, 1e-5),
    ]
    vec = lambda name, n, base: (name, [n], T_F32,
                                 struct.pack("<%df" % n, *(base + rng.uniform(-0.1, 0.1)
                                                           for _ in range(n))))
    mat = lambda name, rows, cols: (name, [cols, rows], T_F32,
                                    tensor_data(rng, T_F32, rows, cols))
    tensors = [
        mat("token_embd.weight", vocab, dim),
        mat("position_embd.weight", ctx, dim),
        vec("output_norm.weight", dim, 1.0), vec("output_norm.bias", dim, 0.0),
        vec("blk.0.attn_norm.weight", dim, 1.0), vec("blk.0.attn_norm.bias", dim, 0.0),
        mat("blk.0.attn_qkv.weight", 3 * dim, dim), vec("blk.0.attn_qkv.bias", 3 * dim, 0.0),
        mat("blk.0.attn_output.weight", dim, dim), vec("blk.0.attn_output.bias", dim, 0.0),
        vec("blk.0.ffn_norm.weight", dim, 1.0), vec("blk.0.ffn_norm.bias", dim, 0.0),
        mat("blk.0.ffn_up.weight", hidden, dim), vec("blk.0.ffn_up.bias", hidden, 0.0),
        mat("blk.0.ffn_down.weight", dim, hidden), vec("blk.0.ffn_down.bias", dim, 0.0),
    ]
    return gguf_file(kvs, tensors)


def llama2c(rng, dim, hidden, layers, heads, kv_heads, vocab, seq, shared=True):
    head = dim // heads
    kv = head * kv_heads
    floats = (vocab * dim + layers * (dim + dim * dim + 2 * kv * dim + dim * dim + dim
                                      + 3 * hidden * dim)
              + dim + seq * head + (0 if shared else vocab * dim))
    header = struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab if shared else -vocab,
                         seq)
    return header + struct.pack("<%df" % floats, *(rng.uniform(-0.5, 0.5) for _ in range(floats)))


def tokenizer_bin(pieces):
    body = b""
    for i, piece in enumerate(pieces):
        b = piece.encode()
        body += struct.pack("<fi", -float(i), len(b)) + b
    return struct.pack("<i", max(len(p.encode()) for p in pieces)) + body


def main():
    out = sys.argv[1]
    rng = random.Random(1234)
    seeds = {t: {} for t in ["gguf", "model_load", "llama2c", "forward", "tokenizer_bin",
                             "spm_encode", "bpe_encode", "decode"]}

    models = {
        "llama_f32.gguf": llama_gguf(rng, 8, 16, 2, 1, 16, 8, T_F32, False, True),
        "llama_f16_tied.gguf": llama_gguf(rng, 8, 16, 2, 2, 16, 8, T_F16, True, False),
        "llama_q8_0.gguf": llama_gguf(rng, 32, 64, 4, 2, 16, 8, T_Q8_0, False, True),
        "llama_q4_0.gguf": llama_gguf(rng, 32, 64, 4, 2, 16, 8, T_Q4_0, True, False),
        "gpt2_f32.gguf": gpt2_gguf(rng, 8, 16, 2, 16, 8),
    }
    checkpoints = {
        "shared.bin": llama2c(rng, 8, 16, 1, 2, 1, 16, 8, True),
        "separate.bin": llama2c(rng, 8, 12, 2, 2, 2, 10, 4, False),
        "smallest.bin": llama2c(rng, 2, 1, 1, 1, 1, 1, 1, True),
    }
    for name, data in models.items():
        seeds["gguf"][name] = data
        seeds["model_load"][name] = data
    for name, data in checkpoints.items():
        seeds["llama2c"][name] = data
        seeds["model_load"][name] = data
    seeds["llama2c"]["truncated.bin"] = checkpoints["shared.bin"][:-4]
    seeds["llama2c"]["ak42.bin"] = b"ak42" + struct.pack("<i", 2) + b"\0" * 248
    seeds["gguf"]["empty_v3.gguf"] = gguf_file([], [])
    seeds["gguf"]["empty_v2.gguf"] = gguf_file([], [], version=2)
    seeds["gguf"]["align64.gguf"] = gguf_file(
        [("general.alignment", U32, 64), ("a", ARR, (U16, [1, 2, 3])), ("b", F64, 0.5),
         ("c", BOOL, 1), ("d", I64, -5), ("e", ARR, (STR, ["x", "yz", ""]))],
        [("t0", [3, 2], T_F32, tensor_data(rng, T_F32, 2, 3)),
         ("t1", [32, 1, 1, 2], T_Q8_0, tensor_data(rng, T_Q8_0, 2, 32)),
         ("t2", [5], T_F16, tensor_data(rng, T_F16, 1, 5))], alignment=64)
    seeds["gguf"]["vocab_only.gguf"] = gguf_file(vocab_kvs(12), [])

    # forward: mode byte, then (int32 token, uint32 position, uint8 sequence) records.
    rec = lambda t, p, s: struct.pack("<iIB", t, p, s)
    seeds["forward"]["prompt.bin"] = b"\0" + b"".join(rec(t, p, 0) for p, t in
                                                      enumerate([1, 450, 4, 300, 22, 511]))
    seeds["forward"]["two_seqs_f32.bin"] = b"\1" + b"".join(
        rec(t, p // 2, p % 2) for p, t in enumerate([1, 1, 7, 8, 9, 10]))
    seeds["forward"]["rewind.bin"] = b"\0" + rec(1, 0, 0) + rec(2, 1, 0) + rec(3, 0, 0) + rec(4, 1, 0)
    seeds["forward"]["full.bin"] = b"\0" + b"".join(rec(p * 31 % 512, p, 0) for p in range(17))
    seeds["forward"]["bad.bin"] = b"\0" + rec(-1, 0, 0) + rec(512, 0, 0) + rec(1, 16, 0) + \
        rec(1, 0, 2) + rec(1, 5, 0) + rec(1, 0xFFFFFFFF, 0)

    pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)] + \
             ["\u2581", "\u2581a", "b", "ab", "\u2581ab", "\u00e9", "\u2581the"]
    seeds["tokenizer_bin"]["small.bin"] = tokenizer_bin(pieces)
    seeds["tokenizer_bin"]["three.bin"] = tokenizer_bin(["<unk>", "<s>", "</s>"])
    seeds["tokenizer_bin"]["short_max_len.bin"] = struct.pack("<i", 1) + \
        tokenizer_bin(["abcdef", "\u2581", "x"])[4:]

    texts = {
        "empty.txt": b"",
        "ascii.txt": b"Hello world! The quick brown fox, 12345 jumps.",
        "spaces.txt": b"   leading and  double  spaces\n\n\ttabs\r\n",
        "utf8.txt": "caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 \u0420\u0443\u0441".encode(),
        "invalid_utf8.txt": b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x82\xf0\x90\x8c\xbc\xf8\x88",
        "surrogate.txt": b"\xed\xa0\x80\xed\xbf\xbf lone",
        "nul.txt": b"a\0b\0\0c",
        "special.txt": b"<s> </s> <unk> <|endoftext|> <0x41>",
        "contractions.txt": b"I'm you're it's we'll they've 'S 'T",
        "repeat.txt": b"a" * 3000,
    }
    for name, data in texts.items():
        seeds["spm_encode"][name] = data
        seeds["bpe_encode"][name] = data
    ids = lambda xs: struct.pack("<%di" % len(xs), *xs)
    # decode: a selector byte (bit 0 GPT-2, bit 1 render_special, bit 2
    # remove_prefix_space), then int32 ids.
    seeds["decode"]["basic.bin"] = b"\4" + ids([1, 15043, 3186, 29991, 2])
    seeds["decode"]["special.bin"] = b"\2" + ids([0, 1, 2, 3, 4, 200, 226, 132, 162])
    seeds["decode"]["gpt2.bin"] = b"\3" + ids([15496, 995, 50256, 220, 0, 255])
    seeds["decode"]["bad_ids.bin"] = b"\0" + ids([5, -1, 32000, 50257, 2**31 - 1, -2**31])
    seeds["decode"]["empty.bin"] = b"\1"

    for target, files in seeds.items():
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(out, target, "hand_" + name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
