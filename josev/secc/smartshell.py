"""The smart-charging side of the SECC service (the shell around the sans-IO cores):

* the OCPP composite (``ocpp.ChargingSchedule``) becomes each EVSE view's power schedule, which the cores offer
  to the car and compare for renegotiation (``josev.secc.schedule``);
* OCPP K15/K17: the EV's needs go to the OCPP service (``ocpp.notify_ev_charging_needs``), whose answer the
  cores read to keep the EV waiting; the EV's chosen profile (-2 ChargingProfile, -20 scheduled EVPowerProfile)
  is published and sent on (``ocpp.notify_ev_charging_schedule``);
* the SalesTariff of Plug & Charge sessions: from ``[secc] sales_tariff`` or ``secc.set_sales_tariff``, signed
  with the SECC leaf key of ``pki_dir``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev.api import ocpp as ocpp_api
from josev.api import secc as api
from josev.api.base import Ack, CommandError
from josev.secc import events as ev
from josev.secc.evse import EvseView
from josev.secc.messages import ev_schedule, needs_command, power_schedule
from josev.secc.settings import SeccOptions

if TYPE_CHECKING:
    from josev.bus import Bus

log = logging.getLogger("josev.secc")


def tariff_and_key(opts: SeccOptions) -> tuple[Any, Any] | None:
    """The configured SalesTariff (or None) and the SECC leaf key (ISO 15118-2 profile of ``pki_dir``) that
    signs it and those set on the bus; None without Plug & Charge."""
    if not opts.pnc or not opts.pki_dir:
        if opts.sales_tariff:
            raise ValueError(
                "[secc] sales_tariff needs pnc and pki_dir (it is signed with the SECC leaf key)"
            )
        return None
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from josev.v2g.sales_tariff import from_config

    path = Path(opts.pki_dir) / "iso2" / "keys" / "secc_leaf.key"
    try:
        key = load_pem_private_key(path.read_bytes(), None)
    except (OSError, ValueError, TypeError) as e:
        if not opts.sales_tariff:
            return None  # a set_sales_tariff command will say there is no key
        raise ValueError(f"[secc] sales_tariff: cannot load the SECC key {path}: {e}") from None
    tariff = from_config(opts.sales_tariff, opts.sales_tariff_description) if opts.sales_tariff else None
    return tariff, key


class SmartShell:
    """Schedules, K15/K17 and the SalesTariff for the SECC service's EVSE views."""

    def __init__(
        self,
        views: dict[int, EvseView],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
        *,
        csms_wait: float = 0.0,
        sales_tariff: tuple[Any, Any] | None = None,
        max_schedule_entries: int = 1024,
    ) -> None:
        self.views = views
        self.max_schedule_entries = max_schedule_entries
        self.spawn = spawn
        self.csms_wait = csms_wait
        self.sales_tariff = sales_tariff
        self.bus: Bus | None = None

    def attach(self, view: EvseView) -> None:
        """Set up a new EVSE view."""
        view.csms_wait = self.csms_wait
        view.max_schedule_entries = self.max_schedule_entries
        if self.sales_tariff is not None:
            view.sales_tariff, view.tariff_key = self.sales_tariff

    def register(self, bus: Bus) -> None:
        """Subscribe to the composite, serve ``set_sales_tariff``."""
        self.bus = bus
        bus.subscribe(ocpp_api.ChargingSchedule, self._on_schedule)
        bus.serve(api.SetSalesTariff, self._set_tariff)

    def on_event(self, evse: int, e: Any) -> bool:
        """A session event of ``evse``; True when it was handled here (nothing else to publish)."""
        view = self.views[evse]
        bus = self.bus
        if isinstance(e, ev.SessionStarted):
            view.needs_status = None
        elif isinstance(e, ev.EvChargeParameters) and self.csms_wait > 0 and bus is not None:
            view.needs_status = None
            self.spawn(self._ask_csms(bus, evse, e))
        if not isinstance(e, ev.EvChargingProfile) or bus is None:
            return False
        sched = ev_schedule(e, time.time() - time.monotonic())
        log.info("secc: EVSE %d: the EV's charging profile (s, W) %s", evse, list(e.entries))
        self.spawn(bus.publish(sched, evse))
        if self.csms_wait > 0:  # OCPP K17
            periods = [(p.start_s, p.max_power_w) for p in sched.entries]
            cmd = ocpp_api.NotifyEvChargingSchedule(time_base=sched.start, periods=periods)
            self.spawn(self._notify(bus, cmd, evse))
        return True

    def _on_schedule(self, msg: Any, evse: int | None) -> None:
        """The OCPP composite becomes the view's power schedule on the cores' clock; a change bumps
        ``schedule_version`` (the cores decide with the significance whether the car renegotiates)."""
        view = self.views.get(evse or 0)
        if view is None:
            return
        new = power_schedule(msg, view, time.time() - time.monotonic())
        if new != view.schedule:
            view.schedule = new
            view.schedule_version += 1

    async def _ask_csms(self, bus: Bus, evse: int, e: ev.EvChargeParameters) -> None:
        """OCPP K15: the EV's needs to the CSMS; its answer decides how long the EV waits for a profile."""
        view = self.views[evse]
        try:
            res = await bus.request(needs_command(e, time.time()), evse, timeout=4.0)
            view.needs_status = res.status
        except CommandError as err:
            log.info("secc: EVSE %d NotifyEVChargingNeeds: %s", evse, err)
            view.needs_status = "NoAnswer"

    async def _notify(self, bus: Bus, cmd: ocpp_api.NotifyEvChargingSchedule, evse: int) -> None:
        try:
            await bus.request(cmd, evse)
        except CommandError as err:  # no OCPP service: logged, the session goes on
            log.info("secc: EVSE %d NotifyEVChargingSchedule: %s", evse, err)

    async def _set_tariff(self, cmd: api.SetSalesTariff, evse: int | None) -> Ack:
        """A SalesTariff from the bus for the next Plug & Charge offers of the EVSE (none: the configured one)."""
        from josev.v2g.sales_tariff import from_config

        view = self.views.get(evse or 0)
        if view is None:
            raise CommandError("invalid_request", f"EVSE {evse} is not served by the SECC")
        if self.sales_tariff is None or self.sales_tariff[1] is None:
            raise CommandError("unavailable", "no SECC key to sign a SalesTariff ([secc] pnc and pki_dir)")
        configured, key = self.sales_tariff
        if not cmd.entries:
            view.sales_tariff, view.tariff_key = configured, key
            return Ack()
        try:
            tariff = from_config(
                [{**e.model_dump(), "cost": [c.model_dump() for c in e.cost]} for e in cmd.entries],
                cmd.description,
            )
        except ValueError as e:
            raise CommandError("invalid_request", f"sales tariff: {e}") from None
        view.sales_tariff, view.tariff_key = tariff, key
        return Ack()
