"""ISO 15118-20 SECC response time for the ChargeLoop (AC/DC, BPT, scheduled/dynamic), p50/p99.

Three figures per case: the byte path in-process (V2GTP deframe, EXI decode, -20 core, EXI encode, frame:
request bytes in -> response bytes out); the EV-side round trip over a real TLS 1.3 loopback connection
(mutual authentication, TLS_AES_256_GCM_SHA384) to the -20 SECC shell -- request written -> response read; and
the same round trip with a bus round trip per ChargeLoop inside the SECC: the EV's target / power request is
published on a real mosquitto (``secc/ev_target`` or ``secc/ev_power``) and the SECC waits for a command reply
from a stand-in coordinator before it answers (the worst case: a response that waits for the power module).
Target: p99 < 5 ms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path

from josev.ev.iso20.evcc import Ev20Connection, Evcc20, Iso20Behaviour
from josev.secc.evse import EvseView
from josev.secc.iso20.context import BptLimits, Iso20Evse
from josev.secc.iso20.events import Iso20Event, shared_events
from josev.secc.server import EvseEndpoint
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply
from josev.v2g.codec import ExiCodec, exi_available

LOOPS = 2000
CASES = [("iso20-ac", False), ("iso20-dc", True), ("iso20-ac-bpt", True), ("iso20-dc-bpt", False)]


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def _fmt(label: str, ms: list[float]) -> str:
    return f"{label:<48} n={len(ms):5d}  p50={_pct(ms, 0.5):6.3f} ms  p99={_pct(ms, 0.99):6.3f} ms"


def _station() -> Iso20Evse:
    return Iso20Evse(
        EvseView(energy_modes=("AC_three_phase_core", "DC_extended"), authorized=True), bpt=BptLimits()
    )


def byte_path(protocol: str, dynamic: bool) -> list[float]:
    """Request bytes in -> response bytes out, in process."""
    codec, st, supply = ExiCodec(), _station(), SimPowerSupply()
    conn = SeccSession(st, 0.0, codec=codec)
    ev = Ev20Connection(
        Evcc20(protocol, behaviour=Iso20Behaviour(dynamic=dynamic, loops=LOOPS, seconds_per_loop=0.01)), codec
    )
    data, out_ms, now = [ev.start()], [], 0.0
    while data:
        looping = conn.state == "ChargeLoop"
        t0 = time.perf_counter()
        out = conn.receive(b"".join(data), now)
        dt_ms = (time.perf_counter() - t0) * 1000
        if looping and conn.state == "ChargeLoop":
            out_ms.append(dt_ms)
        supply.apply(st.view, shared_events(out.events))
        data = ev.receive(b"".join(out.send), now) if out.send else []
        now += 0.001
    return out_ms


async def over_tls(protocol: str, dynamic: bool, pki: Path) -> list[float]:
    """EV-side round trip of each ChargeLoop request over TLS 1.3 on loopback."""
    from josev.tls import connect_tls, evcc_context, policy_for, secc_context

    sctx = secc_context(
        "iso20",
        pki / "chains" / "secc.pem",
        pki / "keys" / "secc_leaf.key",
        oem_roots=pki / "certs" / "oem_root.pem",
    )
    cctx = evcc_context(
        "iso20",
        pki / "certs" / "v2g_root.pem",
        client_chain=pki / "chains" / "oem.pem",
        client_key=pki / "keys" / "oem_prov_leaf.key",
    )
    st, codec, supply = _station(), ExiCodec(), SimPowerSupply()
    loop = asyncio.get_running_loop()

    def on_events(_evse: int, events: list[Iso20Event]) -> None:
        supply.apply(st.view, shared_events(events))

    served = asyncio.Event()
    ep = EvseEndpoint(1, "lo", st.view, codec, tls=sctx, tls_mode="iso20", iso20=st, on_events=on_events)

    async def client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await ep.serve_stream(r, w, tls=True)
        finally:
            served.set()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer, _info = await connect_tls("127.0.0.1", port, cctx, policy_for("iso20"))
    evcc = Evcc20(protocol, behaviour=Iso20Behaviour(dynamic=dynamic, loops=LOOPS, seconds_per_loop=0.01))
    ev = Ev20Connection(evcc, codec)
    out_ms: list[float] = []
    pending = [ev.start()]
    try:
        while pending and not evcc.done:
            is_loop = evcc.result.messages[-1:] in (["AC_ChargeLoopReq"], ["DC_ChargeLoopReq"])
            t0 = time.perf_counter()
            writer.write(b"".join(pending))
            await writer.drain()
            data = await asyncio.wait_for(reader.read(65536), 5.0)
            if is_loop:
                out_ms.append((time.perf_counter() - t0) * 1000)
            pending = ev.receive(data, loop.time())
    finally:
        writer.close()
        await asyncio.wait_for(served.wait(), 5.0)
        server.close()
        await server.wait_closed()
    return out_ms


async def over_tls_bus(protocol: str, dynamic: bool, pki: Path) -> list[float]:
    """Like :func:`over_tls`, with a publish + command round trip on a real mosquitto per ChargeLoop."""
    from josev.api import coordinator as coord
    from josev.api import secc as api
    from josev.api.base import Ack
    from josev.broker import PrivateBroker
    from josev.bus import Bus
    from josev.secc.events import EvTargets
    from josev.secc.iso20.events import EvPowerRequest
    from josev.tls import accept_tls, connect_tls, evcc_context, policy_for, secc_context

    sctx = secc_context(
        "iso20",
        pki / "chains" / "secc.pem",
        pki / "keys" / "secc_leaf.key",
        oem_roots=pki / "certs" / "oem_root.pem",
    )
    cctx = evcc_context(
        "iso20",
        pki / "certs" / "v2g_root.pem",
        client_chain=pki / "chains" / "oem.pem",
        client_key=pki / "keys" / "oem_prov_leaf.key",
    )
    broker = PrivateBroker(unix_socket=True)
    broker.start()
    secc_bus = Bus("secc", broker.settings("secc", socket=broker.files.socket))
    coord_bus = Bus("coordinator", broker.settings("coordinator", socket=broker.files.socket))
    await secc_bus.connect()
    await coord_bus.connect()

    async def power(cmd: coord.HlcPowerDelivery, evse: int | None) -> Ack:
        return Ack()

    coord_bus.serve(coord.HlcPowerDelivery, power)
    await asyncio.sleep(0.2)
    st, codec, supply = _station(), ExiCodec(), SimPowerSupply()
    loop = asyncio.get_running_loop()
    served = asyncio.Event()

    async def client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            if await accept_tls(r, w, sctx, policy_for("iso20")) is None:
                return
            conn = SeccSession(st, loop.time(), codec=codec)
            while not conn.closed:
                data = await r.read(65536)
                if not data:
                    break
                out = conn.receive(data, loop.time())
                for e in out.events:
                    if isinstance(e, EvTargets):
                        await secc_bus.publish(
                            api.EvTarget(phase="charge", voltage_v=e.voltage, current_a=e.current), 1
                        )
                    elif isinstance(e, EvPowerRequest):
                        await secc_bus.publish(api.EvPower(present_power_w=e.present_power), 1)
                    else:
                        continue
                    await secc_bus.request(coord.HlcPowerDelivery(on=True), 1)  # the round trip
                supply.apply(st.view, shared_events(out.events))
                for f in out.send:
                    w.write(f)
                await w.drain()
                if out.close:
                    break
        finally:
            w.close()
            served.set()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    out_ms: list[float] = []
    try:
        reader, writer, _info = await connect_tls("127.0.0.1", port, cctx, policy_for("iso20"))
        evcc = Evcc20(
            protocol, behaviour=Iso20Behaviour(dynamic=dynamic, loops=LOOPS // 2, seconds_per_loop=0.01)
        )
        ev = Ev20Connection(evcc, codec)
        pending = [ev.start()]
        try:
            while pending and not evcc.done:
                is_loop = evcc.result.messages[-1:] in (["AC_ChargeLoopReq"], ["DC_ChargeLoopReq"])
                t0 = time.perf_counter()
                writer.write(b"".join(pending))
                await writer.drain()
                data = await asyncio.wait_for(reader.read(65536), 5.0)
                if is_loop:
                    out_ms.append((time.perf_counter() - t0) * 1000)
                pending = ev.receive(data, loop.time())
        finally:
            writer.close()
            await asyncio.wait_for(served.wait(), 5.0)
            server.close()
            await server.wait_closed()
    finally:
        await secc_bus.close()
        await coord_bus.close()
        broker.stop()
    return out_ms


def main() -> None:
    reason = exi_available()
    if reason is not None:
        print(f"skipped: {reason}")
        return
    print(f"{LOOPS} ChargeLoop requests per figure")
    for protocol, dynamic in CASES:
        label = f"{protocol} {'dynamic' if dynamic else 'scheduled'}"
        print(_fmt(f"{label}: bytes in -> bytes out (EXI)", byte_path(protocol, dynamic)), flush=True)
    from josev.pki import build_pki, write_pki
    from josev.pki.profiles import ISO20_P521

    with tempfile.TemporaryDirectory() as tmp:
        pki = write_pki(build_pki(ISO20_P521, now=dt.datetime.now(dt.UTC)), Path(tmp))
        for protocol, dynamic in CASES:
            label = f"{protocol} {'dynamic' if dynamic else 'scheduled'}"
            print(
                _fmt(f"{label}: round trip over TLS 1.3", asyncio.run(over_tls(protocol, dynamic, pki))),
                flush=True,
            )
        for protocol, dynamic in CASES:
            label = f"{protocol} {'dynamic' if dynamic else 'scheduled'}"
            lat = asyncio.run(over_tls_bus(protocol, dynamic, pki))
            print(_fmt(f"{label}: TLS 1.3 + bus round trip", lat), flush=True)


if __name__ == "__main__":
    main()
