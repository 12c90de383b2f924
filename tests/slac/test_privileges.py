"""The service's privilege drop: sockets opened before keep working, new raw sockets are refused."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from josev.slac.frame import encode_frame
from josev.slac.messages import CmSlacParmReq
from josev.slac.rawsocket import RawSocket
from tests.conftest import ROOT
from tests.util.netns import NetnsLab, needs_root

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, socket, sys
    from josev.slac.rawsocket import RawSocket
    from josev.slac.privileges import drop_privileges
    sock = RawSocket(sys.argv[1])
    what = drop_privileges(sys.argv[2] if len(sys.argv) > 2 else None)
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88E1))
        print("STILL-PRIVILEGED", flush=True)
    except PermissionError:
        print("DROPPED", os.getuid(), what, flush=True)
    async def main():
        sock.attach()
        frame = await asyncio.wait_for(sock.recv(), 10)
        print("RECEIVED", frame[15:17].hex(), flush=True)
    asyncio.run(main())
    """
)


@needs_root
@pytest.mark.parametrize("user", ["nobody", None], ids=["setuid", "capabilities"])
def test_drop_privileges_after_opening_the_socket(netns_lab: NetnsLab, user: str | None) -> None:
    ns = netns_lab.netns("priv")
    pair = netns_lab.veth(None, ns, ipv6=False)
    args = [sys.executable, "-c", SCRIPT, pair.b] + ([user] if user else [])
    proc = ns.popen(args, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[0] == "DROPPED", line
        if user:
            assert int(line[1]) != 0
        sender = RawSocket(pair.a)
        try:
            sender.send(encode_frame(b"\xff" * 6, sender.mac, CmSlacParmReq(bytes(8))))
        finally:
            sender.close()
        assert proc.stdout.readline().split() == ["RECEIVED", "6460"]
    finally:
        proc.kill()
        proc.wait(5)
