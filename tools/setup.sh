#!/usr/bin/env bash
# Installs every build and test dependency of libllmk with apt, then
# configures and builds. Idempotent, and quiet when everything is present.
#
#   tools/setup.sh [BUILD_DIR] [meson options...]
#   tools/setup.sh --arm64 [BUILD_DIR] [meson options...]   (default build-arm64)
#
# --arm64 also installs the aarch64 cross compiler, qemu-user and the arm64
# libraries through multiarch, each pinned to the version the host has (the
# Multi-Arch: same packages must match), and cross-builds with
# cross/aarch64-linux-gnu.ini; docs/arm64.md says more.
#
# Debian 12 ships Highway 1.0.3; libhwy-dev >= 1.2 then comes from Debian 13
# (trixie) through an apt pin of priority 100, so nothing else is upgraded.
set -euo pipefail

arm64=0
if [ "${1:-}" = --arm64 ]; then arm64=1; shift; fi
if [ $arm64 -eq 1 ]; then build_dir=${1:-build-arm64}; else build_dir=${1:-build}; fi
shift || true
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(g++ python3 meson ninja-build pkg-config cmake libabsl-dev libspdlog-dev libfmt-dev
          doctest-dev libpfm4-dev libutf8proc-dev libopenblas-dev libsqlite3-dev libpq-dev)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
apt_get() { DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -y -qq "$@"; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

hwy_ok() {
  pkg-config --atleast-version=1.2 libhwy 2>/dev/null
}

if [ ${#missing[@]} -gt 0 ] || ! hwy_ok; then
  . /etc/os-release
  hwy_pkg=libhwy-dev
  if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
    # Highway >= 1.2 from trixie, pinned low so it is only taken when asked for.
    if [ ! -f /etc/apt/sources.list.d/llmk-trixie.sources ] &&
       ! grep -rqs "trixie" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
        "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/llmk-trixie.sources >/dev/null
    fi
    if [ ! -f /etc/apt/preferences.d/llmk-trixie-pin ]; then
      printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' |
        "${sudo_cmd[@]}" tee /etc/apt/preferences.d/llmk-trixie-pin >/dev/null
    fi
    hwy_pkg=libhwy-dev/trixie
  fi
  echo "setup: installing ${missing[*]:-} $hwy_pkg" >&2
  apt_get update
  apt_get install --no-install-recommends "${missing[@]}" "$hwy_pkg" >/dev/null
  hwy_ok || { echo "setup: libhwy >= 1.2 is still missing" >&2; exit 1; }
fi

if [ $arm64 -eq 1 ]; then
  installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    "${sudo_cmd[@]}" dpkg --add-architecture arm64
    apt_get update
  fi
  arm64_missing=()
  for p in g++-aarch64-linux-gnu qemu-user-static; do installed "$p" || arm64_missing+=("$p"); done
  for p in libhwy-dev libabsl-dev libspdlog-dev libfmt-dev libpfm4-dev libutf8proc-dev; do
    installed "$p:arm64" && continue
    # Multi-Arch: same; asking for the host's exact version keeps apt from
    # upgrading the host's copy (Highway's arm64 1.2 alone would pull a newer libc).
    arm64_missing+=("$p:arm64=$(dpkg-query -W -f='${Version}' "$p:$(dpkg --print-architecture)")")
  done
  if [ ${#arm64_missing[@]} -gt 0 ]; then
    apt-cache show libabsl-dev:arm64 >/dev/null 2>&1 || apt_get update
    # A dry run first: refuse anything that would upgrade an installed package.
    upgrades=$(apt-get -s -qq install --no-install-recommends "${arm64_missing[@]}" | grep '^Inst [^ ]* \[' || true)
    if [ -n "$upgrades" ]; then
      printf 'setup: installing %s would upgrade host packages:\n%s\n' "${arm64_missing[*]}" "$upgrades" >&2
      exit 1
    fi
    echo "setup: installing ${arm64_missing[*]}" >&2
    apt_get install --no-install-recommends "${arm64_missing[@]}" >/dev/null
  fi
  set -- --cross-file "$root/cross/aarch64-linux-gnu.ini" "$@"
fi

# Quiet on success; the full output when a step fails.
quietly() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "setup: '$*' failed" >&2
    exit 1
  fi
}

cd "$root"
if [ ! -f "$build_dir/build.ninja" ]; then
  quietly meson setup "$build_dir" "$@"
elif [ $arm64 -eq 1 ] && [ $# -gt 2 ]; then
  quietly meson configure "$build_dir" "${@:3}"  # a cross file is fixed at setup
elif [ $arm64 -eq 0 ] && [ $# -gt 0 ]; then
  quietly meson configure "$build_dir" "$@"
fi
quietly ninja -C "$build_dir"
