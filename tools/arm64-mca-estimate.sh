#!/usr/bin/env bash
# Static estimates of libllmk's NEON hot loops on Cortex-A53 and Cortex-A72,
# for the spec's ARM table, from LLVM's machine-code analyser (llvm-mca):
#
#   1. compiles the library's own kernel files for aarch64 (ARMv8.0-A, only
#      Highway's static target, NEON_WITHOUT_AES: what an A53/A72 without the
#      crypto extension dispatches to; the float code is that of NEON) with
#      -O3 -S, exactly as the library is built otherwise;
#   2. walks each kernel function's fall-through path from its entry (taking
#      unconditional jumps, never conditional ones, which skip the tail and
#      special-value paths) and records the loops it closes;
#   3. runs llvm-mca -mcpu=cortex-a53 / cortex-a72 on each loop body with
#      -iterations set to that loop's trip count for the benchmark's size, and
#      once on the rest of the path (set-up, reductions, the function's entry
#      and exit), and adds the cycles;
#   4. converts cycles to µs at 1 GHz (A53) and 2 GHz (A72).
#
# Model assumptions, printed with the table: caches warm and no memory stalls
# (every load hits L1), branches predicted, no call overhead from the caller,
# no dynamic-dispatch cost. LLVM 14 models the Cortex-A72 with its Cortex-A57
# scheduling model. Tokenization is not estimated: its time is hash look-ups
# and data-dependent branches, which llvm-mca does not model.
#
#   tools/arm64-mca-estimate.sh [WORK_DIR]     (default build-arm64-mca)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$root/build-arm64-mca}
mkdir -p "$work"
cxx=${CXX_AARCH64:-aarch64-linux-gnu-g++}
mca=${LLVM_MCA:-$(command -v llvm-mca || command -v llvm-mca-14 || true)}
[ -n "$mca" ] || { echo "arm64-mca-estimate: llvm-mca not found (apt-get install llvm)" >&2; exit 1; }
command -v "$cxx" >/dev/null || { echo "arm64-mca-estimate: $cxx not found (tools/setup.sh --arm64)" >&2; exit 1; }

for f in ops/matvec ops/elementwise quant/quant_simd; do
  "$cxx" -std=c++20 -O3 -march=armv8-a -DNDEBUG -DHWY_COMPILE_ONLY_STATIC=1 \
    -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fPIC \
    -I"$root/lib" -I"$root/include" -S "$root/lib/$f.cc" -o "$work/$(basename "$f").s"
done

python3 - "$work" "$mca" "$("$cxx" -dumpfullversion)" "$("$mca" --version | sed -n 's/.*LLVM version \([0-9.]*\).*/\1/p')" <<'EOF'
import re, subprocess, sys

work, mca, gcc_version, llvm_version = sys.argv[1:5]
NS = "N_NEON_WITHOUT_AES"
BRANCH = re.compile(r"^\s+(b\.?[a-z]*|cbnz|cbz|tbnz|tbz)\s+(?:.*,\s*)?(\.L\w+)$")
UNCOND = re.compile(r"^\s+b\s+(\.L\w+)$")


def function_lines(asm, name):
    lines = open(f"{work}/{asm}.s").read().splitlines()
    sym = next(l[:-1] for l in lines
               if re.match(rf"^_ZN4llmk{len(NS)}{NS}{len(name)}{name}E\w*:$", l))
    start = lines.index(sym + ":")
    end = next(i for i in range(start, len(lines))
               if lines[i].strip().startswith(".size") and sym in lines[i])
    return lines[start + 1:end]


def is_instruction(line):
    s = line.strip()
    return bool(re.match(r"^\s+[a-z]", line)) and not s.startswith(".")


def walk(body):
    """The fall-through path from the entry: a list of instructions, and the
    loops it closes as (start, end) index ranges into that list."""
    labels = {l[:-1]: i for i, l in enumerate(body) if re.match(r"^\.L\w+:$", l)}
    path, loops, seen_label_at = [], [], {}
    i, steps = 0, 0
    while i < len(body) and steps < 10000:
        steps += 1
        line = body[i]
        if re.match(r"^\.L\w+:$", line):
            if line[:-1] in seen_label_at:  # fell through into the loop's head again
                loops.append((seen_label_at[line[:-1]], len(path)))
                break
            seen_label_at[line[:-1]] = len(path)
            i += 1
            continue
        if not is_instruction(line):
            i += 1
            continue
        if line.strip() == "ret":
            path.append(line)
            break
        u = UNCOND.match(line)
        if u:
            if u.group(1) in seen_label_at:  # a backward jump: stop
                break
            i = labels[u.group(1)]
            continue
        path.append(line)
        b = BRANCH.match(line)
        if b and b.group(2) in seen_label_at:  # a loop's back edge, assumed taken N times
            loops.append((seen_label_at[b.group(2)], len(path)))
        i += 1
    return path, loops


