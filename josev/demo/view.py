"""The demo's live view (per EVSE: CP state, SLAC, protocol step, power, energy, OCPP) and session report."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from josev.api import coordinator as capi
from josev.api import ocpp as oapi
from josev.api import secc as sapi
from josev.api import slac as lapi
from josev.bus import Bus


@dataclass
class EvseLine:
    """What the live view knows of one EVSE."""

    cp: str = "-"
    duty: float = 0.0
    state: str = "-"
    slac: str = "-"
    protocol: str = "-"
    step: str = "-"
    power_w: float = 0.0
    energy_wh: float = 0.0
    tx: str = "-"
    seq: int = 0
    dc_v: float | None = None
    dc_i: float | None = None
    peak_dc_i: float = 0.0


@dataclass
class LiveView:
    """Collects retained state from the bus and renders it."""

    evses: int
    out: TextIO = field(default_factory=lambda: sys.stdout)
    lines: dict[int, EvseLine] = field(default_factory=dict)
    csms: str = "-"
    _drawn: int = 0

    def attach(self, bus: Bus) -> None:
        """Subscribe to the states the view shows."""
        self.lines = {e: EvseLine() for e in range(1, self.evses + 1)}
        bus.subscribe(capi.PilotState, self._pilot)
        bus.subscribe(capi.EvseStatus, self._status)
        bus.subscribe(capi.SessionMeter, self._meter)
        bus.subscribe(capi.DcSupplyState, self._dc)
        bus.subscribe(lapi.SlacState, self._slac)
        bus.subscribe(sapi.SeccSessionState, self._secc)
        bus.subscribe(sapi.HlcEvent, self._hlc)
        bus.subscribe(oapi.OcppConnection, self._csms, evse=None)
        bus.subscribe(oapi.OcppTransaction, self._tx)

    def _line(self, evse: int | None) -> EvseLine:
        return self.lines.setdefault(evse or 0, EvseLine())

    def _pilot(self, m: capi.PilotState, evse: int | None) -> None:
        ln = self._line(evse)
        ln.cp, ln.duty = m.cp or "-", m.duty_percent if m.pilot_mode == "pwm" else 0.0

    def _status(self, m: capi.EvseStatus, evse: int | None) -> None:
        self._line(evse).state = m.detailed_status

    def _meter(self, m: capi.SessionMeter, evse: int | None) -> None:
        ln = self._line(evse)
        ln.power_w, ln.energy_wh = m.power_w, m.session_energy_wh

    def _dc(self, m: capi.DcSupplyState, evse: int | None) -> None:
        ln = self._line(evse)
        ln.dc_v, ln.dc_i = m.present_voltage_v, m.present_current_a
        ln.peak_dc_i = max(ln.peak_dc_i, abs(m.present_current_a))

    def _slac(self, m: lapi.SlacState, evse: int | None) -> None:
        self._line(evse).slac = m.status

    def _secc(self, m: sapi.SeccSessionState, evse: int | None) -> None:
        ln = self._line(evse)
        ln.protocol = m.protocol or "-"
        ln.step = m.status

    def _hlc(self, m: sapi.HlcEvent, evse: int | None) -> None:
        self._line(evse).step = m.step

    def _csms(self, m: oapi.OcppConnection, evse: int | None) -> None:
        self.csms = (
            f"{'connected' if m.connected else 'offline'} ({m.registration or '-'}, queued {m.queued})"
        )

    def _tx(self, m: oapi.OcppTransaction, evse: int | None) -> None:
        ln = self._line(evse)
        ln.tx = (m.transaction_id or "-")[:8]
        ln.seq = m.next_seq_no

    def render(self) -> list[str]:
        """The current screen as lines."""
        rows = [
            f"CSMS: {self.csms}",
            "EVSE  CP       SLAC       protocol  step                     status         power     energy  OCPP tx",
        ]
        for evse, ln in sorted(self.lines.items()):
            if evse == 0:
                continue
            cp = f"{ln.cp} {ln.duty:4.1f}%" if ln.duty else ln.cp
            dc = (
                f" DC {ln.dc_v:5.1f} V {ln.dc_i:6.1f} A"
                if ln.dc_v is not None and ln.dc_i is not None
                else ""
            )
            rows.append(
                f"{evse:<5} {cp:<8} {ln.slac:<10} {ln.protocol:<9} {ln.step[:24]:<24} {ln.state[:14]:<14} "
                f"{ln.power_w / 1000:6.1f} kW {ln.energy_wh / 1000:7.3f} kWh {ln.tx} #{ln.seq}{dc}"
            )
        return rows

    def draw(self, live: bool) -> None:
        """Redraw in place on a terminal (ANSI), or print nothing when not live."""
        if not live:
            return
        rows = self.render()
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
        self.out.write("\n".join(rows) + "\n")
        self.out.flush()
        self._drawn = len(rows)

    def forget(self) -> None:
        """The next draw starts below whatever was printed meanwhile."""
        self._drawn = 0


@dataclass
class SessionResult:
    """One demo session, for the report."""

    name: str
    evse: int
    protocol: str
    ok: bool
    detail: str = ""
    duration_s: float = 0.0
    energy_wh: float = 0.0
    requests: int = 0
    slowest_ms: float | None = None
    slowest_message: str = ""
    loop_p99_ms: float | None = None
    """p99 of the charge-loop requests (CurrentDemand, ChargingStatus, AC/DC_ChargeLoop) as the EV saw them."""
    ocpp_seq: int = 0
    energy_export_wh: float = 0.0
    """Energy the vehicle returned (bidirectional power transfer), from the meter's export register."""
    payment: str = "-"
    """How the session was paid: ``card`` (the driver's RFID card, EIM) or ``Contract <eMAID>`` (Plug & Charge)."""

    def energy_text(self) -> str:
        """``delivered Wh``, or ``delivered/-returned Wh`` when the vehicle gave energy back."""
        if self.energy_export_wh >= 0.05:
            return f"{self.energy_wh:.1f}/-{self.energy_export_wh:.1f}Wh"
        return f"{self.energy_wh:.1f}Wh"


def report(results: list[SessionResult]) -> str:
    """The end-of-demo table."""
    head = (
        f"{'session':<22} {'EVSE':>4} {'protocol':<14} {'result':<7} {'duration':>8} {'energy':>12} "
        f"{'requests':>8} {'loop p99':>9} {'slowest SECC response':>32} {'OCPP events':>11}  payment"
    )
    rows = [head, "-" * len(head)]
    for r in results:
        slow = f"{r.slowest_ms:.2f} ms ({r.slowest_message})" if r.slowest_ms is not None else "-"
        loop = f"{r.loop_p99_ms:.2f} ms" if r.loop_p99_ms is not None else "-"
        rows.append(
            f"{r.name:<22} {r.evse:>4} {r.protocol:<14} {'OK' if r.ok else 'FAILED':<7} {r.duration_s:7.1f}s "
            f"{r.energy_text():>12} {r.requests:>8} {loop:>9} {slow:>32} {r.ocpp_seq:>11}  {r.payment}"
        )
        if not r.ok:
            rows.append(f"{'':<22} -> {r.detail}")
    if any(r.energy_export_wh >= 0.05 for r in results):
        rows.append("energy: delivered to the vehicle / -returned by it (bidirectional power transfer)")
    ok = sum(r.ok for r in results)
    rows.append(f"{ok} of {len(results)} sessions completed")
    return "\n".join(rows)
