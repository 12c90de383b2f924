#!/usr/bin/env bash
# Bounded fuzzing for CI: the EXI codec (cargo-fuzz/libFuzzer when a nightly toolchain and cargo-fuzz are
# installed, else the stable-Rust mutation harness), seeded from ../shared when present.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
exi-codec-rs/fuzz/run.sh "${FUZZ_SECONDS:-30}"
