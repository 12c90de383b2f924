#!/usr/bin/env bash
# Bounded fuzzing for CI: the EXI codec (cargo-fuzz/libFuzzer when a nightly toolchain and cargo-fuzz are
# installed, else the stable-Rust mutation harness), seeded from ../shared when present.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
exi-codec-rs/fuzz/run.sh "${FUZZ_SECONDS:-30}"
# The live services over real sockets: mutated V2GTP/EXI at the SECC (TCP), SDP datagrams, SLAC frames
# (AF_PACKET), deterministic seed, FUZZ_SECONDS per target; then a real EV must still charge / match.
# Needs root for the network namespaces (the test skips itself otherwise). About 25 s.
FUZZ_SECONDS="${LIVE_FUZZ_SECONDS:-8}" FUZZ_SEED="${FUZZ_SEED:-22}" \
  "${PYTHON:-.venv/bin/python}" -m pytest tests/hostile/test_live_fuzz.py -q -p no:cacheprovider
