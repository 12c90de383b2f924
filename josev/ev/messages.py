"""EV-side request builders (EXIficient JSON dialect) for DIN SPEC 70121 and ISO 15118-2."""

from __future__ import annotations

from typing import Any

from josev.ev.battery import Battery
from josev.v2g.physical import pv

NAMESPACES = {
    "din": ("urn:din:70121:2012:MsgDef", 2, 0),
    "iso2": ("urn:iso:15118:2:2013:MsgDef", 2, 0),
}


def sap_request(preferred: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """supportedAppProtocolReq offering ``preferred`` first, then the ``extra`` namespaces."""
    entries: list[dict[str, Any]] = []
    uri, major, minor = NAMESPACES[preferred]
    entries.append(
        {
            "ProtocolNamespace": uri,
            "VersionNumberMajor": major,
            "VersionNumberMinor": minor,
            "SchemaID": 1,
            "Priority": 1,
        }
    )
    for i, ns in enumerate(extra, start=2):
        entries.append(
            {
                "ProtocolNamespace": ns,
                "VersionNumberMajor": 1,
                "VersionNumberMinor": 0,
                "SchemaID": i,
                "Priority": i,
            }
        )
    return {"supportedAppProtocolReq": {"AppProtocol": entries}}


def wrap(session_id: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A V2G_Message with header and body."""
    return {"V2G_Message": {"Header": {"SessionID": session_id}, "Body": {name: body}}}


def dc_ev_status(b: Battery, ready: bool = True) -> dict[str, Any]:
    """DC_EVStatus."""
    return {"EVReady": ready, "EVErrorCode": "NO_ERROR", "EVRESSSOC": int(b.soc)}


def dc_charge_parameter(b: Battery, dialect: str) -> dict[str, Any]:
    """DC_EVChargeParameter (schema order of the dialect)."""
    if dialect == "din":
        return {
            "DC_EVStatus": dc_ev_status(b),
            "EVMaximumCurrentLimit": pv(b.max_current, "A"),
            "EVMaximumPowerLimit": pv(b.max_power, "W"),
            "EVMaximumVoltageLimit": pv(b.max_voltage, "V"),
            "EVEnergyCapacity": pv(b.capacity_wh, "Wh"),
            "EVEnergyRequest": pv(b.energy_request_wh, "Wh"),
            "FullSOC": 100,
            "BulkSOC": 80,
        }
    return {
        "DC_EVStatus": dc_ev_status(b, ready=False),
        "EVMaximumCurrentLimit": pv(b.max_current, "A"),
        "EVMaximumPowerLimit": pv(b.max_power, "W"),
        "EVMaximumVoltageLimit": pv(b.max_voltage, "V"),
        "EVEnergyCapacity": pv(b.capacity_wh, "Wh"),
        "EVEnergyRequest": pv(b.energy_request_wh, "Wh"),
        "FullSOC": 100,
        "BulkSOC": 80,
    }


def ac_charge_parameter(b: Battery) -> dict[str, Any]:
    """AC_EVChargeParameter."""
    return {
        "EAmount": pv(max(b.energy_request_wh, 1.0), "Wh"),
        "EVMaxVoltage": pv(b.ac_max_voltage, "V"),
        "EVMaxCurrent": pv(b.ac_max_current, "A"),
        "EVMinCurrent": pv(0.0, "A"),
    }


def current_demand(b: Battery, target_current: float, complete: bool) -> dict[str, Any]:
    """CurrentDemandReq body (same element order in DIN and ISO 15118-2)."""
    return {
        "DC_EVStatus": dc_ev_status(b),
        "EVTargetCurrent": pv(target_current, "A"),
        "EVMaximumVoltageLimit": pv(b.max_voltage, "V"),
        "EVMaximumCurrentLimit": pv(b.max_current, "A"),
        "EVMaximumPowerLimit": pv(b.max_power, "W"),
        "BulkChargingComplete": False,
        "ChargingComplete": complete,
        "RemainingTimeToFullSoC": pv(600, "s"),
        "RemainingTimeToBulkSoC": pv(300, "s"),
        "EVTargetVoltage": pv(b.voltage, "V"),
    }


def pre_charge(b: Battery) -> dict[str, Any]:
    """PreChargeReq body."""
    return {
        "DC_EVStatus": dc_ev_status(b),
        "EVTargetVoltage": pv(b.voltage, "V"),
        "EVTargetCurrent": pv(1.0, "A"),
    }
