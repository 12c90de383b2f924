#!/usr/bin/env bash
# `make dist`: abi3 wheels of josev with the native EXI codec for the boards' architectures, cross-built with
# Debian's Rust (rustc-web + libstd-rust-web-dev:<arch>) and zig as the linker against glibc 2.17
# (manylinux2014), so that every Yocto (glibc >= 2.17) and Debian (>= 8) image loads them. Output in dist/,
# listed with sizes and the newest glibc symbol each native module needs.
# Usage: scripts/dist.sh [TARGET ...]   (default: the four below). Cargo's build cache lives outside the repo
# (JOSEV_DIST_CACHE, default /var/cache/josev-dist as root, ~/.cache/josev-dist otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[dist]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[dist] error:\033[0m %s\n' "$*" >&2; exit 1; }
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu i686-unknown-linux-gnu x86_64-unknown-linux-gnu)
GLIBC_MIN=2.17
if [ "$(id -u)" -eq 0 ]; then CACHE=${JOSEV_DIST_CACHE:-/var/cache/josev-dist}; else CACHE=${JOSEV_DIST_CACHE:-$HOME/.cache/josev-dist}; fi
scripts/setup-cross.sh
ZIGDIR=$(.venv-dist/bin/python -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
# Debian's cargo/rustc (/usr/bin) have the targets' standard libraries; rustup's (~/.cargo/bin) do not.
export PATH="/usr/bin:$ZIGDIR:$PWD/.venv-dist/bin:$PATH" CARGO_TARGET_DIR="$CACHE/target"
mkdir -p dist
for target in "${TARGETS[@]}"; do
    t0=$SECONDS
    say "building the wheel for $target (glibc $GLIBC_MIN)"
    rm -f dist/josev-*"$(case $target in armv7*) echo armv7l;; aarch64*) echo aarch64;; i686*) echo i686;; x86_64*) echo x86_64;; esac)".whl
    maturin build --release --zig --target "$target" --compatibility manylinux2014 -i python3 -o dist -q 2>&1 |
        grep -v '^\s*$' | tail -n 3
    say "$target built in $((SECONDS - t0)) s"
done
git diff --quiet -- Cargo.lock || die "the build rewrote Cargo.lock (it must stay in lock-file version 3 for Yocto scarthgap)"
printf '\n%-34s %-70s %10s %s\n' target wheel bytes "native module needs"
fail=0
for target in "${TARGETS[@]}"; do
    arch=$(case $target in armv7*) echo armv7l;; aarch64*) echo aarch64;; i686*) echo i686;; x86_64*) echo x86_64;; esac)
    whl=$(ls dist/josev-*"_$arch.whl" 2>/dev/null | head -n1) || true
    [ -n "$whl" ] || { printf '%-34s MISSING\n' "$target"; fail=1; continue; }
    tmp=$(mktemp -d)
    python3 -m zipfile -e "$whl" "$tmp"
    glibc=$(readelf -V "$tmp/josev/_exi.abi3.so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)
    machine=$(readelf -h "$tmp/josev/_exi.abi3.so" | sed -n 's/^ *Machine: *//p')
    rm -rf "$tmp"
    printf '%-34s %-70s %10s %s (%s)\n' "$target" "$(basename "$whl")" "$(stat -c %s "$whl")" "$glibc" "$machine"
    [ "$(printf '%s\n%s\n' "${glibc#GLIBC_}" "$GLIBC_MIN" | sort -V | tail -n1)" = "$GLIBC_MIN" ] ||
        { say "$target: needs $glibc, newer than glibc $GLIBC_MIN"; fail=1; }
done
exit $fail
