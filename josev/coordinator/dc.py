"""The DC output of a DC EVSE: a sans-IO sub-machine of the coordinator with its own printable table.

Phases: OFF -> EV_WAIT (the SECC asked for the cable check while the pilot still reads B: output off, contactor
open, waiting for the EV to close S2; no C/D within ``ev_ready_timeout_s`` ends the request, reason
``ev_not_ready``, without faulting the EVSE) -> CABLE_CHECK (contactor closed, test voltage applied, insulation monitor running) -> CHECKED
(output off, contactor closed) -> PRECHARGE (EV's precharge voltage, current <= 2 A) -> CHARGING (EV's
CurrentDemand targets within the EVSE limits; negative currents discharge with BPT) -> STOPPING (current
ramped to zero, contactor still closed) -> WELDING (contactor open, waiting for the output voltage to fall
below 60 V) -> OFF. An insulation fault, an over-voltage or a voltage that does not fall after opening ends in
FAULT (the coordinator then faults the EVSE). The main coordinator state gates everything: the output may be
energised only while the EVSE is in HLC / HLC_CHARGING (see :func:`energised_allowed`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from josev.coordinator.config import DcConfig


class Dp(enum.Enum):
    """Phase of the DC output."""

    OFF = "off"
    EV_WAIT = "ev_wait"
    CABLE_CHECK = "cable_check"
    CHECKED = "checked"
    PRECHARGE = "precharge"
    CHARGING = "charging"
    STOPPING = "stopping"
    WELDING = "welding_detection"
    FAULT = "fault"


class Di(enum.Enum):
    """Input of the DC output machine."""

    CABLE_CHECK = "cable_check"
    """The SECC asks for the isolation test (StartCableCheck)."""
    EV_READY = "ev_ready"
    """The pilot reads C or D (fed on a cable-check request when it already does, else when it changes)."""
    ISO_OK = "iso_ok"
    """Insulation measured valid / warning (or no monitor fitted)."""
    ISO_FAULT = "iso_fault"
    """Insulation measured below the fault threshold."""
    PRECHARGE = "precharge"
    """A PreCharge target from the SECC."""
    CHARGE_TARGET = "charge_target"
    """A CurrentDemand target from the SECC."""
    POWER_ON = "power_on"
    """PowerDelivery start was accepted (the EVSE is in HLC_CHARGING)."""
    POWER_OFF = "power_off"
    """PowerDelivery stop."""
    SHUTDOWN = "shutdown"
    """The EVSE left HLC / HLC_CHARGING (stop, fault, unplug, HLC failure)."""
    CURRENT_LOW = "current_low"
    """Measured current below ``zero_current_a``."""
    VOLTAGE_LOW = "voltage_low"
    """Measured voltage below ``welding_voltage_v`` with the contactor open."""
    OVER_VOLTAGE = "over_voltage"
    """Measured voltage above the allowed maximum."""
    TIMEOUT = "timeout"
    """The phase's timer expired."""
    RESET = "reset"
    """The EVSE's fault was cleared / the session ended."""


CONTACTOR_PHASES = frozenset({Dp.CABLE_CHECK, Dp.CHECKED, Dp.PRECHARGE, Dp.CHARGING, Dp.STOPPING})
"""Phases in which the DC contactor is closed."""
OUTPUT_PHASES = frozenset({Dp.CABLE_CHECK, Dp.PRECHARGE, Dp.CHARGING})
"""Phases in which the power module's output is enabled."""
ACTIVE_PHASES = frozenset(Dp) - {Dp.OFF}
"""Phases in which DcSupplyState is published periodically."""
REQUESTS = frozenset({Di.CABLE_CHECK, Di.PRECHARGE, Di.POWER_ON})
"""Inputs that are requests: outside the table they are refused (the others are ignored)."""

