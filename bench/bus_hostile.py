"""A hostile bus client while a car charges: what it costs the station (issue 22, "From the bus").

Sim board + HAL + coordinator + a CLI observer in this process, a real mosquitto with the generated configuration;
``tests/bus/hostile_client.py`` runs for ``ATTACK_S`` with the ``ocpp`` credentials (floods granted commands and
its own topics, forges replies, tries a session takeover, sends 100 MB). Printed per transport of the station's
services (unix socket, as ``josev run`` connects them, and TCP): the attacker's rate, what reached and what the
coordinator dropped, the longest gap between coordinator heartbeats seen on the bus, contactor-open samples,
and the memory of the station process and of mosquitto. ``python -m bench bus_hostile``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hal.sim import SimEv
from josev.api import coordinator as capi
from josev.broker import PrivateBroker
from josev.bus import Bus
from tests.coordinator.rig import start_station, until

ATTACK_S = 5.0
ROOT = Path(__file__).resolve().parent.parent


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _run(broker: PrivateBroker, unix: bool) -> dict[str, Any]:
    buses: dict[str, Bus] = {}

    async def factory(service: str, **kw: Any) -> Bus:
        extra = {"socket": broker.files.socket} if unix else {}
        bus = Bus(service, broker.settings(service, **extra, **kw))
        await bus.connect()
        buses[service] = bus
        return bus

    st = await start_station(factory, 1)
    beats: list[float] = []
    st.cli.subscribe(capi.Heartbeat, lambda m, e: beats.append(time.monotonic()))
    sim = st.board.sim(1)
    sim.plug(SimEv(auto_ready=True, max_current_a=16.0, phases=3))
    await until(lambda: st.obs.status[1].state == "plugged", what="plugged")
    await st.cli.request(capi.Authorize(id_token="card-1", source="cli"), 1)
    await until(lambda: sim.contactor.feedback(), what="contactor closed")
    await asyncio.sleep(1.0)
    assert broker.proc is not None
    rss0, mq0 = _rss_mb(), _rss_mb(broker.proc.pid)
    t_attack = time.monotonic()
    attacker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests" / "bus" / "hostile_client.py"),
        f"--port={broker.port}",
        "--user=ocpp",
        f"--password={broker.settings('ocpp').password_for('ocpp')}",
        f"--victim-id={buses['coordinator'].client_id}",
        f"--seconds={ATTACK_S}",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    samples = opened = 0
    rss_peak = mq_peak = 0.0
    while attacker.returncode is None:
        samples += 1
        opened += 0 if sim.contactor.feedback() else 1
        if samples % 10 == 0:
            rss_peak, mq_peak = max(rss_peak, _rss_mb()), max(mq_peak, _rss_mb(broker.proc.pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(attacker.wait(), 0.02)
    out, _ = await attacker.communicate()
    report = json.loads(out.decode().strip().splitlines()[-1])
    await asyncio.sleep(2.0)
    during = [b - a for a, b in itertools.pairwise(beats) if b > t_attack]
    stats = buses["coordinator"].stats
    result = {
        "flood_per_s": report["flood"] / ATTACK_S,
        "received": stats.received,
        "rate_limited": stats.rate_limited,
        "refused": stats.commands_refused,
        "hb_gap_max_s": max(during) if during else float("nan"),
        "opened": opened,
        "samples": samples,
        "faulted": st.obs.status[1].ocpp_status == "Faulted",
        "rss0": rss0,
        "rss_peak": rss_peak,
        "rss_after": _rss_mb(),
        "mq0": mq0,
        "mq_peak": mq_peak,
        "mq_after": _rss_mb(broker.proc.pid),
    }
    await st.close()
    for bus in buses.values():
        await bus.close()
    return result


def main() -> None:
    print(f"hostile ocpp-credential client for {ATTACK_S:.0f} s while one car charges at 16 A (sim board):")
    for unix in (True, False):
        with PrivateBroker(unix_socket=True) as broker:
            r = asyncio.run(_run(broker, unix))
        print(
            f"  services over {'unix' if unix else 'tcp '}: attacker {r['flood_per_s']:,.0f} msg/s; coordinator "
            f"received {r['received']:,}, rate-limited {r['rate_limited']:,}, refused {r['refused']:,}; "
            f"heartbeat gap max {r['hb_gap_max_s'] * 1000:.0f} ms; contactor open in {r['opened']}/{r['samples']} "
            f"samples; faulted {r['faulted']}"
        )
        print(
            f"      station RSS {r['rss0']:.0f} -> peak {r['rss_peak']:.0f} -> {r['rss_after']:.0f} MB; "
            f"mosquitto RSS {r['mq0']:.0f} -> peak {r['mq_peak']:.0f} -> {r['mq_after']:.0f} MB"
        )


if __name__ == "__main__":
    main()
