"""EXI codec benchmark: Rust core, through Python, and the EXIficient path of PyPI ``iso15118``, side by side.

``python -m bench exi`` (or ``python bench/exi_bench.py``); ``python -m bench exi --vs-cbv2g`` instead
compares with EVerest's libcbv2g (``bench/exi/cbv2g.py``). Messages: DIN CurrentDemandReq/Res, ISO-2
ChargeParameterDiscoveryRes, -20 DC_ChargeLoopReq/Res (from ../shared/vectors/public_vectors.md) and a
-20 CertificateInstallationRes with realistic certificate sizes (built here). Prints per-message figures,
the stripped native module size and the largest in-memory document tree. Figures are best-of-N timings on
a shared machine: they are printed, never asserted.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from josev import exi  # noqa: E402

PUBLIC = ROOT.parent / "shared" / "vectors" / "public_vectors.md"
PEERS_PY = ROOT / ".venv-peers" / "bin" / "python"
PICKS = [
    ("DIN-5", "din CurrentDemandReq"),
    ("DIN-6", "din CurrentDemandRes"),
    ("ISO2-5", "iso2 ChargeParameterDiscoveryRes"),
    ("I20-9", "-20 DC_ChargeLoopReq"),
    ("I20-10", "-20 DC_ChargeLoopRes"),
]
NS_SCHEMA = {ns: name for name, ns in exi.NAMESPACES.items()}


def _b64(n: int, fill: int) -> str:
    return base64.b64encode(bytes((fill + i) % 256 for i in range(n))).decode()


def certificate_installation_res() -> dict[str, Any]:
    """A -20 CertificateInstallationRes with DER-sized certificates (contract chain + CPS chain)."""
    return {
        "CertificateInstallationRes": {
            "Header": {
                "SessionID": "242633A465952FF6",
                "TimeStamp": 1761478592669000,
                "Signature": {
                    "SignedInfo": {
                        "CanonicalizationMethod": {"Algorithm": "http://www.w3.org/TR/canonical-exi/"},
                        "SignatureMethod": {
                            "Algorithm": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
                        },
                        "Reference": [
                            {
                                "URI": "#id1",
                                "Transforms": {
                                    "Transform": [{"Algorithm": "http://www.w3.org/TR/canonical-exi/"}]
                                },
                                "DigestMethod": {"Algorithm": "http://www.w3.org/2001/04/xmlenc#sha512"},
                                "DigestValue": _b64(64, 1),
                            }
                        ],
                    },
                    "SignatureValue": {"value": _b64(132, 2)},
                },
            },
            "ResponseCode": "OK",
            "EVSEProcessing": "Finished",
            "CPSCertificateChain": {
                "Certificate": _b64(780, 3),
                "SubCertificates": {"Certificate": [_b64(720, 4), _b64(700, 5)]},
            },
            "SignedInstallationData": {
                "Id": "id1",
                "ContractCertificateChain": {
                    "Certificate": _b64(800, 6),
                    "SubCertificates": {"Certificate": [_b64(720, 7), _b64(700, 8)]},
                },
                "ECDHCurve": "SECP521",
                "DHPublicKey": _b64(133, 9),
                "SECP521_EncryptedPrivateKey": _b64(94, 10),
            },
            "RemainingContractCertificateChains": 0,
        }
    }


def messages() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if PUBLIC.exists():
        text = PUBLIC.read_text()
        for vid, label in PICKS:
            sec = text.split(f"\n### {vid}:", 1)[1].split("\n### ", 1)[0]
            ns = re.search(r"- Schema: .*?`([^`]+)`", sec).group(1)  # type: ignore[union-attr]
            hexs = re.search(r"- Hex: `([0-9a-f]+)`", sec).group(1)  # type: ignore[union-attr]
            schema = NS_SCHEMA[ns]
            out.append({"label": label, "schema": schema, "namespace": ns, "hex": hexs})
    else:
        print("(../shared absent: the vector messages are skipped)")
    cir = certificate_installation_res()
    data = exi.encode("iso20-cm", cir)
    out.append(
        {
            "label": "-20 CertificateInstallationRes",
            "schema": "iso20-cm",
            "namespace": exi.NAMESPACES["iso20-cm"],
            "hex": data.hex(),
        }
    )
    for m in out:
        m["json"] = exi.decode(m["schema"], bytes.fromhex(m["hex"]))
    return out


def rust_figures(msgs: list[dict[str, Any]], tmp: Path) -> dict[str, dict[str, float]]:
    path = tmp / "messages.txt"
    path.write_text("".join(f"m{i} {m['schema']} {m['hex']}\n" for i, m in enumerate(msgs)))
    if shutil.which("cargo") is None:
        return {}
    res = subprocess.run(
        [
            "cargo",
            "run",
            "--release",
            "-q",
            "-p",
            "exi-codec",
            "--example",
            "bench",
            "--",
            str(path),
            "300000",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if res.returncode != 0:
        print(res.stderr)
        return {}
    out = {}
    for line in res.stdout.splitlines()[1:]:
        label, _bytes, dec, enc, tree = line.split()
        out[msgs[int(label[1:])]["label"]] = {
            "decode_ns": float(dec),
            "encode_ns": float(enc),
            "tree": float(tree),
        }
    return out


def largest_captured_tree(tmp: Path) -> tuple[int, str] | None:
    """Largest in-memory tree over all captured messages (../shared), via the Rust bench in sizes mode."""
    captured = ROOT.parent / "shared" / "vectors" / "captured_exi.jsonl"
    if not captured.exists() or shutil.which("cargo") is None:
        return None
    fam = {"sap": "sap", "din": "din", "iso2": "iso2", "cm": "iso20-cm", "ac": "iso20-ac"}
    lines = [json.loads(x) for x in captured.read_text().splitlines() if x.strip()]
    path = tmp / "captured.txt"
    path.write_text("".join(f"c{i} {fam[d['family']]} {d['exi_hex']}\n" for i, d in enumerate(lines)))
    res = subprocess.run(
        ["cargo", "run", "--release", "-q", "-p", "exi-codec", "--example", "bench", "--", str(path), "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if res.returncode != 0:
        return None
    best = max((int(r.split()[4]), int(r.split()[0][1:])) for r in res.stdout.splitlines()[1:])
    return best[0], f"{lines[best[1]]['family']} {lines[best[1]]['message']}"


def python_figures(m: dict[str, Any]) -> tuple[float, float]:
    data = bytes.fromhex(m["hex"])
    msg = m["json"]
    schema = m["schema"]
    n = 2000 if len(data) > 500 else 20000
    dec = min(timeit.repeat(lambda: exi.decode(schema, data), number=n, repeat=5)) / n
    enc = min(timeit.repeat(lambda: exi.encode(schema, msg), number=n, repeat=5)) / n
    return dec * 1e6, enc * 1e6


def exificient_figures(msgs: list[dict[str, Any]], tmp: Path) -> dict[str, dict[str, float]]:
    if not PEERS_PY.exists() or shutil.which("java") is None:
        print("(.venv-peers with iso15118 or java missing: EXIficient column skipped)")
        return {}
    path = tmp / "messages.json"
    path.write_text(json.dumps([{k: m[k] for k in ("label", "namespace", "hex", "json")} for m in msgs]))
    res = subprocess.run(
        [str(PEERS_PY), str(ROOT / "bench" / "exi" / "exificient_timer.py"), str(path), "60"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if res.returncode != 0:
        print(res.stderr[-2000:])
        return {}
    figures: dict[str, dict[str, float]] = json.loads(res.stdout.strip().splitlines()[-1])
    return figures


def stripped_size() -> int | None:
    so = next(iter((ROOT / "josev").glob("_exi*.so")), None)
    if so is None or shutil.which("strip") is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "x.so"
        subprocess.run(["strip", "-o", str(out), str(so)], check=True)
        return out.stat().st_size


def main() -> None:
    if "--vs-cbv2g" in sys.argv:
        from bench.exi import cbv2g

        cbv2g.main([a for a in sys.argv[1:] if a != "--vs-cbv2g"])
        return
    msgs = messages()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rust = rust_figures(msgs, tmp)
        java = exificient_figures(msgs, tmp)
        captured = largest_captured_tree(tmp)
    print(f"exi codec {exi.version()}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    head = (
        f"{'message':34} {'bytes':>5} | {'rust dec':>8} {'rust enc':>8} (ns) | {'py dec':>6} {'py enc':>6} (us)"
        f" | {'exif dec':>8} {'exif enc':>8} (us) | {'x faster':>8}"
    )
    print(head)
    print("-" * len(head))
    largest = 0.0
    for m in msgs:
        r = rust.get(m["label"], {})
        pd, pe = python_figures(m)
        j = java.get(m["label"], {})
        rd, re_ = r.get("decode_ns", float("nan")), r.get("encode_ns", float("nan"))
        jd, je = j.get("decode_us", float("nan")), j.get("encode_us", float("nan"))
        factor = min(jd * 1000 / rd, je * 1000 / re_) if r and j else float("nan")
        largest = max(largest, r.get("tree", 0.0))
        print(
            f"{m['label']:34} {len(m['hex']) // 2:5} | {rd:8.0f} {re_:8.0f}      | {pd:6.2f} {pe:6.2f}      "
            f"| {jd:8.0f} {je:8.0f}      | {factor:8.0f}"
        )
    size = stripped_size()
    print(f"native module stripped size: {size / 1e6:.2f} MB" if size else "native module: not found")
    print(f"largest in-memory document tree (of these messages): {largest:.0f} bytes")
    if captured:
        print(
            f"largest in-memory document tree of the 786 captured messages: {captured[0]} bytes ({captured[1]})"
        )


if __name__ == "__main__":
    main()