_ENERGISED = (Dp.CABLE_CHECK, Dp.CHECKED, Dp.PRECHARGE, Dp.CHARGING)
DTABLE: dict[tuple[Dp, Di], tuple[Dp, str | None]] = {
    (Dp.OFF, Di.CABLE_CHECK): (Dp.EV_WAIT, None),
    (Dp.CHECKED, Di.CABLE_CHECK): (Dp.EV_WAIT, None),
    (Dp.EV_WAIT, Di.CABLE_CHECK): (Dp.EV_WAIT, None),
    (Dp.EV_WAIT, Di.EV_READY): (Dp.CABLE_CHECK, None),
    (Dp.EV_WAIT, Di.TIMEOUT): (Dp.OFF, None),
    (Dp.EV_WAIT, Di.SHUTDOWN): (Dp.OFF, None),
    (Dp.EV_WAIT, Di.POWER_OFF): (Dp.OFF, None),
    (Dp.CABLE_CHECK, Di.CABLE_CHECK): (Dp.CABLE_CHECK, None),
    (Dp.CABLE_CHECK, Di.ISO_OK): (Dp.CHECKED, None),
    (Dp.CABLE_CHECK, Di.TIMEOUT): (Dp.FAULT, "isolation_timeout"),
    (Dp.CHECKED, Di.PRECHARGE): (Dp.PRECHARGE, None),
    (Dp.PRECHARGE, Di.PRECHARGE): (Dp.PRECHARGE, None),
    (Dp.PRECHARGE, Di.POWER_ON): (Dp.CHARGING, None),
    (Dp.CHARGING, Di.POWER_ON): (Dp.CHARGING, None),
    (Dp.CHARGING, Di.CHARGE_TARGET): (Dp.CHARGING, None),
    (Dp.STOPPING, Di.CURRENT_LOW): (Dp.WELDING, None),
    (Dp.STOPPING, Di.TIMEOUT): (Dp.WELDING, None),
    (Dp.WELDING, Di.VOLTAGE_LOW): (Dp.OFF, None),
    (Dp.WELDING, Di.TIMEOUT): (Dp.FAULT, "dc_voltage_persists"),
    (Dp.FAULT, Di.RESET): (Dp.OFF, None),
    (Dp.OFF, Di.POWER_OFF): (Dp.OFF, None),
}
for _p in _ENERGISED:
    DTABLE[(_p, Di.ISO_FAULT)] = (Dp.FAULT, "isolation_fault")
    DTABLE[(_p, Di.OVER_VOLTAGE)] = (Dp.FAULT, "over_voltage")
    DTABLE[(_p, Di.POWER_OFF)] = (Dp.STOPPING, None)
    DTABLE[(_p, Di.SHUTDOWN)] = (Dp.STOPPING, None)
for _p in (Dp.STOPPING, Dp.WELDING):
    DTABLE[(_p, Di.OVER_VOLTAGE)] = (Dp.FAULT, "over_voltage")
for _p in Dp:
    for _i in Di:
        DTABLE.setdefault((_p, _i), (_p, None))
"""(phase, input) -> (next phase, fault reason or None); total (unlisted pairs stay put)."""

ENDS: dict[tuple[Dp, Di], str] = {(Dp.EV_WAIT, Di.TIMEOUT): "ev_not_ready"}
"""Transitions that end a request without a fault: the reason the request is refused with."""

_TIMERS = {
    Dp.EV_WAIT: "ev_ready_timeout_s",
    Dp.CABLE_CHECK: "cable_check_timeout_s",
    Dp.STOPPING: "ramp_down_timeout_s",
    Dp.WELDING: "welding_timeout_s",
}


def accepts(phase: Dp, inp: Di) -> bool:
    """True when the table does something with ``inp`` in ``phase`` (a request outside it is refused)."""
    nxt, fault = DTABLE[(phase, inp)]
    return nxt is not phase or fault is not None or (phase, inp) in _EXPLICIT


