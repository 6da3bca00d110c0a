#!/usr/bin/env bash
# Proves the harness's perf-counter code on a real kernel PMU: boots an
# emulated aarch64 system (QEMU -M virt, Cortex-A72, -icount shift=0 so
# instruction counts are exact) with Debian's arm64 kernel and an initramfs
# holding busybox and tools/arm64_pmu_probe.cc, statically linked with
# bench/harness/perf_counters.cc. Prints the probe's counter tables; exits non-zero
# when a check fails or the system does not finish.
#
#   tools/arm64-pmu-check.sh [CACHE_DIR]     (default: build-arm64-pmu)
#
# Installs with apt only what is missing: the cross compiler, QEMU and the
# arm64 Abseil (pinned to the host's version, so nothing on the host is
# upgraded). The kernel and busybox are downloaded and unpacked into the
# cache directory, never installed. Re-running reuses the cache.
#
# Environment: LLMK_ARM64_KERNEL_PKG overrides the kernel package (default:
# the one Debian's linux-image-arm64 depends on, unsigned);
# LLMK_PMU_ITERATIONS the probe's loop length; LLMK_PMU_BOOT_TIMEOUT_S the
# limit on the emulated system (default 300 s).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${1:-$root/build-arm64-pmu}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
boot_timeout_s=${LLMK_PMU_BOOT_TIMEOUT_S:-300}

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
apt_get() { DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -y -qq "$@"; }
die() { echo "arm64-pmu-check: $*" >&2; exit 1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

timings=()
stage_start=$SECONDS
end_stage() {
  timings+=("$1 $((SECONDS - stage_start)) s")
  stage_start=$SECONDS
}

# --- host packages -----------------------------------------------------------
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${sudo_cmd[@]}" dpkg --add-architecture arm64
  apt_get update
fi
packages=(g++-aarch64-linux-gnu qemu-system-arm cpio gzip)
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if ! installed libabsl-dev:arm64; then
  # libabsl-dev is Multi-Arch: same, so the arm64 one must match the host's;
  # asking for that exact version keeps apt from upgrading the host's.
  if installed libabsl-dev:amd64; then
    missing+=("libabsl-dev:arm64=$(dpkg-query -W -f='${Version}' libabsl-dev:amd64)")
  else
    missing+=(libabsl-dev:arm64)
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-cache show libabsl-dev:arm64 >/dev/null 2>&1 || apt_get update
  # A dry run first: refuse anything that would upgrade an installed package
  # ("Inst NAME [OLD] (NEW ..."; a new one reads "Inst NAME (NEW ... [arch])").
  upgrades=$(apt-get -s -qq install --no-install-recommends "${missing[@]}" | grep '^Inst [^ ]* \[' || true)
  [ -z "$upgrades" ] || die "installing ${missing[*]} would upgrade host packages:
$upgrades"
  apt_get install --no-install-recommends "${missing[@]}" >/dev/null
fi
end_stage "apt-install"

# --- kernel and busybox, unpacked into the cache ------------------------------
kernel_pkg=${LLMK_ARM64_KERNEL_PKG:-}
if [ -z "$kernel_pkg" ]; then
  signed=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null |
           sed -n 's/^ *Depends: \(linux-image-[^:]*-arm64\)\(:arm64\)\{0,1\}$/\1/p' | head -n1)
  [ -n "$signed" ] || die "apt-cache finds no linux-image-arm64:arm64 (is arm64 in apt's lists?)"
  kernel_pkg=$signed-unsigned
