#!/usr/bin/env bash
# Cross-build tools for `make dist` (idempotent; run as root on Debian, by scripts/dist.sh):
#   Debian's rustc-web/cargo-web with the Rust standard library of each target (libstd-rust-web-dev:<arch>),
#   ziglang + maturin (PyPI, in .venv-dist) as the linker for an old glibc (manylinux2014: glibc 2.17),
#   qemu-user-static + debootstrap + binfmt for the emulated tests (scripts/dist-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[setup-cross]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup-cross] error:\033[0m %s\n' "$*" >&2; exit 1; }
ARCHES=(armhf arm64 i386)
pkgs=(rustc-web cargo-web qemu-user-static debootstrap binfmt-support)
for a in "${ARCHES[@]}"; do pkgs+=("libstd-rust-web-dev:$a"); done
need=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 ||
        die "missing ${need[*]}: run this as root on Debian (apt-get), or install them"
    for a in "${ARCHES[@]}"; do
        dpkg --print-foreign-architectures | grep -qx "$a" || { say "dpkg --add-architecture $a"; dpkg --add-architecture "$a"; }
    done
    export DEBIAN_FRONTEND=noninteractive
    say "installing ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x .venv-dist/bin/maturin ] || [ ! -x .venv-dist/bin/python-zig ] && ! .venv-dist/bin/python -c 'import ziglang' 2>/dev/null; then
    say "installing maturin and ziglang into .venv-dist"
    python3 -m venv .venv-dist
    .venv-dist/bin/pip install -q "maturin>=1.7,<2" "ziglang>=0.13,<0.14"
fi
say "ready: $(/usr/bin/rustc --version), zig $(.venv-dist/bin/python -m ziglang version)"
