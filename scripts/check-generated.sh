#!/usr/bin/env bash
# Generated code must match its committed generator: regenerate in memory and compare.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python exi-codec-rs/generator/gen.py --check
