#!/usr/bin/env bash
# Cross-build tools for `make dist` (idempotent; run as root on Debian, by scripts/dist.sh):
#   Debian's rustc-web/cargo-web with the Rust standard library of each target (libstd-rust-web-dev:<arch>),
#   ziglang + maturin (PyPI, in .venv-dist) as the linker for an old glibc (manylinux2014: glibc 2.17),
#   qemu-user-static + debootstrap + binfmt for the emulated tests (scripts/dist-test.sh),
#   and Yocto scarthgap's own Rust and maturin (rustup's 1.75.0, maturin 1.4.0 in .venv-scarthgap), with which
#   tests/product/test_scarthgap_build.py builds the wheel from Cargo.lock as the Yocto recipe does.
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
# scarthgap (Yocto 5.0) ships rustc/cargo 1.75.0 and maturin 1.4.0: the versions the recipe builds with
SCARTHGAP_RUST=1.75.0 SCARTHGAP_MATURIN=1.4.0
RUSTUP=$(command -v rustup || echo "$HOME/.cargo/bin/rustup")
if [ -x "$RUSTUP" ]; then
    "$RUSTUP" run "$SCARTHGAP_RUST" cargo --version >/dev/null 2>&1 || {
        say "installing Rust $SCARTHGAP_RUST (Yocto scarthgap's) with rustup, minimal profile"
        "$RUSTUP" toolchain install "$SCARTHGAP_RUST" --profile minimal --no-self-update >/dev/null 2>&1 ||
            say "warning: rustup could not install Rust $SCARTHGAP_RUST; test_scarthgap_build skips"
    }
else
    say "note: no rustup: Rust $SCARTHGAP_RUST not installed; test_scarthgap_build skips"
fi
if ! .venv-scarthgap/bin/maturin --version 2>/dev/null | grep -qx "maturin $SCARTHGAP_MATURIN"; then
    say "installing maturin $SCARTHGAP_MATURIN (Yocto scarthgap's) into .venv-scarthgap"
    python3 -m venv .venv-scarthgap
    .venv-scarthgap/bin/pip install -q "maturin==$SCARTHGAP_MATURIN"
fi
say "ready: $(/usr/bin/rustc --version), zig $(.venv-dist/bin/python -m ziglang version)"
