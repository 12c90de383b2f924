"""The energy transfer services of ISO 15118-20 and the parameter sets the SECC offers for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from josev.secc.iso20.context import Iso20Context, Selection

AC, DC, WPT, DC_ACDP, AC_BPT, DC_BPT, DC_ACDP_BPT = 1, 2, 3, 4, 5, 6, 7
NAMES = {AC: "AC", DC: "DC", WPT: "WPT", DC_ACDP: "DC_ACDP", AC_BPT: "AC_BPT", DC_BPT: "DC_BPT"}
IMPLEMENTED = (AC, DC, AC_BPT, DC_BPT)
AC_SERVICES = frozenset({AC, AC_BPT})
BPT_SERVICES = frozenset({AC_BPT, DC_BPT})
#: Connector parameter (AC: 1 single phase, 2 three phase; DC: 2 = Extended).
DC_CONNECTOR_EXTENDED = 2


@dataclass(frozen=True, slots=True)
class ParameterSet:
    """One offered parameter set of a service."""

    id: int
    params: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """ParameterSetType in the codec's dialect."""
        return {
            "ParameterSetID": self.id,
            "Parameter": [{"Name": k, "intValue": v} for k, v in self.params.items()],
        }


def offered(ctx: Iso20Context) -> tuple[int, ...]:
    """ServiceIDs this EVSE offers on this connection (namespace family, energy modes, BPT capability)."""
    if ctx.config.services is not None:
        base = tuple(s for s in ctx.config.services if s in IMPLEMENTED)
    else:
        modes = ctx.evse.energy_modes
        has_ac = any(m.startswith("AC") for m in modes)
        has_dc = any(m.startswith("DC") for m in modes)
        bpt = ctx.station.bpt is not None
        base = tuple(
            s
            for s, ok in ((AC, has_ac), (DC, has_dc), (AC_BPT, has_ac and bpt), (DC_BPT, has_dc and bpt))
            if ok
        )
    if ctx.family == "AC":
        return tuple(s for s in base if s in AC_SERVICES)
    if ctx.family == "DC":
        return tuple(s for s in base if s not in AC_SERVICES)
    return base


def parameter_sets(ctx: Iso20Context, service: int) -> list[ParameterSet]:
    """The parameter sets of ``service``: one per offered control mode, numbered from 1 in the order of
    ``Iso20Config.control_modes`` (by default 1 = scheduled, 2 = dynamic)."""
    out: list[ParameterSet] = []
    for set_id, mode in enumerate(ctx.config.control_modes, start=1):
        p: dict[str, int] = {}
        if service in AC_SERVICES:
            p["Connector"] = 2 if ctx.evse.limits.ac_phases == 3 else 1
        else:
            p["Connector"] = DC_CONNECTOR_EXTENDED
        p["ControlMode"] = mode
        if service in AC_SERVICES:
            p["EVSENominalVoltage"] = round(ctx.evse.limits.ac_nominal_voltage)
        p["MobilityNeedsMode"] = 1
        p["Pricing"] = 0
        if service in BPT_SERVICES:
            p["BPTChannel"] = 1
            p["GeneratorMode"] = 1
        out.append(ParameterSet(set_id, p))
    return out


def select(ctx: Iso20Context, service: int, set_id: int) -> Selection | None:
    """The :class:`Selection` for an offered (service, parameter set), else None."""
    if service not in ctx.offered_services:
        return None
    for ps in parameter_sets(ctx, service):
        if ps.id == set_id:
            return Selection(
                service,
                set_id,
                service in AC_SERVICES,
                service in BPT_SERVICES,
                ps.params["ControlMode"],
                ps.params,
            )
    return None
