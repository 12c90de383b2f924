"""Logic of the SECC service's -20 and DC bridging (a recording stand-in for the bus; the real bus is covered by
test_contactor_gate / test_station_real): discharge limits from the coordinator, -20 events to messages, the
real DC supply replacing the simulated one, the isolation result of this session only."""

from __future__ import annotations

import asyncio
from typing import Any

from josev.api import coordinator as coord
from josev.api import secc as api
from josev.secc import events as ev
from josev.secc.iso20 import events as ev20
from josev.secc.iso20.context import BptLimits, Iso20Evse
from josev.secc.service import SeccEvseConfig, SeccService


class RecordingBus:
    def __init__(self) -> None:
        self.published: list[tuple[Any, int | None]] = []

    async def publish(self, msg: Any, evse: int | None = None) -> None:
        self.published.append((msg, evse))


def service(bpt: bool = True) -> tuple[SeccService, Iso20Evse, RecordingBus]:
    svc = SeccService([SeccEvseConfig(evse=1, iface="x", iso20=True, bpt=bpt)], codec="json")
    view = svc.evses[0].view()
    svc.views[1] = view
    st20 = Iso20Evse(view, bpt=BptLimits() if bpt else None)
    svc.iso20[1] = st20
    if bpt:
        svc._bpt_wanted.add(1)
    bus = RecordingBus()
    svc._bus = bus  # type: ignore[assignment]
    return svc, st20, bus


def status(**kw: Any) -> coord.EvseStatus:
    base: dict[str, Any] = dict(
        state="hlc",
        ocpp_status="Occupied",
        detailed_status="Preparing",
        charging_state="EVConnected",
        limit_a=None,
        pilot_mode="pwm",
        contactor_closed=False,
        dc=True,
    )
    return coord.EvseStatus(**(base | kw))


def test_discharge_limits_follow_the_coordinator() -> None:
    svc, st20, _ = service()
    v0 = st20.view.limits_version
    svc._on_evse_status(status(max_discharge_power_w=9000.0, max_discharge_current_a=20.0), 1)
    assert st20.bpt == BptLimits(max_discharge_power=9000.0, max_discharge_current=20.0)
    assert st20.view.limits_version == v0 + 1  # a change makes the EV renegotiate
    svc._on_evse_status(status(), 1)  # None/None: the EVSE cannot discharge (any more)
    assert st20.bpt is None
    svc._on_evse_status(status(max_discharge_power_w=5000.0), 1)
    assert st20.bpt is not None and st20.bpt.max_discharge_power == 5000.0


def test_no_bpt_configured_stays_off() -> None:
    svc, st20, _ = service(bpt=False)
    svc._on_evse_status(status(max_discharge_power_w=9000.0), 1)
    assert st20.bpt is None


def test_dc_status_does_not_set_ac_limits() -> None:
    svc, st20, _ = service()
    before = st20.view.limits.max_power
    svc._on_evse_status(status(limit_a=32.0, max_power_w=22080.0), 1)
    assert st20.view.limits.max_power == before  # DC limits come with DcSupplyState


async def test_iso20_events_become_messages() -> None:
    svc, _, bus = service()
    svc.on_events(
        1,
        [
            ev20.ServiceSelected("DC_BPT", "dynamic", 2),
            ev20.StandbyChanged(True),
            ev20.EvPowerRequest(present_power=-3000.0, max_discharge_power=7000.0, soc=55),
        ],
    )
    await asyncio.sleep(0)
    await asyncio.gather(*svc._tasks)
    msgs = [m for m, _ in bus.published]
    sel = [m for m in msgs if isinstance(m, api.Iso20Service)]
    assert sel[0].energy_service == "DC_BPT" and sel[0].control_mode == "dynamic" and not sel[0].standby
    assert sel[-1].standby
    (power,) = [m for m in msgs if isinstance(m, api.EvPower)]
    assert (
        power.present_power_w == -3000.0 and power.max_discharge_power_w == 7000.0 and power.soc_percent == 55
    )


async def test_real_dc_supply_replaces_the_simulated_one() -> None:
    svc, st20, _ = service()
    view = st20.view
    supply = coord.DcSupplyState(
        phase="precharge",
        present_voltage_v=398.0,
        present_current_a=-12.0,
        isolation="valid",
        max_voltage_v=500.0,
        max_current_a=100.0,
        max_power_w=40_000.0,
        max_discharge_current_a=25.0,
        max_discharge_power_w=11_000.0,
    )
    svc._on_evse_status(status(), 1)
    svc._on_dc_supply(supply, 1)
    assert (view.present_voltage, view.present_current) == (398.0, -12.0)
    assert (view.limits.max_voltage, view.limits.max_current, view.limits.max_power) == (
        500.0,
        100.0,
        40_000.0,
    )
    assert st20.bpt is not None and st20.bpt.max_discharge_power == 11_000.0
    # a new session: the isolation of an earlier one does not count until this session's cable check
    svc.on_events(1, [ev.SessionStarted("iso2", "AB", "02", False)])
    assert view.isolation == "Invalid"
    svc._on_dc_supply(supply, 1)
    assert view.isolation == "Invalid"
    # the simulated supply no longer moves the present values of this EVSE
    svc.on_events(1, [ev.EvTargets("precharge", 350.0, 2.0)])
    assert view.present_voltage == 398.0
    for t in list(svc._tasks):
        t.cancel()
