"""SECC response time: request bytes in -> response bytes out, for CurrentDemand (ISO 15118-2 DC, DIN) and
ChargingStatus (ISO 15118-2 AC), p50/p99 over long sessions.

Three figures per message: the core on decoded dicts; the byte path with the real EXI codec (V2GTP deframe,
EXI decode, core, EXI encode, frame); and the byte path plus a bus round trip to a stand-in coordinator
through a real mosquitto (the SECC publishes the EV target and waits for the coordinator's reply to a
command) -- the shape of a CurrentDemand whose answer depends on the power module. Target: p99 < 5 ms.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from josev.ev.battery import Battery, Behaviour
from josev.ev.evcc import Evcc
from josev.secc.evse import EvseView
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply
from josev.v2g import v2gtp
from josev.v2g.codec import Codec, ExiCodec, exi_available

LOOPS = 5000


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def _fmt(name: str, lat: list[float]) -> str:
    return f"{name:<52} p50 {_pct(lat, 0.5):7.3f} ms  p99 {_pct(lat, 0.99):7.3f} ms  max {max(lat):7.3f} ms"


def _session(protocol: str) -> tuple[SeccSession, Evcc, SimPowerSupply, dict[str, Any]]:
    """A session driven (on dicts) up to the charge loop; returns the first loop request."""
    evse = EvseView(energy_modes=("AC_three_phase_core",) if protocol == "iso2-ac" else ("DC_extended",))
    secc = SeccSession(evse, 0.0)
    ev = Evcc(protocol, Battery(capacity_wh=3e7, target_soc=100.0), Behaviour(loops=0, seconds_per_loop=1e-6))
    supply = SimPowerSupply()
    nxt: tuple[str, dict[str, Any]] | None = ev.start()
    loop_name = "ChargingStatusReq" if protocol == "iso2-ac" else "CurrentDemandReq"
    while True:
        assert nxt is not None
        if "V2G_Message" in nxt[1] and loop_name in nxt[1]["V2G_Message"]["Body"]:
            return secc, ev, supply, nxt[1]
        out = secc.handle_message(nxt[1], 0.0)
        supply.apply(evse, out.events)
        assert out.response is not None
        nxt = ev.on_response(out.response)


def core_dicts(protocol: str) -> list[float]:
    secc, _ev, supply, req = _session(protocol)
    lat = []
    for i in range(LOOPS):
        t0 = time.perf_counter()
        out = secc.handle_message(req, float(i))
        supply.apply(secc.evse, out.events)
        lat.append((time.perf_counter() - t0) * 1e3)
        assert out.response is not None and not out.close
    return lat


def _bytes_session(protocol: str, codec: Codec) -> tuple[SeccSession, bytes]:
    secc, _ev, supply, _req = _session(protocol)
    # rebuild the same session on the byte path: replay its history through receive()
    byte_secc = SeccSession(secc.evse, 0.0, codec=codec, config=secc.config)
    ev = Evcc(protocol, Battery(capacity_wh=3e7, target_soc=100.0), Behaviour(loops=0, seconds_per_loop=1e-6))
    nxt: tuple[str, dict[str, Any]] | None = ev.start()
    loop_name = "ChargingStatusReq" if protocol == "iso2-ac" else "CurrentDemandReq"
    while nxt is not None:
        schema, msg = nxt
        frame = v2gtp.frame(0x8001, codec.encode(schema, msg))
        if "V2G_Message" in msg and loop_name in msg["V2G_Message"]["Body"]:
            return byte_secc, frame
        out = byte_secc.receive(frame, 0.0)
        supply.apply(byte_secc.evse, out.events)
        res = codec.decode(byte_secc.schema if schema != "sap" else "sap", out.send[0][8:])
        nxt = ev.on_response(res)
    raise AssertionError("no charge loop")


def bytes_exi(protocol: str, codec: Codec) -> list[float]:
    secc, frame = _bytes_session(protocol, codec)
    supply = SimPowerSupply()
    lat = []
    for i in range(LOOPS):
        t0 = time.perf_counter()
        out = secc.receive(frame, float(i))
        supply.apply(secc.evse, out.events)
        assert len(out.send) == 1
        lat.append((time.perf_counter() - t0) * 1e3)
    return lat


async def bytes_exi_bus(protocol: str, codec: Codec) -> list[float]:
    from josev.api import coordinator as coord
    from josev.api import secc as api
    from josev.api.base import Ack
    from josev.broker import PrivateBroker
    from josev.bus import Bus
    from josev.secc.events import EvTargets

    broker = PrivateBroker(unix_socket=True)
    broker.start()
    try:
        secc_bus = Bus("secc", broker.settings("secc", socket=broker.files.socket))
        coord_bus = Bus("coordinator", broker.settings("coordinator", socket=broker.files.socket))
        await secc_bus.connect()
        await coord_bus.connect()

        async def power(cmd: coord.HlcPowerDelivery, evse: int | None) -> Ack:
            return Ack()

        coord_bus.serve(coord.HlcPowerDelivery, power)
        await asyncio.sleep(0.2)
        secc, frame = _bytes_session(protocol, codec)
        supply = SimPowerSupply()
        lat = []
        for i in range(LOOPS // 2):
            t0 = time.perf_counter()
            out = secc.receive(frame, float(i))
            for e in out.events:
                if isinstance(e, EvTargets):
                    await secc_bus.publish(
                        api.EvTarget(phase="charge", voltage_v=e.voltage, current_a=e.current), 1
                    )
            await secc_bus.request(coord.HlcPowerDelivery(on=True), 1)  # the round trip to the coordinator
            supply.apply(secc.evse, out.events)
            assert len(out.send) == 1
            lat.append((time.perf_counter() - t0) * 1e3)
        await secc_bus.close()
        await coord_bus.close()
        return lat
    finally:
        broker.stop()


def main() -> None:
    print(f"{LOOPS} charge-loop requests per figure")
    for protocol, label in (
        ("iso2-dc", "ISO-2 CurrentDemand"),
        ("din", "DIN CurrentDemand"),
        ("iso2-ac", "ISO-2 ChargingStatus"),
    ):
        print(_fmt(f"{label}: core on dicts", core_dicts(protocol)))
    reason = exi_available()
    if reason:
        print(f"EXI byte path skipped: {reason}")
        return
    codec = ExiCodec()
    for protocol, label in (
        ("iso2-dc", "ISO-2 CurrentDemand"),
        ("din", "DIN CurrentDemand"),
        ("iso2-ac", "ISO-2 ChargingStatus"),
    ):
        print(_fmt(f"{label}: bytes in -> bytes out (EXI)", bytes_exi(protocol, codec)))
    for protocol, label in (("iso2-dc", "ISO-2 CurrentDemand"), ("iso2-ac", "ISO-2 ChargingStatus")):
        print(_fmt(f"{label}: bytes + bus round trip", asyncio.run(bytes_exi_bus(protocol, codec))))


if __name__ == "__main__":
    main()
