"""Plug & Charge in the SECC: ``python -m bench pnc``.

1. The core's cost: PaymentDetailsReq (contract chain checked against the roots) and the signed AuthorizationReq
   (challenge and XML signature over the EXI fragment), with the EXI codec, per protocol and key type.
2. Through the real bus (:mod:`bench._pnc_bus`): PaymentDetailsReq to AuthorizationRes ``Finished`` with a CSMS that
   answers at once (real mosquitto, the real OCPP service, the CSMS stand-in on a real WebSocket), the
   certificate installation round trip, and the OCSP fetch."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

from cryptography.hazmat.primitives import serialization

from josev import exi
from josev.pki import PROFILES, build_pki
from josev.pnc import contract, xmlsig

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
N = 300


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _line(name: str, xs: list[float]) -> None:
    us = [x * 1e6 for x in xs]
    print(f"  {name:<48} p50 {statistics.median(us):8.1f} µs   p99 {_pct(us, 0.99):8.1f} µs")


def run(profile: str, suite: xmlsig.Suite, protocol: str) -> None:
    pki = build_pki(PROFILES[profile], now=NOW)
    der = serialization.Encoding.DER
    leaf_der = pki.cert("contract_leaf").public_bytes(der)
    subs_der = [pki.cert(n).public_bytes(der) for n in ("mo_sub_ca2", "mo_sub_ca1")]
    roots = (pki.cert("mo_root"), pki.cert("v2g_root"))
    key: Any = pki.key("contract_leaf")
    schema, name = (
        ("iso2", "AuthorizationReq") if protocol == "iso2" else ("iso20-cm", "PnC_AReqAuthorizationMode")
    )
    body: dict[str, Any] = {"Id": "ID1", "GenChallenge": "AAECAwQFBgcICQoLDA0ODw=="}
    if protocol == "iso20":
        import base64

        body["ContractCertificateChain"] = {
            "Certificate": base64.b64encode(leaf_der).decode(),
            "SubCertificates": {"Certificate": [base64.b64encode(d).decode() for d in subs_der]},
        }
    signature = xmlsig.sign(suite, key, [("ID1", xmlsig.fragment(schema, name, body))])
    chain_t, sig_t = [], []
    for _ in range(N):
        t0 = time.perf_counter()
        leaf = contract.load_der(leaf_der, "leaf")
        subs = [contract.load_der(d, "sub") for d in subs_der]
        checked = contract.validate(leaf, subs, roots, NOW, protocol=protocol)
        checked.hash_data()
        t1 = time.perf_counter()
        xmlsig.verify(signature, [("ID1", xmlsig.fragment(schema, name, body))], checked.public_key, [suite])
        t2 = time.perf_counter()
        chain_t.append(t1 - t0)
        sig_t.append(t2 - t1)
    print(f"{profile} ({suite.name}):")
    _line("contract chain check + OCSP hash data (PaymentDetails)", chain_t)
    _line("challenge signature check incl. EXI fragments (Authorization)", sig_t)


def main() -> None:
    print(f"Plug & Charge core costs, {N} runs each (exi-codec {exi.version()})")
    run("iso2", xmlsig.ISO2, "iso2")
    run("iso20-p521", xmlsig.ISO20_P521, "iso20")
    run("iso20-ed448", xmlsig.ISO20_ED448, "iso20")
    from bench import _pnc_bus

    _pnc_bus.main()


if __name__ == "__main__":
    main()