fi
fetch() {  # package, path inside it (glob), where it lands
  local pkg=$1 member=$2 dir=$3
  compgen -G "$dir/$member" >/dev/null && return 0
  mkdir -p "$dir"
  (cd "$dir" && apt-get download -qq "$pkg:arm64" 2>/dev/null) || die "apt-get download $pkg:arm64 failed"
  dpkg-deb --fsys-tarfile "$dir"/*.deb | tar -x -C "$dir" --wildcards "./$member"
  rm -f "$dir"/*.deb
}
fetch "$kernel_pkg" "boot/vmlinuz-*" "$cache/$kernel_pkg"
fetch busybox-static bin/busybox "$cache/busybox-static"
kernel=$(compgen -G "$cache/$kernel_pkg/boot/vmlinuz-*" | head -n1)
end_stage "kernel+busybox-download"

# --- the probe, static, for aarch64 ------------------------------------------
probe=$cache/arm64_pmu_probe
sources=("$root/tools/arm64_pmu_probe.cc" "$root/bench/harness/perf_counters.cc" "$root/bench/harness/perf_counters.h"
         "$root/include/llmk/bench.h")
stale=0
[ -x "$probe" ] || stale=1
for s in "${sources[@]}"; do [ "$s" -nt "$probe" ] && stale=1; done
if [ $stale -eq 1 ]; then
  # Generic event table only: libpfm4 would name the same two events here.
  # -pthread for the probe's std::threads (glibc 2.34+ has libpthread in
  # libc, so a static link needs nothing more).
  absl_libs=$(PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig \
              pkg-config --static --libs absl_status absl_statusor absl_strings)
  # shellcheck disable=SC2086  # pkg-config's flags are words
  aarch64-linux-gnu-g++ -std=c++20 -O2 -Wall -Wextra -static -pthread \
    -I"$root/bench" -I"$root/include" \
    "$root/tools/arm64_pmu_probe.cc" "$root/bench/harness/perf_counters.cc" -o "$probe.tmp" $absl_libs
  mv "$probe.tmp" "$probe"
fi
end_stage "cross-compile"

# --- initramfs ----------------------------------------------------------------
rootfs=$cache/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
cp "$cache/busybox-static/bin/busybox" "$rootfs/bin/busybox"
cp "$probe" "$rootfs/bin/arm64_pmu_probe"
iterations=${LLMK_PMU_ITERATIONS:-}
cat > "$rootfs/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "=== pmu-check begin"
echo "kernel: \$(uname -r)"
echo "cpu: \$(grep -m1 'CPU part' /proc/cpuinfo)"
echo "perf_event_paranoid: \$(cat /proc/sys/kernel/perf_event_paranoid)"
dmesg | grep 'hw perfevents' || true
for d in /sys/bus/event_source/devices/*; do
  [ -d "\$d/events" ] || continue
  case "\$(basename "\$d")" in cpu|software|tracepoint|breakpoint|kprobe|uprobe) continue;; esac
  echo "PMU \$(basename "\$d") events: \$(ls "\$d/events" | tr '\n' ' ')"
done
# "hw perfevents: enabled with armv8_pmuv3_0 PMU driver, 7 counters available"
# (newer kernels put a bitmap before "counters").
counters=\$(dmesg | sed -n 's/.*hw perfevents: enabled.* \([0-9][0-9]*\) \(([^)]*) \)\{0,1\}counters available.*/\1/p' | head -n1)
/bin/arm64_pmu_probe --counters="\${counters:-0}" ${iterations:+--iterations=$iterations}
echo "=== pmu-check end (probe exit status \$?)"
poweroff -f
EOF
chmod +x "$rootfs/init"
(cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1) > "$cache/initrd.cpio.gz"
end_stage "initramfs"

# --- boot ---------------------------------------------------------------------
console=$cache/console.log
status=0
timeout "$boot_timeout_s" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 1 -m 1024 \
  -nographic -no-reboot -nic none -icount shift=0 \
  -kernel "$kernel" -initrd "$cache/initrd.cpio.gz" \
  -append "console=ttyAMA0 rdinit=/init quiet" </dev/null > "$console" 2>&1 || status=$?
tr -d '\r' < "$console" > "$console.txt"
end_stage "boot+probe"

report=$(sed -n '/^=== pmu-check begin/,/^=== pmu-check end/p' "$console.txt")
if [ $status -ne 0 ] || ! grep -q '^PROBE PASS' <<<"$report" || grep -q '^check FAIL' <<<"$report"; then
  cat "$console.txt" >&2
  [ $status -eq 124 ] && echo "arm64-pmu-check: the emulated system ran past ${boot_timeout_s} s" >&2
  die "FAILED (qemu exit status $status; console log: $console.txt)"
fi
printf '%s\n' "$report" | grep -v '^check ok:'
qemu_version=$(qemu-system-aarch64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
summary=$(IFS=,; echo "${timings[*]}")
echo "arm64-pmu-check: pass; qemu $qemu_version; stages: ${summary//,/, }"
