"""DC part of the HAL service: the power module and insulation monitor of DC channels on the bus."""

from __future__ import annotations

from dataclasses import dataclass, field

from hal.interfaces import Channel
from josev.api import hal as api
from josev.api.base import CommandError


@dataclass
class DcPublisher:
    """Decides when a channel's :class:`~josev.api.hal.DcOutputState` is worth publishing (sans-IO).

    Structural changes (switching, targets, insulation result) go out at once; measured voltage / current only
    when they moved by more than the deadband, and not more often than ``min_interval_s``."""

    deadband_v: float = 1.0
    deadband_a: float = 0.5
    min_interval_s: float = 0.02
    last: dict[int, api.DcOutputState] = field(default_factory=dict)
    _at: dict[int, float] = field(default_factory=dict)

    def offer(self, evse: int, msg: api.DcOutputState, now: float) -> bool:
        """True when ``msg`` should be published (and remembers it as the last one)."""
        prev = self.last.get(evse)
        if prev is None:
            changed = True
        else:
            structural = prev.model_copy(
                update={"present_voltage_v": 0.0, "present_current_a": 0.0, "t_mono": 0.0}
            ) != msg.model_copy(update={"present_voltage_v": 0.0, "present_current_a": 0.0, "t_mono": 0.0})
            moved = (
                abs(prev.present_voltage_v - msg.present_voltage_v) > self.deadband_v
                or abs(prev.present_current_a - msg.present_current_a) > self.deadband_a
                or (msg.present_voltage_v == 0.0) != (prev.present_voltage_v == 0.0)
            )
            changed = structural or (moved and now - self._at.get(evse, -1e9) >= self.min_interval_s)
        if changed:
            self.last[evse] = msg
            self._at[evse] = now
        return changed


def read_dc(ch: Channel, now: float) -> api.DcOutputState | None:
    """The DC state of a channel (None for an AC channel)."""
    sup = ch.dc_supply
    if sup is None:
        return None
    v, i = sup.present()
    imd = ch.isolation
    enabled, target_v, target_a = sup.output()
    return api.DcOutputState(
        enabled=enabled,
        target_voltage_v=target_v,
        target_current_a=target_a,
        present_voltage_v=round(v, 3),
        present_current_a=round(i, 3),
        isolation_running=imd.running() if imd is not None else False,
        isolation_resistance_ohm=imd.resistance_ohm() if imd is not None else None,
        has_imd=imd is not None,
        t_mono=now,
    )


def set_dc_output(ch: Channel, evse: int, cmd: api.SetDcOutput, safe_reason: str | None) -> None:
    """Execute :class:`~josev.api.hal.SetDcOutput` (switching on is refused in the safe state)."""
    sup = ch.dc_supply
    if sup is None:
        raise CommandError("invalid_request", f"EVSE {evse} has no DC power module")
    if cmd.enabled and safe_reason is not None:
        raise CommandError("unavailable", f"EVSE {evse} held in safe state: {safe_reason}")
    if cmd.enabled:
        sup.set_target(cmd.voltage_v, cmd.current_a)
        sup.set_enabled(True)
    else:
        sup.set_enabled(False)
        sup.set_target(cmd.voltage_v, cmd.current_a)


def set_isolation(ch: Channel, evse: int, cmd: api.SetIsolationMonitor) -> None:
    """Execute :class:`~josev.api.hal.SetIsolationMonitor`."""
    imd = ch.isolation
    if imd is None:
        raise CommandError("invalid_request", f"EVSE {evse} has no insulation monitor")
    if cmd.running:
        imd.start()
    else:
        imd.stop()
