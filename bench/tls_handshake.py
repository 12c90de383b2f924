"""TLS handshake time on loopback with josev's SECC/EVCC contexts: p50/p99 per profile.

Run from the repository root: ``.venv/bin/python -m bench.tls_handshake [-n 200]``. Measures, on the
client, TCP connect + full TLS handshake (no session resumption) against a server thread doing the
matching ``accept`` + handshake, with certificates made by ``josev.pki`` in a temporary folder.
Prints one line per case.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from josev.pki import build_pki, write_pki
from josev.pki.profiles import ISO2, ISO20_ED448, ISO20_P521
from josev.tls import evcc_context, secc_context
from josev.tls.contexts import Mode


def _server(ctx: ssl.SSLContext, lsock: socket.socket, n: int, errors: list[str]) -> None:
    for _ in range(n):
        conn, _ = lsock.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError) as exc:
            errors.append(str(exc))


def measure(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, n: int) -> tuple[list[float], str]:
    """Handshake durations in ms, and the negotiated version/cipher."""
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    errors: list[str] = []
    t = threading.Thread(target=_server, args=(server_ctx, lsock, n, errors), daemon=True)
    t.start()
    times, what = [], ""
    for _ in range(n):
        t0 = time.perf_counter()
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        tls = client_ctx.wrap_socket(raw, server_hostname=None)
        times.append((time.perf_counter() - t0) * 1000.0)
        what = f"{tls.version()} {tls.cipher()[0]}"  # type: ignore[index]
        tls.sendall(b"x")
        tls.close()
    t.join(10)
    lsock.close()
    if errors:
        raise RuntimeError(f"server errors: {errors[:3]}")
    return times, what


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100.0 * (len(s) - 1)))]


def main(argv: list[str] | None = None) -> None:
    """Run every case and print p50/p99 (``python -m bench`` calls it without arguments)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=200, help="handshakes per case")
    args = ap.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        d2 = write_pki(build_pki(ISO2), out)
        d521 = write_pki(build_pki(ISO20_P521), out)
        d448 = write_pki(build_pki(ISO20_ED448), out)

        def case(
            d: Path, mode: Mode, mutual: bool, strict: bool = True
        ) -> Callable[[], tuple[list[float], str]]:
            def run() -> tuple[list[float], str]:
                s = secc_context(
                    mode,
                    d / "chains" / "secc.pem",
                    d / "keys" / "secc_leaf.key",
                    oem_roots=d / "certs" / "oem_root.pem" if mutual else None,
                    strict=strict,
                )
                c = evcc_context(
                    mode,
                    d / "certs" / "v2g_root.pem",
                    strict=strict,
                    client_chain=d / "chains" / "oem.pem" if mutual else None,
                    client_key=d / "keys" / "oem_prov_leaf.key" if mutual else None,
                )
                return measure(s, c, args.n)

            return run

        cases = {
            "ISO 15118-2  TLS 1.2 secp256r1": case(d2, "iso2", False),
            "ISO 15118-20 TLS 1.3 secp521r1 server-auth": case(d521, "iso20", False),
            "ISO 15118-20 TLS 1.3 secp521r1 mutual": case(d521, "iso20", True),
            "ISO 15118-20 TLS 1.3 Ed448 certs mutual": case(d448, "iso20", True),
        }
        print(f"TLS handshake on loopback, {args.n} handshakes per case (connect + handshake, client side)")
        for name, run in cases.items():
            times, what = run()
            print(
                f"{name:44} p50 {_pct(times, 50):6.2f} ms  p99 {_pct(times, 99):6.2f} ms  "
                f"mean {statistics.fmean(times):6.2f} ms  [{what}]"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
