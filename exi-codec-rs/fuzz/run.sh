#!/bin/sh
# Bounded fuzz run of the EXI codec, for CI:  exi-codec-rs/fuzz/run.sh [SECONDS_PER_TARGET]
# Seeds come from ../shared/vectors at run time (never copied into the repository). Uses cargo-fuzz
# (libFuzzer, needs a nightly toolchain and `cargo install cargo-fuzz`) when available, otherwise the
# stable-Rust mutation harness exi-codec-rs/core/examples/fuzz_stable.rs. Exit status 1 on any crash.
set -eu
SECS="${1:-60}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SHARED="$ROOT/../shared/vectors"
SEEDS="$HERE/corpus/seeds.txt"
mkdir -p "$HERE/corpus"
: > "$SEEDS"
if [ -f "$SHARED/captured_exi.jsonl" ]; then
  python3 - "$SHARED" "$SEEDS" <<'PY'
import json, re, sys
shared, out = sys.argv[1], sys.argv[2]
fam = {"sap": "sap", "din": "din", "iso2": "iso2", "cm": "iso20-cm", "ac": "iso20-ac"}
ns = {"urn:iso:15118:2:2010:AppProtocol": "sap", "urn:din:70121:2012:MsgDef": "din",
      "urn:iso:15118:2:2013:MsgDef": "iso2", "urn:iso:std:iso:15118:-20:CommonMessages": "iso20-cm",
      "urn:iso:std:iso:15118:-20:AC": "iso20-ac", "urn:iso:std:iso:15118:-20:DC": "iso20-dc"}
with open(out, "w") as f:
    for line in open(f"{shared}/captured_exi.jsonl"):
        d = json.loads(line)
        f.write(f"{fam[d['family']]} {d['exi_hex']}\n")
    for sec in open(f"{shared}/public_vectors.md").read().split("\n### ")[1:]:
        s = re.search(r"- Schema: .*?`([^`]+)`", sec)
        h = re.search(r"- Hex: `([0-9a-f]+)`", sec)
        if s and h:
            f.write(f"{ns[s.group(1)]} {h.group(1)}\n")
PY
fi
if cargo +nightly fuzz --version >/dev/null 2>&1; then
  SCHEMAS="sap din iso2 iso20-cm iso20-ac iso20-dc iso20-wpt iso20-acdp"
  for target in decode roundtrip; do
    dir="$HERE/corpus/$target"
    mkdir -p "$dir"
    # libFuzzer inputs: first byte selects the schema (index in SCHEMAS order), the rest is the EXI stream
    python3 - "$SEEDS" "$dir" <<'PY'
import hashlib, sys
order = ["sap", "din", "iso2", "iso20-cm", "iso20-ac", "iso20-dc", "iso20-wpt", "iso20-acdp"]
for line in open(sys.argv[1]):
    schema, hexs = line.split()
    data = bytes([order.index(schema)]) + bytes.fromhex(hexs)
    open(f"{sys.argv[2]}/{hashlib.sha1(data).hexdigest()}", "wb").write(data)
PY
    (cd "$ROOT/exi-codec-rs/core" && cargo +nightly fuzz run --fuzz-dir "$HERE" "$target" "$dir" -- -max_total_time="$SECS" -max_len=4096)
  done
else
  echo "cargo-fuzz/nightly not available: using the stable mutation harness" >&2
  (cd "$ROOT" && cargo run --release -q -p exi-codec --example fuzz_stable -- "$SECS" "$SEEDS")
fi
