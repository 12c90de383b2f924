"""Stopping the station while a car charges, several times in a row: services stop in dependency order and the
transaction's end is recorded and delivered before the station exits.

``josev run`` on the simulator board (one process, or HAL and OCPP in processes of their own), a private
mosquitto, a scripted CSMS that stays online. Each round: a car charges, the station gets SIGTERM. Before the fix
every service stopped at once: OCPP often closed its database before the coordinator's last session events
arrived (``Cannot operate on a closed database``), and the transaction ended only at the next boot, late and with
the wrong trigger. Now, in every round: no traceback in the station's log; the Ended TransactionEvent reached the
CSMS before the station exited, triggerReason ResetCommand / stoppedReason Reboot (a locally initiated reboot),
with the meter reading taken when the contactor opened; the next boot does not end it again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from josev.api import coordinator as capi
from josev.api import hal as halapi
from josev.broker import free_port
from tests.ocpp.harness import ScriptedCsms
from tests.product.test_final_energy import MeterObserver, end_register
from tests.product.test_shutdown import kill_tree, run_until_ready, write_config

pytestmark = pytest.mark.slow
ROUNDS = 3


@pytest.mark.parametrize("separate", [False, True], ids=["one-process", "hal-and-ocpp-separate"])
async def test_repeated_stops_while_charging(tmp_path: Path, separate: bool) -> None:
    csms = ScriptedCsms(port=free_port())
    await csms.start()
    port = free_port()
    cfg = write_config(tmp_path, port, csms.url, separate)
    log = tmp_path / "station.log"
    proc = None
    try:
        for rnd in range(ROUNDS):
            n_boot = len(csms.actions("BootNotification"))
            proc, plain = await run_until_ready(cfg, tmp_path, port)
            obs = MeterObserver()
            await obs.connect(tmp_path / "broker" / "credentials", port, time.monotonic() + 10)
            await obs.watch_meter()
            assert obs.bus is not None
            boot = await csms.wait_for("BootNotification", count=n_boot + 1, timeout=15)
            assert boot["reason"] == ("PowerUp" if rnd == 0 else "ApplicationReset"), boot
            await obs.bus.request(halapi.SimCarControl(action="plug", auto_ready=True), 1, timeout=5)
            await obs.until("session started", lambda o=obs: any(s.step == "started" for s in o.sessions))
            await obs.bus.request(capi.PresentToken(id_token=f"TAG-STOP-{rnd}"), 1, timeout=5)
            started = await csms.wait_for(
                "TransactionEvent",
                lambda p: p["eventType"] == "Started" and p["seqNo"] == 0,
                count=rnd + 1,
                timeout=15,
            )
            tx_id = started["transactionInfo"]["transactionId"]
            await csms.wait_for(
                "TransactionEvent",
                lambda p, tx_id=tx_id: (
                    p["transactionInfo"]["transactionId"] == tx_id
                    and p["transactionInfo"].get("chargingState") == "Charging"
                ),
                timeout=15,
            )
            await asyncio.sleep(1.3)

            os.kill(proc.pid, signal.SIGTERM)
            rc = await asyncio.to_thread(proc.wait, 40)
            assert rc == 0, log.read_text()[-3000:]
            for o in (obs, plain):
                if o.bus is not None:
                    await o.bus.close(publish_status=False)
            text = log.read_text()
            assert "Cannot operate on a closed database" not in text, text[-3000:]
            assert "Traceback" not in text, text[-3000:]

            # the end was delivered before the station exited, with the reading at contactor open
            ended = [
                p
                for p in csms.actions("TransactionEvent")
                if p["eventType"] == "Ended" and p["transactionInfo"]["transactionId"] == tx_id
            ]
            assert len(ended) == 1, [p["triggerReason"] for p in csms.actions("TransactionEvent")]
            assert ended[0]["triggerReason"] == "ResetCommand", ended[0]
            assert ended[0]["transactionInfo"]["stoppedReason"] == "Reboot", ended[0]
            assert not ended[0].get("offline"), ended[0]
            final = obs.meter[-1].energy_wh
            assert end_register(ended[0]) == pytest.approx(round(final, 3), abs=0.0011), (ended[0], final)
            last = next(s for s in obs.sessions if s.step == "ended")
            assert last.reason == "station_stop" and last.energy_register_wh == pytest.approx(final, abs=1e-6)
        # no transaction was ended twice (e.g. again at the next boot)
        ends = [
            p["transactionInfo"]["transactionId"]
            for p in csms.actions("TransactionEvent")
            if p["eventType"] == "Ended"
        ]
        assert len(ends) == len(set(ends)) == ROUNDS, ends
    finally:
        if proc is not None:
            kill_tree(proc)
        await csms.stop()
