"""Test helper: run our EVCC core against our SECC core on dicts (no codec, no sockets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from josev.ev.battery import Battery, Behaviour
from josev.ev.evcc import Evcc, EvResult
from josev.secc.events import Event
from josev.secc.evse import EvseView
from josev.secc.machine import SessionStore
from josev.secc.session import SeccSession, SessionConfig
from josev.sim.supply import SimPowerSupply


def body_name(msg: dict[str, Any]) -> str:
    """Name of the message in a V2G_Message or SAP dict."""
    if "V2G_Message" in msg:
        return str(next(iter(msg["V2G_Message"]["Body"])))
    return next(iter(msg))


def code_of(msg: dict[str, Any]) -> str:
    """ResponseCode of a response dict."""
    if "V2G_Message" in msg:
        return str(next(iter(msg["V2G_Message"]["Body"].values())).get("ResponseCode"))
    return str(next(iter(msg.values())).get("ResponseCode"))


@dataclass
class Run:
    """Outcome of a driven session."""

    result: EvResult
    exchanges: list[tuple[str, str, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    secc: SeccSession | None = None


def drive(
    protocol: str,
    evse: EvseView | None = None,
    *,
    battery: Battery | None = None,
    behaviour: Behaviour | None = None,
    store: SessionStore | None = None,
    resume: str | None = None,
    supply: SimPowerSupply | None = None,
    hook: Any = None,
    config: SessionConfig | None = None,
    now: float = 0.0,
    step: float = 0.05,
) -> Run:
    """Run one connection to its end; ``hook(i, evse, secc)`` may change the EVSE between requests."""
    if evse is None:
        evse = EvseView(energy_modes=("AC_three_phase_core",) if protocol == "iso2-ac" else ("DC_extended",))
    supply = supply or SimPowerSupply()
    ev = Evcc(protocol, battery, behaviour, resume_session=resume)
    secc = SeccSession(evse, now, config=config, store=store)
    run = Run(ev.result, secc=secc)
    nxt: tuple[str, dict[str, Any]] | None = ev.start()
    i = 0
    while nxt is not None:
        _schema, req = nxt
        if hook is not None:
            hook(i, evse, secc)
        out = secc.handle_message(req, now)
        supply.apply(evse, out.events)
        run.events += out.events
        assert out.response is not None, f"no response to {body_name(req)}"
        run.exchanges.append((body_name(req), body_name(out.response), code_of(out.response)))
        nxt = ev.on_response(out.response, now)
        now += step
        i += 1
        assert i < 2000
    return run
