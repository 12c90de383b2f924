"""SLAC figures: frame parsing rate, CPU per in-process session, real matching time over veth (root)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time

from josev.sim.modem import EmulatedModem, PlcEmulator
from josev.sim.modem_loopback import Loopback
from josev.sim.modem_shell import run_emulator
from josev.slac.driver import CoreDriver
from josev.slac.ev import E, EvSlac, EvSlacConfig
from josev.slac.evse import EvseSlac, EvseSlacConfig, S
from josev.slac.frame import encode_frame, parse_frame
from josev.slac.messages import CmAttenProfileInd, CmMnbcSoundInd, CmSlacMatchCnf, CmSlacParmReq
from josev.slac.rawsocket import RawSocket

EV = bytes.fromhex("02bb00000001")
EVSE = bytes.fromhex("02aa00000001")


def parse_rate() -> float:
    frames = [
        encode_frame(EVSE, EV, CmSlacParmReq(bytes(8))),
        encode_frame(EVSE, EV, CmMnbcSoundInd(bytes(17), 3, bytes(8))),
        encode_frame(EVSE, EV, CmAttenProfileInd(EV, tuple(range(58)))),
        encode_frame(EVSE, EV, CmSlacMatchCnf(EV, EVSE, bytes(8), bytes(7), bytes(16))),
    ] * 5000
    t0 = time.perf_counter()
    for f in frames:
        parse_frame(f)
    return len(frames) / (time.perf_counter() - t0)


def session_cpu() -> float:
    t0 = time.perf_counter()
    n = 50
    for _ in range(n):
        emu = PlcEmulator({"a": EmulatedModem(bytes(6)), "b": EmulatedModem(b"\x01" * 6)}, {("a", "b"): 20})
        lb = Loopback(emu)
        evse, ev = EvseSlac(EvseSlacConfig(mac=EVSE)), EvSlac(EvSlacConfig(mac=EV))
        lb.attach("a", evse)
        lb.attach("b", ev)
        lb.feed("a", evse.start(0))
        lb.feed("b", ev.probe_modem(0))
        lb.run_until(1)
        lb.feed("a", evse.cp_state("B", 1))
        lb.feed("b", ev.start(1))
        lb.run_until(30, stop=lambda ev=ev, evse=evse: ev.state is E.MATCHED and evse.state is S.MATCHED)  # type: ignore[misc]
    return (time.perf_counter() - t0) / n * 1000


async def veth_match_times(runs: int) -> list[float]:
    from tests.util.netns import NetnsLab

    out = []
    with NetnsLab("b") as lab:
        evse_ns, plc_ns, ev_ns = lab.netns("evse"), lab.netns("plc"), lab.netns("ev")
        p1, p2 = lab.veth(evse_ns, plc_ns, ipv6=False), lab.veth(plc_ns, ev_ns, ipv6=False)
        emu = PlcEmulator({"e": EmulatedModem(bytes(6)), "v": EmulatedModem(b"\x01" * 6)}, {("e", "v"): 20})
        stop = asyncio.Event()
        with plc_ns.entered():
            emu_task = asyncio.create_task(run_emulator(emu, {"e": p1.b, "v": p2.a}, stop))
            await asyncio.sleep(0.1)
        for _ in range(runs):
            with evse_ns.entered():
                s1 = RawSocket(p1.a)
            with ev_ns.entered():
                s2 = RawSocket(p2.b)
            evse, ev = EvseSlac(EvseSlacConfig(mac=s1.mac)), EvSlac(EvSlacConfig(mac=s2.mac))
            d1, d2 = CoreDriver(evse, s1), CoreDriver(ev, s2)
            halt = asyncio.Event()
            tasks = [asyncio.create_task(d1.run(halt)), asyncio.create_task(d2.run(halt))]
            await d1.apply(evse.start(d1.now()))
            await d2.apply(ev.probe_modem(d2.now()))
            await asyncio.sleep(0.2)
            await d1.apply(evse.cp_state("B", d1.now()))
            t0 = time.monotonic()
            await d2.apply(ev.start(d2.now()))
            while not (ev.state is E.MATCHED and evse.state is S.MATCHED) and time.monotonic() - t0 < 20:
                await asyncio.sleep(0.005)
            out.append((time.monotonic() - t0) * 1000)
            halt.set()
            await asyncio.gather(*tasks)
        stop.set()
        await emu_task
    return out


def main() -> None:
    print(f"frame parsing: {parse_rate():,.0f} frames/s")
    print(f"in-process session (EVSE + EV + emulator, virtual time): {session_cpu():.2f} ms CPU per session")
    if os.geteuid() == 0:
        times = asyncio.run(veth_match_times(5))
        print(
            "matching over veth (raw sockets, 3 namespaces): "
            f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms over {len(times)} runs "
            "(includes the 200 ms CM_SLAC_PARM.CNF window, 13 x 20 ms sounding, 200 ms link poll)"
        )
    else:
        print("matching over veth: skipped (needs root)")


if __name__ == "__main__":
    main()
