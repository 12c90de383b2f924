"""A power cut while charging: kill -9 of the whole station, then a restart.

``josev run`` on the simulator board with HAL and OCPP in processes of their own, a private mosquitto with
persistence, a scripted CSMS over a real WebSocket. A car charges until the broker has saved its persistence
database (so the retained pre-crash HAL state says: contactor closed, pilot C); then SIGKILL to the station's
whole process group (launcher, services, broker). On restart (the simulated car is gone, as after a real power
cut the hardware starts with the contactor open):

* the EVSE is not Faulted (before the fix: ``contactor_welded``, from the stale retained feedback) and a new
  session charges;
* the cut transaction ends with ``stoppedReason`` PowerLoss, carrying the last meter reading the station had
  (not a later one, not none);
* the BootNotification reason says what happened: PowerUp on the first start, ApplicationReset after the
  station process died on the same system boot.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from josev.api import coordinator as capi
from josev.api import hal as halapi
from josev.broker import free_port
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.test_faults import tx_events
from tests.product.test_final_energy import MeterObserver, end_register
from tests.product.test_privileges import cmdline, descendants
from tests.product.test_shutdown import kill_tree, run_until_ready, write_config

pytestmark = pytest.mark.slow


class StatusObserver(MeterObserver):
    def __init__(self) -> None:
        super().__init__()
        self.evse: list[capi.EvseStatus] = []

    async def watch(self) -> None:
        await self.watch_meter()
        assert self.bus is not None
        self.bus.subscribe(capi.EvseStatus, self._on_evse)

    def _on_evse(self, m: capi.EvseStatus, evse: int | None) -> None:
        if evse == 1:
            self.evse.append(m)
            self.changed.set()


async def observe(tmp: Path, port: int) -> StatusObserver:
    obs = StatusObserver()
    await obs.connect(tmp / "broker" / "credentials", port, time.monotonic() + 10)
    await obs.watch()
    return obs


async def test_power_cut_while_charging(tmp_path: Path) -> None:
    csms = ScriptedCsms(port=free_port())
    await csms.start()
    port = free_port()
    cfg = write_config(tmp_path, port, csms.url, separate=True)
    proc, plain = await run_until_ready(cfg, tmp_path, port)
    obs = await observe(tmp_path, port)
    assert obs.bus is not None
    try:
        boot1 = await csms.wait_for("BootNotification", timeout=15)
        assert boot1["reason"] == "PowerUp", boot1
        await obs.bus.request(halapi.SimCarControl(action="plug", auto_ready=True), 1, timeout=5)
        await obs.until("session started", lambda: any(s.step == "started" for s in obs.sessions))
        await obs.bus.request(capi.PresentToken(id_token="TAG-CUT"), 1, timeout=5)
        await obs.until(
            "contactor closed", lambda: bool(obs.channel) and obs.channel[-1][1].contactor_feedback
        )
        await csms.wait_for(
            "TransactionEvent",
            lambda p: p.get("transactionInfo", {}).get("chargingState") == "Charging",
            timeout=15,
        )
        t_closed = time.time()
        db = tmp_path / "broker" / "data" / "mosquitto.db"
        deadline = time.monotonic() + 40
        while not (db.exists() and db.stat().st_mtime > t_closed + 0.5):  # the broker's autosave (30 s)
            assert time.monotonic() < deadline, "the broker never saved its persistence database"
            await asyncio.sleep(0.25)
        await asyncio.sleep(1.5)
        tx_id = tx_events(csms)[0]["transactionInfo"]["transactionId"]
        kill_tree(proc)  # SIGKILL to launcher, services and broker: the power is gone
        last_register = obs.meter[-1].energy_wh
        for o in (obs, plain):
            await o.bus.close(publish_status=False) if o.bus is not None else None

        n_boot = len(csms.actions("BootNotification"))
        proc, plain = await run_until_ready(cfg, tmp_path, port)
        obs = await observe(tmp_path, port)
        assert obs.bus is not None
        boot2 = await csms.wait_for("BootNotification", count=n_boot + 1, timeout=15)
        assert boot2["reason"] == "ApplicationReset", boot2

        # the cut transaction ends: PowerLoss, with the last reading the station had before the cut
        ended = await csms.wait_for(
            "TransactionEvent",
            lambda p: p["eventType"] == "Ended" and p["transactionInfo"]["transactionId"] == tx_id,
            timeout=20,
        )
        assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss", ended
        assert ended["triggerReason"] == "AbnormalCondition", ended
        # the station persisted each meter sample; the last one it had may be the one the observer saw last,
        # or the one before it (killed between the HAL's publication and OCPP storing it)
        assert last_register - 7.0 <= end_register(ended) <= last_register + 1e-3, (
            end_register(ended),
            last_register,
        )
        evs = [e for e in tx_events(csms) if e["transactionInfo"]["transactionId"] == tx_id]
        assert [e["seqNo"] for e in evs] == list(range(len(evs)))

        # the EVSE is available, not Faulted, and stays so; a new car charges
        await obs.until("EVSE status after restart", lambda: bool(obs.evse))
        await asyncio.sleep(2.0)
        now = obs.evse[-1]
        assert now.state != "faulted" and not now.faults, now
        assert all("contactor_welded" not in s.faults for s in obs.evse), [s.faults for s in obs.evse]
        n_sessions = len(obs.sessions)
        await obs.bus.request(halapi.SimCarControl(action="plug", auto_ready=True), 1, timeout=5)
        await obs.until("new session", lambda: any(s.step == "started" for s in obs.sessions[n_sessions:]))
        await obs.bus.request(capi.PresentToken(id_token="TAG-AFTER"), 1, timeout=5)
        await obs.until(
            "contactor closed again", lambda: bool(obs.channel) and obs.channel[-1][1].contactor_feedback
        )
    finally:
        kill_tree(proc)
        for o in (obs, plain):
            if o.bus is not None:
                await o.bus.close(publish_status=False)
        await csms.stop()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_killed_launcher_leaves_no_orphan(tmp_path: Path) -> None:
    """SIGKILL to the launcher alone (not its process group: what an OOM kill or a supervisor without cgroups
    does): the broker and every service process it started exit with it, so a restarted station gets the port
    and is the only one driving the HAL and talking to the CSMS. Before: the separate HAL and OCPP processes
    lived on as orphans (the HAL in its safe state, OCPP reconnecting to a broker that was gone)."""
    csms = ScriptedCsms(port=free_port())
    await csms.start()
    port = free_port()
    cfg = write_config(tmp_path, port, csms.url, separate=True)
    proc, obs = await run_until_ready(cfg, tmp_path, port)
    try:
        kids = descendants(proc.pid)
        names = {k: cmdline(k) for k in kids}
        assert any("mosquitto" in c for c in names.values()), names
        assert any("--service hal" in c for c in names.values()), names
        assert any("--service ocpp" in c for c in names.values()), names
        await csms.wait_for("BootNotification", timeout=15)
        if obs.bus is not None:
            await obs.bus.close(publish_status=False)
        proc.kill()  # the launcher only
        proc.wait()
        deadline = time.monotonic() + 10
        while any(alive(k) for k in kids) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not [names[k] for k in kids if alive(k)], "orphans outlived the launcher"
        proc, obs = await run_until_ready(cfg, tmp_path, port)  # the same port, nothing left holding it
        await csms.wait_for("BootNotification", count=2, timeout=15)
    finally:
        kill_tree(proc)
        if obs.bus is not None:
            await obs.bus.close(publish_status=False)
        await csms.stop()