_EXPLICIT = frozenset(
    {
        (Dp.CABLE_CHECK, Di.CABLE_CHECK),
        (Dp.EV_WAIT, Di.CABLE_CHECK),
        (Dp.PRECHARGE, Di.PRECHARGE),
        (Dp.CHARGING, Di.POWER_ON),
        (Dp.CHARGING, Di.CHARGE_TARGET),
        (Dp.OFF, Di.POWER_OFF),
    }
)


def render_markdown() -> str:
    """The DC table as Markdown (pairs that stay put without a fault are left out; a request ended without a
    fault shows its reason as ``refused: ...``)."""
    lines = ["| phase | input | next | fault |", "|---|---|---|---|"]
    for (p, i), (nxt, fault) in DTABLE.items():
        if nxt is p and fault is None and (p, i) not in _EXPLICIT:
            continue
        end = ENDS.get((p, i))
        note = fault or (f"refused: {end}" if end else "-")
        lines.append(f"| {p.name} | {i.name} | {nxt.name} | {note} |")
    return "\n".join(lines) + "\n"


def classify_isolation(resistance_ohm: float | None, max_voltage_v: float) -> str:
    """IEC 61851-23 / ISO 15118 isolation level from a measurement: above 500 ohm/V ``valid``, 100..500 ohm/V
    ``warning``, below 100 ohm/V ``fault``; ``invalid`` without a measurement."""
    if resistance_ohm is None:
        return "invalid"
    per_volt = resistance_ohm / max_voltage_v
    if per_volt > 500.0:
        return "valid"
    if per_volt >= 100.0:
        return "warning"
    return "fault"


@dataclass(frozen=True)
class DcTargets:
    """What the power module is told, and what the SECC reports about the EVSE limits."""

    enabled: bool = False
    voltage_v: float = 0.0
    current_a: float = 0.0
    current_limit_achieved: bool = False
    voltage_limit_achieved: bool = False
    power_limit_achieved: bool = False


