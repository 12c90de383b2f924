"""Events of the -20 core: the shared SECC events plus the -20-only ones (the shell maps them to the bus)."""

from __future__ import annotations

from dataclasses import dataclass

from josev.secc.events import Event


@dataclass(frozen=True, slots=True)
class ServiceSelected:
    """ServiceSelection accepted: ``service`` (AC, DC, AC_BPT, DC_BPT), ``control_mode`` (scheduled/dynamic)."""

    service: str
    control_mode: str
    parameter_set_id: int


@dataclass(frozen=True, slots=True)
class EvPowerRequest:
    """AC charge loop (and BPT): the power the EV asks for / draws (W, negative = discharge)."""

    present_power: float
    max_charge_power: float | None = None
    max_discharge_power: float | None = None
    soc: int | None = None
    charging_complete: bool = False


@dataclass(frozen=True, slots=True)
class StandbyChanged:
    """PowerDelivery Standby (``standby=True``) or leaving it with Start."""

    standby: bool


@dataclass(frozen=True, slots=True)
class MeteringConfirmed:
    """Plug & Charge: the EV confirmed the meter reading ``wh`` of meter ``meter_id`` with its contract
    signature (MeteringConfirmationReq verified)."""

    meter_id: str
    wh: int


Iso20Event = Event | ServiceSelected | EvPowerRequest | StandbyChanged | MeteringConfirmed


def shared_events(events: list[Iso20Event]) -> list[Event]:
    """The events every SECC consumer understands (drops the -20-only ones), e.g. for the simulated supply."""
    return [
        e
        for e in events
        if not isinstance(e, ServiceSelected | EvPowerRequest | StandbyChanged | MeteringConfirmed)
    ]
