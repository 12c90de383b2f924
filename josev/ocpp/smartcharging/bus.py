"""The smart-charging side of the OCPP bus service: ``charging_limit`` station requests become the
coordinator's ``SetLimit(source="ocpp")`` and the retained :class:`~josev.api.ocpp.ChargingSchedule`; the
:class:`~josev.api.ocpp.SetExternalLimit` command of an external EMS becomes a local limit of the core."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from josev.api import coordinator as co
from josev.api import ocpp as api
from josev.api.base import Ack, CommandError
from josev.ocpp.effects import Effect, StationRequest
from josev.ocpp.smartcharging import composite as C
from josev.ocpp.smartcharging import messages

if TYPE_CHECKING:
    from josev.bus import Bus
    from josev.ocpp.connection import OcppClient

KINDS = frozenset({"charging_limit"})
"""Station requests handled here."""


def schedule_state(data: dict[str, Any]) -> api.ChargingSchedule:
    """The bus state of a ``charging_limit`` request."""
    sched = data["schedule"]
    return api.ChargingSchedule(
        limit_a=data["amps"],
        schedule_start=_dt.datetime.fromisoformat(sched["scheduleStart"].replace("Z", "+00:00")),
        duration_s=sched["duration"],
        periods=[
            api.SchedulePeriod(
                start_s=p["startPeriod"], limit=p["limit"], number_phases=p.get("numberPhases", 3)
            )
            for p in sched["chargingSchedulePeriod"]
        ],
    )


async def on_request(bus: Bus, req: StationRequest) -> None:
    """Apply a ``charging_limit`` request: the coordinator's OCPP limit first, then the retained schedule."""
    evse = int(req.data["evse"])
    await bus.request(co.SetLimit(source="ocpp", amps=req.data["amps"]), evse)
    await bus.publish(schedule_state(req.data), evse)


def register(bus: Bus, client: Callable[[], OcppClient | None]) -> None:
    """Serve :class:`~josev.api.ocpp.SetExternalLimit`."""

    async def external(cmd: api.SetExternalLimit, evse: int | None) -> Ack:
        c = client()
        if c is None:
            raise CommandError("unavailable", "the OCPP client is not running")
        limit = None
        if cmd.amps is not None:
            limit = C.Limit(cmd.amps, "A", cmd.source)
        elif cmd.watts is not None:
            limit = C.Limit(cmd.watts, "W", cmd.source)
        problem: list[str] = []

        def apply(now: float) -> list[Effect]:
            st = c.station
            why = messages.set_local_limit(st, cmd.evse_id, limit, now)
            if why is not None:
                problem.append(why)
            st._pump(now)
            return st.take()

        await c.feed(apply)
        if problem:
            raise CommandError("rejected", problem[0])
        return Ack()

    bus.serve(api.SetExternalLimit, external)


async def refresh(client: OcppClient | None) -> None:
    """Re-evaluate the limits (transactions started/ended, period boundaries while offline)."""
    if client is None:
        return
    st = client.station

    def go(now: float) -> list[Effect]:
        messages.refresh(st, now)
        return st.take()

    await client.feed(go)
