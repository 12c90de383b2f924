"""The open-source Josev EV's own TLS context (PyPI iso15118, run from .venv-peers) against our SECC context,
with a PKI written by josev.pki in that project's PKI_PATH layout."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from josev.pki import create
from josev.tls import TlsInfo, TlsStats, accept_tls, policy_for, secc_context

ROOT = Path(__file__).resolve().parents[2]
PEER_PY = ROOT / ".venv-peers" / "bin" / "python"
PEER_SCRIPT = ROOT / "tests" / "pki" / "josev_peer.py"

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not PEER_PY.exists(), reason=".venv-peers with PyPI iso15118 not installed"),
]


async def _run(tmp_path: Path, tls13: bool) -> tuple[dict[str, Any], TlsStats, list[TlsInfo | None]]:
    dirs = create(tmp_path, ["iso2"], josev_layout=True)
    d = dirs["iso2"]
    ctx = secc_context(
        "both",
        d / "chains" / "secc.pem",
        d / "keys" / "secc_leaf.key",
        oem_roots=d / "certs" / "oem_root.pem",
    )
    stats, infos = TlsStats(), []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = await accept_tls(reader, writer, ctx, policy_for("both"), handshake_timeout=5.0, stats=stats)
        infos.append(info)
        if info:
            writer.write(await asyncio.wait_for(reader.read(10), 5.0))
            await writer.drain()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = dict(os.environ, ENABLE_TLS_1_3="true" if tls13 else "false")
    try:
        proc = await asyncio.create_subprocess_exec(
            str(PEER_PY),
            str(PEER_SCRIPT),
            f"{dirs['josev']}/",
            "127.0.0.1",
            str(port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        server.close()
        await server.wait_closed()
    assert proc.returncode == 0, err.decode()[-2000:]
    return json.loads(out.decode().strip().splitlines()[-1]), stats, infos


async def test_josev_ev_tls12_against_our_secc(tmp_path: Path) -> None:
    res, stats, _ = await _run(tmp_path, tls13=False)
    assert res["version"] == "TLSv1.2" and res["cipher"] == "ECDHE-ECDSA-AES128-SHA256"
    assert res["echo"] == "ping" and stats.accepted == 1


async def test_josev_ev_tls13_mutual_against_our_secc(tmp_path: Path) -> None:
    res, stats, infos = await _run(tmp_path, tls13=True)
    assert res["version"] == "TLSv1.3" and res["cipher"] == "TLS_AES_256_GCM_SHA384"
    assert res["echo"] == "ping" and stats.accepted == 1
    info = infos[0]
    assert info is not None and info.mutual and "DC=OEM" in info.peer_subject