def mca_cycles(instructions, cpu, iterations):
    if iterations <= 0 or not instructions:
        return 0
    text = "\n".join(instructions) + "\n"
    out = subprocess.run([mca, "-mtriple=aarch64", f"-mcpu={cpu}", f"-iterations={iterations}"],
                         input=text, capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Total Cycles:\s+(\d+)", out).group(1))


# Each kernel: its function, and the trip count of each loop on the path, in
# the order the path closes them (checked by the loop's fmla count, so a
# change to the code stops the script instead of misreporting). `outer`
# loops are counted without the loops inside them.
N = 384
KERNELS = [
    ("dot product, 384 elements", "matvec", "Dot",
     [dict(fmla=4, trips=N // 16),  # 4 vectors of 4 floats per trip
      dict(fmla=1, trips=0)]),  # single vectors: none left when 16 divides n
    ("matrix-vector 384x384 (f32, from cache)", "matvec", "MatvecRows",
     [dict(fmla=8, trips=(N // 4) * (N // 8)),  # 8 rows x 4 columns per trip
      dict(outer=True, trips=N // 8)]),  # per 8-row tile: zeroing, 8 reductions, stores
    ("Q4_0 dequantization, one block (32 values)", "quant_simd", "DequantQ4",
     [dict(fmla=0, trips=1)]),
    ("layer norm, 384 elements", "elementwise", "LayerNorm",
     [dict(fmla=0, trips=N // 4),  # sum
      dict(fmla=1, trips=N // 4),  # centred sum of squares
      dict(fmla=1, trips=N // 4)]),  # normalise, scale, shift, store
]
CPUS = [("cortex-a53", 1.0), ("cortex-a72", 2.0)]
SPEC_US = {"dot": (0.8, 0.4), "matrix": (450, 225), "Q4_0": (1.5, 0.7), "layer": (None, None)}

rows = []
for title, asm, name, specs in KERNELS:
    path, loops = walk(function_lines(asm, name))
    if len(loops) != len(specs):
        sys.exit(f"arm64-mca-estimate: {name}: the path closes {len(loops)} loops, expected {len(specs)}")
    in_loop = [False] * len(path)
    cycles = {cpu: 0 for cpu, _ in CPUS}
    detail = []
    for (start, end), spec in zip(loops, specs):
        body_idx = [k for k in range(start, end) if not in_loop[k]]
        body = [path[k] for k in body_idx]
        if not spec.get("outer"):
            fmla = sum("fmla" in x for x in body)
            if fmla != spec["fmla"]:
                sys.exit(f"arm64-mca-estimate: {name}: a loop has {fmla} fmla, expected {spec['fmla']}")
        for k in body_idx:
            in_loop[k] = True
        per_cpu = []
        for cpu, _ in CPUS:
            c = mca_cycles(body, cpu, spec["trips"])
            cycles[cpu] += c
            per_cpu.append(f"{c / spec['trips']:.1f}" if spec["trips"] else "-")
        detail.append(f"{len(body)}-instruction {'tile overhead' if spec.get('outer') else 'loop'}"
                      f" x {spec['trips']}: {'/'.join(per_cpu)} cycles per trip (A53/A72)")
    rest = [path[k] for k in range(len(path)) if not in_loop[k]]
    for cpu, _ in CPUS:
        cycles[cpu] += mca_cycles(rest, cpu, 1)
    detail.append(f"{len(rest)} other instructions once")
    rows.append((title, cycles, detail))

print(f"llvm-mca {llvm_version} on GCC {gcc_version} -O3 -march=armv8-a code (Highway target NEON_WITHOUT_AES)")
print("Model estimates, not measurements: caches warm, no memory stalls, branches predicted;")
print("Cortex-A72 uses LLVM's Cortex-A57 scheduling model. Tokenization: not estimated.")
print()
print("| benchmark | A53 cycles | A53 @ 1 GHz, µs | spec A53, µs | A72 cycles | A72 @ 2 GHz, µs | spec A72, µs |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for title, cycles, _ in rows:
    key = next(k for k in SPEC_US if title.startswith(k) or k in title)
    s53, s72 = SPEC_US[key]
    fmt = lambda v: "—" if v is None else f"{v:g}"
    a53, a72 = cycles["cortex-a53"], cycles["cortex-a72"]
    print(f"| {title} | {a53} | {a53 / 1000:.3f} | {fmt(s53)} | {a72} | {a72 / 2000:.3f} | {fmt(s72)} |")
print("| tokenization | — | not estimated | 8 | — | not estimated | 4 |")
print()
for title, _, detail in rows:
    print(f"{title}: " + "; ".join(detail))
EOF
