"""The smart-charging side of the OCPP bus service: ``charging_limit`` station requests become the
coordinator's ``SetLimit(source="ocpp")`` and the retained :class:`~josev.api.ocpp.ChargingSchedule`; the
:class:`~josev.api.ocpp.SetExternalLimit` command of an external EMS becomes a local limit of the core.

A coordinator that lost the OCPP limit (restarted, or someone cleared it) shows an effective limit above it in
its ``EvseStatus``; the limit is then sent again (at most once a second per EVSE)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from josev.api import coordinator as co
from josev.api import ocpp as api
from josev.api.base import Ack, CommandError
from josev.ocpp.effects import Effect, StationRequest
from josev.ocpp.smartcharging import composite as C
from josev.ocpp.smartcharging import evneeds, messages

if TYPE_CHECKING:
    from josev.bus import Bus
    from josev.ocpp.connection import OcppClient

REASSERT_GAP_S = 1.0
"""The least time between two re-assertions of the OCPP limit on one EVSE."""
KINDS = frozenset({"charging_limit", evneeds.REPLY})
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
        clock_offset_s=data.get("clock_offset", 0.0),
        significance=data.get("significance", 0.1),
    )


class SmartBus:
    """The smart-charging bus bridge of one OCPP service."""

    def __init__(self, bus: Bus, client: Callable[[], OcppClient | None]) -> None:
        self.bus = bus
        self.client = client
        self.applied: dict[int, float | None] = {}
        """The OCPP limit last handed to the coordinator, per EVSE."""
        self._reasserted: dict[int, float] = {}
        self._seen_limit: dict[int, float | None] = {}
        """The limit the coordinator last reported, per EVSE."""
        self._recheck: dict[int, asyncio.Task[None]] = {}
        self._refs = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def on_request(self, req: StationRequest) -> None:
        """Apply a ``charging_limit`` request: the coordinator's OCPP limit first, then the retained schedule;
        or hand the CSMS's answer to NotifyEVChargingNeeds to the waiting SECC command."""
        if req.kind == evneeds.REPLY:
            fut = self._waiting.get(int(req.data["ref"]))
            if fut is not None and not fut.done():
                fut.set_result(dict(req.data["reply"]))
            return
        evse = int(req.data["evse"])
        self.applied[evse] = req.data["amps"]
        await self.bus.request(co.SetLimit(source="ocpp", amps=req.data["amps"]), evse)
        await self.bus.publish(schedule_state(req.data), evse)

    async def _on_status(self, msg: co.EvseStatus, evse: int | None) -> None:
        """A coordinator whose limit is above the OCPP limit lost it (restarted, or cleared by someone else):
        re-assert it, at most once per REASSERT_GAP_S per EVSE; a loss seen sooner is re-checked when the gap
        has passed (never dropped: no further status may come)."""
        if evse is None:
            return
        self._seen_limit[evse] = msg.limit_a
        await self._reassert(evse)

    async def _reassert(self, evse: int) -> None:
        amps = self.applied.get(evse)
        seen = self._seen_limit.get(evse)
        if amps is None or (seen is not None and seen <= amps + 0.05):
            return
        last = self._reasserted.get(evse)
        wait = 0.0 if last is None else last + REASSERT_GAP_S - time.monotonic()
        if wait > 0:
            if evse not in self._recheck:
                self._recheck[evse] = asyncio.create_task(self._recheck_after(evse, wait))
            return
        self._reasserted[evse] = time.monotonic()
        with contextlib.suppress(CommandError):
            await self.bus.request(co.SetLimit(source="ocpp", amps=amps), evse)

    async def _recheck_after(self, evse: int, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
        finally:
            self._recheck.pop(evse, None)
        await self._reassert(evse)

    async def _external(self, cmd: api.SetExternalLimit, evse: int | None) -> Ack:
        c = self.client()
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

    async def _needs(self, cmd: api.NotifyEvChargingNeeds, evse: int | None) -> api.EvChargingNeedsReply:
        """K15: NotifyEVChargingNeeds for the SECC; NoAnswer when the CSMS does not answer within 5 s."""
        c = self.client()
        if c is None or evse is None:
            return api.EvChargingNeedsReply(status="NoAnswer", reason="the OCPP client is not running")
        ref = next(self._refs)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = fut
        st = c.station
        needs = cmd.model_dump()

        def go(now: float) -> list[Effect]:
            evneeds.notify_needs(st, evse, ref, needs, now)
            st._pump(now)
            return st.take()

        try:
            await c.feed(go)
            out = await asyncio.wait_for(fut, 5.0)
        except TimeoutError:
            return api.EvChargingNeedsReply(status="NoAnswer", reason="no answer from the CSMS in time")
        finally:
            self._waiting.pop(ref, None)
        return api.EvChargingNeedsReply.model_validate(out)

    async def _ev_schedule(self, cmd: api.NotifyEvChargingSchedule, evse: int | None) -> Ack:
        """K17: NotifyEVChargingSchedule with the profile the EV chose."""
        c = self.client()
        if c is None or evse is None:
            raise CommandError("unavailable", "the OCPP client is not running")
        st = c.station

        def go(now: float) -> list[Effect]:
            evneeds.notify_schedule(st, evse, cmd.time_base, list(cmd.periods), now)
            st._pump(now)
            return st.take()

        await c.feed(go)
        return Ack()

    def close(self) -> None:
        """Cancel the pending re-checks (the service stops)."""
        for task in self._recheck.values():
            task.cancel()
        self._recheck.clear()

    def register(self) -> None:
        """Serve :class:`~josev.api.ocpp.SetExternalLimit`, NotifyEvChargingNeeds / NotifyEvChargingSchedule
        (from the SECC); watch the coordinator's applied limit."""
        self.bus.serve(api.SetExternalLimit, self._external)
        self.bus.serve(api.NotifyEvChargingNeeds, self._needs)
        self.bus.serve(api.NotifyEvChargingSchedule, self._ev_schedule)
        self.bus.subscribe(co.EvseStatus, self._on_status)


async def refresh(client: OcppClient | None) -> None:
    """Re-evaluate the limits (transactions started/ended, period boundaries while offline)."""
    if client is None:
        return
    st = client.station

    def go(now: float) -> list[Effect]:
        messages.refresh(st, now)
        return st.take()

    await client.feed(go)
