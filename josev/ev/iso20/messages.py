"""EV-side ISO 15118-20 request builders (EXIficient JSON dialect, without the Header)."""

from __future__ import annotations

from typing import Any

from josev.ev.battery import Battery
from josev.v2g.iso20.namespaces import AC_URI, DC_URI
from josev.v2g.iso20.rational import rn

SERVICE_IDS = {"iso20-ac": 1, "iso20-dc": 2, "iso20-ac-bpt": 5, "iso20-dc-bpt": 6}


def sap_request(ac: bool) -> dict[str, Any]:
    """supportedAppProtocolReq offering the -20 AC or DC namespace."""
    entry = {
        "ProtocolNamespace": AC_URI if ac else DC_URI,
        "VersionNumberMajor": 1,
        "VersionNumberMinor": 0,
        "SchemaID": 1,
        "Priority": 1,
    }
    return {"supportedAppProtocolReq": {"AppProtocol": [entry]}}


def ac_power(b: Battery) -> float:
    """The EV's AC charge power limit (three phases)."""
    return 3 * 230.0 * b.ac_max_current


def ac_cpd(b: Battery, bpt: bool, discharge_w: float) -> dict[str, Any]:
    """AC_ChargeParameterDiscoveryReq content."""
    mode: dict[str, Any] = {"EVMaximumChargePower": rn(ac_power(b)), "EVMinimumChargePower": rn(100.0)}
    if bpt:
        mode["EVMaximumDischargePower"] = rn(discharge_w)
        mode["EVMinimumDischargePower"] = rn(100.0)
        return {"BPT_AC_CPDReqEnergyTransferMode": mode}
    return {"AC_CPDReqEnergyTransferMode": mode}


def dc_cpd(b: Battery, bpt: bool, discharge_w: float) -> dict[str, Any]:
    """DC_ChargeParameterDiscoveryReq content."""
    mode: dict[str, Any] = {
        "EVMaximumChargePower": rn(b.max_power),
        "EVMinimumChargePower": rn(100.0),
        "EVMaximumChargeCurrent": rn(b.max_current),
        "EVMinimumChargeCurrent": rn(1.0),
        "EVMaximumVoltage": rn(b.max_voltage),
        "EVMinimumVoltage": rn(200.0),
        "TargetSOC": int(b.target_soc),
    }
    if bpt:
        mode["EVMaximumDischargePower"] = rn(discharge_w)
        mode["EVMinimumDischargePower"] = rn(100.0)
        mode["EVMaximumDischargeCurrent"] = rn(discharge_w / b.voltage)
        mode["EVMinimumDischargeCurrent"] = rn(1.0)
        return {"BPT_DC_CPDReqEnergyTransferMode": mode}
    return {"DC_CPDReqEnergyTransferMode": mode}


def energy(b: Battery) -> dict[str, Any]:
    """EVTargetEnergyRequest / EVMaximumEnergyRequest / EVMinimumEnergyRequest."""
    want = b.energy_request_wh
    return {
        "EVTargetEnergyRequest": rn(want),
        "EVMaximumEnergyRequest": rn((100.0 - b.soc) / 100.0 * b.capacity_wh),
        "EVMinimumEnergyRequest": rn(0.0),
    }


def schedule_exchange(b: Battery, dynamic: bool, bpt: bool, departure: int) -> dict[str, Any]:
    """ScheduleExchangeReq content."""
    if dynamic:
        mode: dict[str, Any] = {"DepartureTime": departure, **energy(b)}
        mode["TargetSOC"] = int(b.target_soc)
        if bpt:
            mode["EVMaximumV2XEnergyRequest"] = rn(b.soc / 100.0 * b.capacity_wh)
            mode["EVMinimumV2XEnergyRequest"] = rn(0.0)
        return {"MaximumSupportingPoints": 1024, "Dynamic_SEReqControlMode": mode}
    return {
        "MaximumSupportingPoints": 1024,
        "Scheduled_SEReqControlMode": {"DepartureTime": departure, **energy(b)},
    }


def display(b: Battery) -> dict[str, Any]:
    """DisplayParameters."""
    return {"PresentSOC": int(b.soc), "TargetSOC": int(b.target_soc), "ChargingComplete": b.full}
