"""josev's EXI codec against EVerest's libcbv2g, interleaved in one run: ``python -m bench exi --vs-cbv2g``.

libcbv2g is built from ``../shared/peers/libcbv2g-54fed4d.tar.gz`` (``cc -O2``, no CMake: every ``.c`` of
``lib/cbv2g`` except the WPT/ACDP sets and ``exi_v2gtp.c``) together with our harness
``bench/cbv2g/harness.c`` into ``bench/out/cbv2g/libcbv2g_harness.so`` and called through ctypes. Each
harness call times a batch of decodes (into libcbv2g's fixed structs) or encodes (from them) in C; the Rust
core is timed the same way in Rust (``josev._exi.bench_decode``/``bench_encode``: the core alone, no Python
objects); the Python figure is the public API (``josev.exi.decode``/``encode``: bytes to dict and back) timed
with ``perf_counter_ns``. The six batches of one round run back to back and the rounds alternate, so all
three codecs see the same machine load; the figures are medians over the rounds of the per-call time.

Messages: those of issue 20's table (picked from ``../shared/vectors/captured_exi.jsonl``), then per message
type the median over every captured message of that type. ratio = josev time / libcbv2g time (below 1.0:
josev is faster). Messages libcbv2g cannot decode, or does not re-encode to the same bytes, are listed with
the reason and have no ratio. Options: ``--rounds N`` (default 41), ``--batch N`` (calls per batch,
default 100), ``--corpus-rounds N`` (default 7), ``--no-corpus``. After the table, the CPython floor of a few
small messages: a builtin call and the decoded dicts built from a Python literal, against libcbv2g's decode.
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
TARBALL = SHARED / "peers" / "libcbv2g-54fed4d.tar.gz"
CAPTURED = SHARED / "vectors" / "captured_exi.jsonl"
HARNESS = ROOT / "bench" / "cbv2g" / "harness.c"
OUT = ROOT / "bench" / "out" / "cbv2g"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from josev import _exi, exi  # noqa: E402

#: captured family -> josev schema, libcbv2g harness schema number.
FAMILY = {
    "sap": ("sap", 0),
    "din": ("din", 1),
    "iso2": ("iso2", 2),
    "cm": ("iso20-cm", 3),
    "ac": ("iso20-ac", 4),
}
FAMILY_LABEL = {"sap": "SAP", "din": "DIN", "iso2": "ISO-2", "cm": "-20", "ac": "-20"}
#: The messages of issue 20's table: (family, message, size in bytes or None for the first one).
TABLE = [
    ("din", "CurrentDemandReq", None),
    ("iso2", "CurrentDemandRes", None),
    ("iso2", "ChargingStatusRes", None),
    ("ac", "AC_ChargeLoopReq", None),
    ("iso2", "ChargeParameterDiscoveryRes", 197),
    ("cm", "ScheduleExchangeRes", 673),
]
OPS = ("c_dec", "c_enc", "r_dec", "r_enc", "p_dec", "p_enc")


def build() -> ctypes.CDLL:
    """Build libcbv2g + harness (once; again when the harness or the tarball changes)."""
    so = OUT / "libcbv2g_harness.so"
    newest = max(HARNESS.stat().st_mtime, TARBALL.stat().st_mtime)
    if not so.exists() or so.stat().st_mtime < newest:
        src = OUT / "src"
        OUT.mkdir(parents=True, exist_ok=True)
        with tarfile.open(TARBALL) as tar:
            tar.extractall(src, filter="data")
        top = next(p for p in src.iterdir() if (p / "lib" / "cbv2g").is_dir())
        cfiles = sorted(
            str(p)
            for p in (top / "lib" / "cbv2g").rglob("*.c")
            if "WPT" not in p.name and "ACDP" not in p.name and p.name != "exi_v2gtp.c"
        )
        cc = os.environ.get("CC", "cc")
        cmd = [cc, "-O2", "-shared", "-fPIC", f"-I{top / 'include'}", "-o", str(so), str(HARNESS), *cfiles]
        print(f"building libcbv2g ({len(cfiles)} files) + harness: {cc} -O2 ...", flush=True)
        subprocess.run(cmd, check=True)
    lib = ctypes.CDLL(str(so))
    for fn in (lib.h_time_decode, lib.h_time_encode):
        fn.restype = ctypes.c_int64
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.h_roundtrip.restype = ctypes.c_int
    lib.h_roundtrip.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    return lib


def load_corpus() -> list[dict[str, Any]]:
    return [json.loads(x) for x in CAPTURED.read_text().splitlines() if x.strip()]


def cbv2g_status(lib: ctypes.CDLL, num: int, data: bytes) -> str:
    """'' if libcbv2g decodes and re-encodes `data` byte for byte, else why not."""
    r = lib.h_roundtrip(num, data, len(data))
    if r == 1:
        return ""
    if r == 0:
        return "re-encodes to other bytes"
    return f"cannot decode/encode (error {r})"


def measure(
    lib: ctypes.CDLL, schema: str, num: int, data: bytes, rounds: int, batch: int
) -> dict[str, float]:
    """Median ns per call of each op over `rounds` interleaved rounds of `batch` calls each."""
    msg = exi.decode(schema, data)
    dec, enc = exi.decode, exi.encode
    clock = time.perf_counter_ns
    rng = range(batch)
    samples: dict[str, list[float]] = {k: [] for k in OPS}
    with_c = lib is not None and num >= 0
    for _ in range(rounds):
        if with_c:
            samples["c_dec"].append(lib.h_time_decode(num, data, len(data), batch) / batch)
            samples["c_enc"].append(lib.h_time_encode(num, data, len(data), batch) / batch)
        samples["r_dec"].append(_exi.bench_decode(schema, data, batch) / batch)
        samples["r_enc"].append(_exi.bench_encode(schema, data, batch) / batch)
        t = clock()
        for _ in rng:
            dec(schema, data)
        samples["p_dec"].append((clock() - t) / batch)
        t = clock()
        for _ in rng:
            enc(schema, msg)
        samples["p_enc"].append((clock() - t) / batch)
    return {k: statistics.median(v) if v else float("nan") for k, v in samples.items()}


def _us(x: float) -> str:
    return f"{x / 1000:6.2f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}" if b == b and b > 0 else "  n/a"


HEAD = (
    f"{'message':40} {'bytes':>5} | {'cbv2g dec':>9} {'enc':>6} | {'rust dec':>8} {'enc':>6} | "
    f"{'py dec':>6} {'enc':>6} (us) | {'rust/c dec':>10} {'enc':>5} | {'py/c dec':>8} {'enc':>5}"
)


def row(label: str, size: str, f: dict[str, float], note: str = "") -> str:
    return (
        f"{label:40} {size:>5} | {_us(f['c_dec']):>9} {_us(f['c_enc'])} | {_us(f['r_dec']):>8} {_us(f['r_enc'])} | "
        f"{_us(f['p_dec'])} {_us(f['p_enc'])}      | {_ratio(f['r_dec'], f['c_dec']):>10} "
        f"{_ratio(f['r_enc'], f['c_enc'])} | {_ratio(f['p_dec'], f['c_dec']):>8} {_ratio(f['p_enc'], f['c_enc'])}"
        + (f"  ({note})" if note else "")
    )


#: Small messages for the CPython floor: (family, message).
FLOOR = [("sap", "supportedAppProtocolRes"), ("iso2", "SessionStopReq"), ("din", "CurrentDemandReq")]


def floor(lib: ctypes.CDLL, corpus: list[dict[str, Any]], rounds: int, batch: int) -> None:
    """What CPython alone costs for a small message, against our decode and libcbv2g's, interleaved: a
    two-argument builtin call (``divmod``), and building and freeing the decoded dicts from a Python literal
    (``BUILD_MAP`` bytecode, constant strings: a lower bound of any decoder that returns these dicts)."""
    print()
    print("CPython floor (ns per call): builtin call, the decoded dicts built from a literal, and decode")
    print(f"{'message':40} {'cbv2g dec':>9} {'divmod':>7} {'literal':>8} {'py dec':>7} {'literal/c':>9}")
    clock = time.perf_counter_ns
    rng = range(batch)
    for fam, name in FLOOR:
        d = next((d for d in corpus if d["family"] == fam and d["message"] == name), None)
        if d is None:
            continue
        schema, num = FAMILY[fam]
        data = bytes.fromhex(d["exi_hex"])
        literal = eval("lambda: " + repr(exi.decode(schema, data)))  # our own repr of plain dicts
        samples: dict[str, list[float]] = {k: [] for k in ("c", "call", "lit", "dec")}
        for _ in range(rounds):
            samples["c"].append(lib.h_time_decode(num, data, len(data), batch) / batch)
            t = clock()
            for _ in rng:
                divmod(7, 3)
            samples["call"].append((clock() - t) / batch)
            t = clock()
            for _ in rng:
                literal()
            samples["lit"].append((clock() - t) / batch)
            t = clock()
            for _ in rng:
                exi.decode(schema, data)
            samples["dec"].append((clock() - t) / batch)
        m = {k: statistics.median(v) for k, v in samples.items()}
        print(
            f"{FAMILY_LABEL[fam] + ' ' + name:40} {m['c']:9.0f} {m['call']:7.0f} {m['lit']:8.0f} {m['dec']:7.0f} "
            f"{m['lit'] / m['c']:9.2f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)

    def opt(name: str, default: int) -> int:
        return int(args[args.index(name) + 1]) if name in args else default

    rounds, batch, crounds = opt("--rounds", 41), opt("--batch", 100), opt("--corpus-rounds", 7)
    if not TARBALL.exists() or not CAPTURED.exists():
        print(f"skipped: {TARBALL} or {CAPTURED} absent (../shared is needed for the libcbv2g comparison)")
        return
    lib = build()
    corpus = load_corpus()
    print(
        f"josev exi {exi.version()} vs libcbv2g 54fed4d (cc -O2); {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}; medians of {rounds} interleaved rounds x {batch} calls"
    )
    print("ratio = josev / libcbv2g (< 1.0: josev faster)")
    print(HEAD)
    print("-" * len(HEAD))
    worst: dict[str, float] = defaultdict(float)
    for fam, name, size in TABLE:
        d = next(
            (
                d
                for d in corpus
                if d["family"] == fam and d["message"] == name and size in (None, len(d["exi_hex"]) // 2)
            ),
            None,
        )
        if d is None:
            print(f"{FAMILY_LABEL[fam]} {name}: not in the corpus")
            continue
        schema, num = FAMILY[fam]
        data = bytes.fromhex(d["exi_hex"])
        note = cbv2g_status(lib, num, data)
        f = measure(lib, schema, -1 if note else num, data, rounds, batch)
        print(row(f"{FAMILY_LABEL[fam]} {name}", str(len(data)), f, note), flush=True)
        if not note:
            for k, c in (("rust dec", "dec"), ("rust enc", "enc"), ("py dec", "dec"), ("py enc", "enc")):
                worst["table " + k] = max(worst["table " + k], f[k[0] + "_" + k.split()[1]] / f["c_" + c])
    floor(lib, corpus, rounds, batch)
    if "--no-corpus" in args:
        return
    print()
    print(
        f"whole corpus ({len(corpus)} captured messages): per message type, median over its messages of the"
    )
    print(f"per-message medians ({crounds} rounds x {batch} calls); n = messages, bytes = median size")
    print(HEAD)
    print("-" * len(HEAD))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for d in corpus:
        groups[(d["family"], d["message"])].append(d)
    for (fam, name), items in sorted(groups.items()):
        schema, num = FAMILY[fam]
        per: list[dict[str, float]] = []
        failed: list[str] = []
        for d in items:
            data = bytes.fromhex(d["exi_hex"])
            note = cbv2g_status(lib, num, data)
            if note:
                failed.append(note)
            per.append(measure(lib, schema, -1 if note else num, data, crounds, batch))
        f = {
            k: statistics.median(x for p in per if (x := p[k]) == x)
            if any(p[k] == p[k] for p in per)
            else float("nan")
            for k in OPS
        }
        msize = statistics.median(len(d["exi_hex"]) // 2 for d in items)
        note = f"libcbv2g fails on {len(failed)}/{len(items)}: {failed[0]}" if failed else ""
        print(row(f"{FAMILY_LABEL[fam]} {name} (n={len(items)})", f"{msize:.0f}", f, note), flush=True)
        if f["c_dec"] == f["c_dec"]:
            for k in ("r_dec", "r_enc", "p_dec", "p_enc"):
                worst["corpus " + k] = max(worst["corpus " + k], f[k] / f["c_" + k[2:]])
    print()
    print("largest ratio (josev / libcbv2g): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(worst.items())))


if __name__ == "__main__":
    main()
