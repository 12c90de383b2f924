"""Test helpers of the -20 SECC tests: request builders, an engine in a given state, a dict-level EV driver."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from josev.ev.battery import Battery
from josev.ev.evcc import EvError
from josev.ev.iso20 import Evcc20, Iso20Behaviour
from josev.secc.evse import EvseView
from josev.secc.iso20 import SPEC, services
from josev.secc.iso20.context import (
    DYNAMIC,
    SCHEDULED,
    BptLimits,
    Iso20Config,
    Iso20Context,
    Iso20Evse,
    Selection,
)
from josev.secc.iso20.events import Iso20Event, shared_events
from josev.secc.machine import Engine, SessionStore
from josev.sim.supply import SimPowerSupply
from josev.v2g import sap
from josev.v2g.codec import exi_available
from josev.v2g.iso20.namespaces import NAMESPACES

SID = "0A0B0C0D0E0F1011"
EXI = exi_available() is None


def station(*, bpt: bool = True, authorized: bool | None = True, **view: Any) -> Iso20Evse:
    """An AC+DC EVSE (BPT capable unless ``bpt=False``)."""
    v = EvseView(energy_modes=("AC_three_phase_core", "DC_extended"), authorized=authorized, **view)
    return Iso20Evse(v, bpt=BptLimits() if bpt else None)


def req(name: str, sid: str = SID, /, **body: Any) -> dict[str, Any]:
    """A request with a header."""
    return {name: {"Header": {"SessionID": sid, "TimeStamp": 1700000000}, **body}}


def engine(
    state: str = "SessionSetup",
    *,
    st: Iso20Evse | None = None,
    service: int | None = None,
    mode: int = SCHEDULED,
    config: Iso20Config | None = None,
    family: str | None = None,
) -> Engine[Iso20Context]:
    """An engine put into ``state`` with SessionID :data:`SID` (and a selection when ``service`` is given)."""
    eng = Engine(SPEC, st or station(), config=config, new_session_id=lambda: SID, family=family)
    eng.state = state
    if state != "SessionSetup":
        eng.ctx.session_id = SID
        eng.ctx.auth_services = ("EIM",)
    if service is not None:
        eng.ctx.offered_services = services.offered(eng.ctx)
        sel = services.select(eng.ctx, service, 2 if mode == DYNAMIC else 1)
        assert sel is not None
        eng.ctx.selection = sel
    return eng


def selection(eng: Engine[Iso20Context]) -> Selection:
    """The engine's selection (asserted)."""
    assert eng.ctx.selection is not None
    return eng.ctx.selection


def body(res: dict[str, Any] | None) -> dict[str, Any]:
    """Content of a response."""
    assert res is not None
    return dict(next(iter(res.values())))


def code(res: dict[str, Any] | None) -> str:
    """ResponseCode of a response."""
    return str(body(res)["ResponseCode"])


def rnum(v: float) -> dict[str, int]:
    """A rational number (test side)."""
    from josev.v2g.iso20.rational import rn

    return rn(v)


@dataclass
class Run:
    """Outcome of a driven -20 session."""

    ev: Evcc20
    engine: Engine[Iso20Context]
    exchanges: list[tuple[str, str, str]] = field(default_factory=list)
    events: list[Iso20Event] = field(default_factory=list)


def drive(
    protocol: str,
    behaviour: Iso20Behaviour | None = None,
    *,
    st: Iso20Evse | None = None,
    config: Iso20Config | None = None,
    store: SessionStore | None = None,
    resume: str | None = None,
    battery: Battery | None = None,
    hook: Any = None,
    codec: bool = False,
    auto_authorize: bool = True,
    contract: Any = None,
    tamper: Any = None,
    refusal_ok: bool = False,
) -> Run:
    """Our -20 EV against our -20 SECC core on dicts (through the real EXI codec when ``codec``)."""
    import josev.exi as exi

    st = st or station()
    ev = Evcc20(protocol, battery, behaviour, resume_session=resume, contract=contract)
    sap_req = ev.start()[1]
    neg = sap.negotiate(sap_req, (sap.AppProtocol.ISO20,), NAMESPACES)
    family = "AC" if "-ac" in protocol else "DC"
    eng = Engine(SPEC, st, config=config, store=store, family=family)
    run = Run(ev, eng)
    supply = SimPowerSupply(auto_authorize=auto_authorize)
    nxt = ev.on_response(neg.response, 0.0)
    now, i = 0.0, 0
    while nxt is not None:
        schema, msg = nxt
        if tamper is not None:
            tamper(msg)
        if codec:
            msg = exi.decode(schema, exi.encode(schema, msg))
        if hook is not None:
            hook(i, st, eng)
        step = eng.step(copy.deepcopy(msg), now)
        supply.apply(st.view, shared_events(step.events))
        run.events += step.events
        assert step.response is not None, f"no response to {next(iter(msg))}"
        res = step.response
        if codec:
            res = exi.decode(step.schema, exi.encode(step.schema, res))
        run.exchanges.append((next(iter(msg)), next(iter(res)), code(res)))
        try:
            nxt = ev.on_response(res, now)
        except EvError:
            if not refusal_ok:
                raise
            break
        now += 0.05
        i += 1
        assert i < 2000
    return run
