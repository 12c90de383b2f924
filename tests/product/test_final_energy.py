"""The final energy of a transaction is the meter reading taken when the contactor opened.

``josev run`` on the simulator board (HAL and OCPP in processes of their own), a private mosquitto, a scripted
CSMS over a real WebSocket. A simulated car charges for a few seconds (about 3 Wh/s) and the session ends,
either by unplugging while charging or by a local stop. Afterwards the simulated meter's register no longer
moves (the contactor is open); it must be exactly the value of ``Energy.Active.Import.Register`` (context
``Transaction.End``) in the ``Ended`` TransactionEvent, and the coordinator's session energy must be that
register minus the one before the session. Before the fix the ``Ended`` event carried the last periodic
sample (up to a meter period, ~3 Wh here, short of what was delivered).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from josev.api import coordinator as capi
from josev.api import hal as halapi
from josev.broker import free_port
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.test_faults import tx_events
from tests.product.test_shutdown import Observer, kill_tree, run_until_ready, write_config

pytestmark = pytest.mark.slow


def end_register(ended: dict[str, Any]) -> float:
    """Energy.Active.Import.Register of context Transaction.End in an Ended event."""
    vals = [
        sv
        for mv in ended.get("meterValue", [])
        for sv in mv["sampledValue"]
        if sv.get("context") == "Transaction.End" and sv.get("measurand") == "Energy.Active.Import.Register"
    ]
    assert len(vals) == 1, ended
    return float(vals[0]["value"])


class MeterObserver(Observer):
    def __init__(self) -> None:
        super().__init__()
        self.meter: list[halapi.MeterState] = []

    async def watch_meter(self) -> None:
        assert self.bus is not None
        self.bus.subscribe(halapi.MeterState, self._on_meter)

    def _on_meter(self, m: halapi.MeterState, evse: int | None) -> None:
        if evse == 1 and m.ok:
            self.meter.append(m)
            self.changed.set()


@pytest.mark.parametrize("end", ["unplug", "local-stop"])
async def test_ended_carries_the_reading_at_contactor_open(tmp_path: Path, end: str) -> None:
    csms = ScriptedCsms(port=free_port())
    await csms.start()
    port = free_port()
    cfg = write_config(tmp_path, port, csms.url, separate=True)
    proc, plain = await run_until_ready(cfg, tmp_path, port)
    obs = MeterObserver()
    try:
        await obs.connect(tmp_path / "broker" / "credentials", port, time.monotonic() + 10)
        await obs.watch_meter()
        assert obs.bus is not None
        await obs.until("a meter reading", lambda: bool(obs.meter))
        await csms.wait_for("BootNotification", timeout=15)
        before = obs.meter[-1].energy_wh
        await obs.bus.request(
            halapi.SimCarControl(action="plug", auto_ready=True, max_current_a=16.0), 1, timeout=5
        )
        await obs.until("session started", lambda: any(s.step == "started" for s in obs.sessions))
        await obs.bus.request(capi.PresentToken(id_token="TAG-ENERGY"), 1, timeout=5)
        await obs.until(
            "contactor closed", lambda: bool(obs.channel) and obs.channel[-1][1].contactor_feedback
        )
        await csms.wait_for(
            "TransactionEvent",
            lambda p: p.get("transactionInfo", {}).get("chargingState") == "Charging",
            timeout=15,
        )
        await asyncio.sleep(2.6)  # between two meter polls (1 s): the last sample lags behind the register
        if end == "unplug":
            await obs.bus.request(halapi.SimCarControl(action="unplug"), 1, timeout=5)
        else:
            await obs.bus.request(capi.StopCharging(reason="local"), 1, timeout=5)
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=20)
        await obs.until("contactor open", lambda: not obs.channel[-1][1].contactor_feedback)
        await asyncio.sleep(2.5)  # two more meter polls: the register stands still now
        final = obs.meter[-1].energy_wh
        assert obs.meter[-2].energy_wh == final, "the register still moves with the contactor open"
        assert final - before > 5.0, (before, final)  # the car really charged

        # OCPP: the Ended event carries the register at contactor open (what the operator bills)
        assert end_register(ended) == pytest.approx(round(final, 3), abs=0.0011), (end_register(ended), final)
        assert ended["transactionInfo"]["stoppedReason"] == ("EVDisconnected" if end == "unplug" else "Local")
        assert [e["seqNo"] for e in tx_events(csms)] == list(range(len(tx_events(csms))))

        # the coordinator's session: the same reading, minus the register before the session
        if end == "local-stop":
            await obs.bus.request(halapi.SimCarControl(action="unplug"), 1, timeout=5)
        await obs.until("session ended", lambda: any(s.step == "ended" for s in obs.sessions))
        last = next(s for s in obs.sessions if s.step == "ended")
        assert last.energy_wh == pytest.approx(final - before, abs=1e-6), (last.energy_wh, final, before)
        assert last.energy_register_wh == pytest.approx(final, abs=1e-6)
        if end == "local-stop":
            stopped = next(s for s in obs.sessions if s.step == "charging_stopped")
            assert stopped.energy_wh == pytest.approx(final - before, abs=1e-6), (stopped.energy_wh, final)
            assert stopped.energy_register_wh == pytest.approx(final, abs=1e-6)
    finally:
        kill_tree(proc)
        for o in (obs, plain):
            if o.bus is not None:
                await o.bus.close(publish_status=False)
        await csms.stop()
