"""Issue 22: paused sessions are bound to the EV that paused them (EVCCID) and expire. Before, any EV that
presented a paused SessionID rejoined it, and paused sessions were kept forever."""

from __future__ import annotations

import pytest

from josev.ev.battery import Behaviour
from josev.ev.evcc import EvError
from josev.secc.evse import EvseView
from josev.secc.machine import MAX_PAUSED, PausedSession, SessionStore

from .drive import drive


def paused_session(store: SessionStore, evse: EvseView, evcc_id: str = "020000000001") -> str:
    first = drive("iso2-dc", evse, behaviour=Behaviour(loops=10, pause_after=2, evcc_id=evcc_id), store=store)
    assert first.result.outcome == "paused"
    sid = first.result.session_id
    assert sid is not None and sid in store.paused
    return sid


def test_another_ev_with_the_old_session_id_gets_a_new_session() -> None:
    store, evse = SessionStore(), EvseView()
    sid = paused_session(store, evse)
    with pytest.raises(EvError, match="resume refused: OK_NewSessionEstablished"):
        drive("iso2-dc", evse, behaviour=Behaviour(evcc_id="0200000000FF"), store=store, resume=sid, now=10.0)
    assert sid in store.paused  # still there for the EV that paused it
    owner = drive("iso2-dc", evse, behaviour=Behaviour(loops=2), store=store, resume=sid, now=20.0)
    assert owner.exchanges[1] == ("SessionSetupReq", "SessionSetupRes", "OK_OldSessionJoined")
    assert owner.result.session_id == sid and owner.result.outcome == "finished"


def test_a_paused_session_expires() -> None:
    store, evse = SessionStore(max_pause=60.0), EvseView()
    sid = paused_session(store, evse)
    with pytest.raises(EvError, match="resume refused: OK_NewSessionEstablished"):
        drive("iso2-dc", evse, behaviour=Behaviour(loops=2), store=store, resume=sid, now=63.0)
    assert sid not in store.paused


def test_paused_sessions_are_bounded() -> None:
    store = SessionStore()
    for i in range(10):
        store.pause(PausedSession(f"{i + 1:016X}", "iso2", "020000000001", None, at=float(i)))
    assert len(store.paused) == MAX_PAUSED
    assert list(store.paused) == [f"{i + 1:016X}" for i in range(10 - MAX_PAUSED, 10)]
