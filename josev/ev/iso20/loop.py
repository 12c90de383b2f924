"""The charge loop requests of the -20 EV (AC/DC, BPT, scheduled/dynamic) and what it takes from the answers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from josev.ev.iso20 import messages as m
from josev.v2g.iso20.rational import rf, rn

if TYPE_CHECKING:
    from josev.ev.iso20.evcc import Evcc20


def _mode_name(ev: Evcc20, kind: str) -> str:
    return (
        ("BPT_" if ev.bpt else "")
        + ("Dynamic" if ev.behaviour.dynamic else "Scheduled")
        + f"_{kind}_CLReqControlMode"
    )


def _present_power(ev: Evcc20) -> float:
    """The AC power drawn now: the EVSE's target in dynamic mode, the schedule in scheduled mode."""
    if ev._standby_left > 0:
        return 0.0
    if ev.behaviour.dynamic:
        return ev._target_power or 0.0
    return ev._profile_power()


def ac_loop(ev: Evcc20) -> dict[str, Any]:
    """AC_ChargeLoopReq content."""
    b = ev.battery
    mode: dict[str, Any] = {"EVPresentActivePower": rn(_present_power(ev))}
    if ev.behaviour.dynamic:
        mode.update(m.energy(b))
        mode["EVMaximumChargePower"] = rn(0.0 if b.full else m.ac_power(b))
        mode["EVMinimumChargePower"] = rn(0.0)
        mode["EVPresentReactivePower"] = rn(0.0)
        if ev.bpt:
            mode["EVMaximumDischargePower"] = rn(ev.behaviour.discharge_w)
            mode["EVMinimumDischargePower"] = rn(0.0)
    return {"DisplayParameters": m.display(b), "MeterInfoRequested": False, _mode_name(ev, "AC"): mode}


def dc_loop(ev: Evcc20) -> dict[str, Any]:
    """DC_ChargeLoopReq content."""
    b = ev.battery
    mode: dict[str, Any]
    if ev.behaviour.dynamic:
        mode = {
            **m.energy(b),
            "EVMaximumChargePower": rn(0.0 if b.full else b.max_power),
            "EVMinimumChargePower": rn(0.0),
            "EVMaximumChargeCurrent": rn(b.max_current),
            "EVMaximumVoltage": rn(b.max_voltage),
            "EVMinimumVoltage": rn(200.0),
        }
        if ev.bpt:
            mode["EVMaximumDischargePower"] = rn(ev.behaviour.discharge_w)
            mode["EVMinimumDischargePower"] = rn(0.0)
            mode["EVMaximumDischargeCurrent"] = rn(ev.behaviour.discharge_w / b.voltage)
    else:
        p = 0.0 if ev._standby_left > 0 or b.full else ev._profile_power()
        i = p / b.voltage
        if ev._evse_imax is not None:  # never ask for more than the EVSE offers now
            i = min(i, ev._evse_imax)
        ev.result.target(i)
        mode = {"EVTargetCurrent": rn(i), "EVTargetVoltage": rn(b.voltage)}
    return {
        "DisplayParameters": m.display(b),
        "MeterInfoRequested": False,
        "EVPresentVoltage": rn(b.voltage),
        _mode_name(ev, "DC"): mode,
    }


def absorb(ev: Evcc20, res: dict[str, Any]) -> None:
    """Take the EVSE's target / present values and move the battery by one loop."""
    b, beh = ev.battery, ev.behaviour
    if ev.ac:
        mode: Any = next((v for k, v in res.items() if k.endswith("AC_CLResControlMode")), {})
        if isinstance(mode, dict) and "EVSETargetActivePower" in mode:
            total = rf(mode["EVSETargetActivePower"])
            for ph in ("_L2", "_L3"):
                if f"EVSETargetActivePower{ph}" in mode:
                    total += rf(mode[f"EVSETargetActivePower{ph}"])
            ev._target_power = total
        power = _present_power(ev)
    else:
        v, i = rf(res["EVSEPresentVoltage"]), rf(res["EVSEPresentCurrent"])
        ev.result.present.append([time.monotonic(), v, i])
        power = v * i
        mode = next((v for k, v in res.items() if k.endswith("DC_CLResControlMode")), None)
        if isinstance(mode, dict) and isinstance(mode.get("EVSEMaximumChargeCurrent"), dict):
            ev._evse_imax = rf(mode["EVSEMaximumChargeCurrent"])
    b.charge(power, beh.seconds_per_loop)
    b.soc = max(0.0, b.soc)