class DcFlow:
    """The DC output of one EVSE (sans-IO: inputs and the current time in, targets and faults out)."""

    def __init__(self, cfg: DcConfig) -> None:
        self.cfg = cfg
        self.phase = Dp.OFF
        self.deadline: float | None = None
        self.isolation = "invalid"
        self.resistance_ohm: float | None = None
        self.test_voltage_v = 0.0
        self.present_v = 0.0
        self.present_a = 0.0
        self.ev_max_voltage_v: float | None = None
        self.ev_max_current_a: float | None = None
        self.ev_max_power_w: float | None = None
        self.request: tuple[float, float] = (0.0, 0.0)
        """Last EV target (voltage, current)."""
        self.history: list[tuple[float, Dp, Di, Dp]] = []
        self.fault: str = ""
        self.refused: str = ""
        """Why the last request ended without a fault (:data:`ENDS`), "" otherwise."""

    def feed(self, inp: Di, now: float) -> str | None:
        """Apply an input; returns a fault reason when the output must be shut down as a fault."""
        nxt, fault = DTABLE[(self.phase, inp)]
        prev = self.phase
        self.phase = nxt
        self.history.append((now, prev, inp, nxt))
        if (prev, inp) in ENDS:
            self.refused = ENDS[(prev, inp)]
        elif nxt is Dp.EV_WAIT and prev is not Dp.EV_WAIT:
            self.refused = ""
        if nxt is not prev:
            attr = _TIMERS.get(nxt)
            self.deadline = now + float(getattr(self.cfg, attr)) if attr else None
            if nxt is Dp.CABLE_CHECK:
                self.isolation, self.resistance_ohm = "invalid", None
            if nxt is Dp.OFF:
                self.request = (0.0, 0.0)
        if fault is not None:
            self.fault = fault
        elif nxt is Dp.OFF:
            self.fault = ""
        return fault

    def poll(self, now: float) -> str | None:
        """Fire the phase timer when due."""
        if self.deadline is not None and now >= self.deadline:
            self.deadline = None
            return self.feed(Di.TIMEOUT, now)
        return None

    def max_voltage(self) -> float:
        """The lower of the EVSE's and the EV's maximum voltage."""
        ev = self.ev_max_voltage_v
        return self.cfg.max_voltage_v if ev is None else min(ev, self.cfg.max_voltage_v)

    def max_power(self, balanced_w: float) -> float:
        """Charge power limit: the EVSE rating and the balanced / OCPP / operator limit."""
        return min(self.cfg.max_power_w, balanced_w)

    def max_current(self, balanced_w: float) -> float:
        """Charge current limit: the rating, and the power limit at the present voltage (at least the EVSE's
        minimum voltage), as the SECC reports EVSEMaximumCurrentLimit."""
        v = max(self.present_v, self.cfg.min_voltage_v, 1.0)
        return min(self.cfg.max_current_a, self.max_power(balanced_w) / v)

    def discharge_limits(self, balanced_w: float) -> tuple[float | None, float | None]:
        """(max discharge current, max discharge power), None without BPT."""
        if not self.cfg.bpt:
            return None, None
        p = (
            self.cfg.max_discharge_power_w
            if self.cfg.max_discharge_power_w is not None
            else self.cfg.max_power_w
        )
        return self.cfg.max_discharge_current_a, min(p, balanced_w)

    def targets(self, balanced_w: float) -> DcTargets:
        """What the power module must do in the present phase."""
        c = self.cfg
        if self.phase is Dp.CABLE_CHECK:
            return DcTargets(True, self.test_voltage_v, c.cable_check_current_a)
        if self.phase is Dp.PRECHARGE:
            v = self.request[0]
            return DcTargets(
                True,
                min(v, self.max_voltage()),
                min(c.precharge_current_a, c.max_current_a),
                voltage_limit_achieved=v > self.max_voltage(),
            )
        if self.phase is not Dp.CHARGING:
            return DcTargets()
        v_req, i_req = self.request
        v = min(v_req, self.max_voltage())
        v_lim = v_req > self.max_voltage()
        v_for_power = max(v, self.present_v, 1.0)
        if i_req >= 0:
            i = min(i_req, c.max_current_a)
            i_lim = i_req > c.max_current_a
            p_cap = self.max_power(balanced_w) / v_for_power
            p_lim = i > p_cap
            i = min(i, p_cap)
        else:
            dis_i, dis_p = self.discharge_limits(balanced_w)
            if dis_i is None or dis_p is None:
                return DcTargets(True, v, 0.0, current_limit_achieved=True, voltage_limit_achieved=v_lim)
            i = max(i_req, -dis_i)
            i_lim = i_req < -dis_i
            p_cap = dis_p / v_for_power
            p_lim = -i > p_cap
            i = max(i, -p_cap)
        return DcTargets(True, v, i, i_lim, v_lim, p_lim)

    def measure(
        self, v: float, a: float, resistance: float | None, contactor_open: bool, now: float
    ) -> list[Di]:
        """A measurement of the output: the inputs it implies (the caller feeds them)."""
        self.present_v, self.present_a = v, a
        out: list[Di] = []
        if v > self.max_voltage() + self.cfg.over_voltage_margin_v and self.phase is not Dp.OFF:
            out.append(Di.OVER_VOLTAGE)
        if self.cfg.has_imd and resistance is not None:
            self.resistance_ohm = resistance
            level = classify_isolation(resistance, self.cfg.max_voltage_v)
            if self.phase is Dp.CABLE_CHECK and v >= 0.9 * self.test_voltage_v:
                self.isolation = level
                out.append(Di.ISO_FAULT if level == "fault" else Di.ISO_OK)
            elif self.phase in (Dp.CHECKED, Dp.PRECHARGE, Dp.CHARGING) and level != self.isolation:
                self.isolation = level
                if level == "fault":
                    out.append(Di.ISO_FAULT)
        if self.phase is Dp.STOPPING and abs(a) < self.cfg.zero_current_a:
            out.append(Di.CURRENT_LOW)
        if self.phase is Dp.WELDING and contactor_open and v < self.cfg.welding_voltage_v:
            out.append(Di.VOLTAGE_LOW)
        return out
