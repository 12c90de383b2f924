"""EV and EVSE cores through the modem emulator in-process (virtual time): whole sessions."""

from __future__ import annotations

import pytest

from josev.sim.modem import EmulatedModem, PlcEmulator
from josev.sim.modem_loopback import Loopback
from josev.slac.ev import E, EvSlac, EvSlacConfig, Validate
from josev.slac.events import (
    ModemVendor,
    SlacEvent,
    SlacStatus,
    StatusChanged,
    ToggleRequest,
    ValidationWindow,
)
from josev.slac.evse import EvseSlac, EvseSlacConfig, S
from josev.slac.frame import encode_frame, parse_frame
from josev.slac.messages import CmStartAttenCharInd, VsNwInfoCnf, VsNwInfoReq
from josev.slac.modem import QCA_LOCAL_MANAGEMENT_MAC


def mac(kind: int, i: int) -> bytes:
    return bytes([0x02, kind, 0, 0, 0, i])


def station(
    n: int,
    vendor: ModemVendor = ModemVendor.QUALCOMM,
    crosstalk_db: int | None = None,
    validate: Validate = Validate.NEVER,
) -> tuple[Loopback, list[EvseSlac], list[EvSlac]]:
    modems = {}
    att: dict[tuple[str, str], int] = {}
    for i in range(n):
        modems[f"evse{i}"] = EmulatedModem(mac(0x10, i), vendor)
        modems[f"ev{i}"] = EmulatedModem(mac(0x20, i), vendor)
        att[(f"evse{i}", f"ev{i}")] = 20 + i
        if crosstalk_db is not None:
            for j in range(n):
                if j != i:
                    att[(f"evse{j}", f"ev{i}")] = crosstalk_db
    lb = Loopback(PlcEmulator(modems, att))
    evses = [
        EvseSlac(EvseSlacConfig(mac=mac(0xAA, i), evse_id=f"EVSE{i}".encode().ljust(17, b"\0")))
        for i in range(n)
    ]
    evs = [EvSlac(EvSlacConfig(mac=mac(0xBB, i), validate=validate)) for i in range(n)]
    for i in range(n):
        lb.attach(f"evse{i}", evses[i])
        lb.attach(f"ev{i}", evs[i])
        lb.feed(f"evse{i}", evses[i].start(0.0))
        lb.feed(f"ev{i}", evs[i].probe_modem(0.0))
    lb.run_until(1.0)
    for i in range(n):
        lb.feed(f"evse{i}", evses[i].cp_state("A", lb.now))
        lb.feed(f"evse{i}", evses[i].cp_state("B", lb.now))
    return lb, evses, evs


def all_matched(evses: list[EvseSlac], evs: list[EvSlac]) -> bool:
    return all(e.state is S.MATCHED for e in evses) and all(v.state is E.MATCHED for v in evs)


@pytest.mark.parametrize("vendor", list(ModemVendor))
def test_session_reaches_matched_and_keys_agree(vendor: ModemVendor) -> None:
    lb, (evse,), (ev,) = station(1, vendor)
    lb.feed("ev0", ev.start(lb.now))
    t0 = lb.now
    lb.run_until(30, stop=lambda: all_matched([evse], [ev]))
    assert all_matched([evse], [ev])
    assert (ev.nmk, ev.nid) == (evse.nmk, evse.nid)
    assert lb.emulator.modems["ev0"].nmk == lb.emulator.modems["evse0"].nmk == evse.nmk
    assert lb.now - t0 < 2.0  # PARM window + 13 frames x 20 ms + link polls
    assert evse.modem.vendor is vendor and ev.modem.vendor is vendor
    statuses = [e.status for _, p, e in lb.events if p == "evse0" and isinstance(e, StatusChanged)]
    assert statuses == [SlacStatus.MATCHING, SlacStatus.MATCHED]
    assert set(evse.counters) <= {"rx"} and set(ev.counters) <= {"rx"}


def test_validation_with_cp_toggles_end_to_end() -> None:
    lb, (evse,), (ev,) = station(1, validate=Validate.ALWAYS)

    def toggle(port: str, event: SlacEvent, now: float) -> None:
        # the EV's S2 toggles arrive at the EVSE's CP input: schedule B-C-B with the requested timing
        if port == "ev0" and isinstance(event, ToggleRequest):
            plan.extend([(now + 0.05, "C"), (now + 0.05 + event.state_duration, "B")])

    plan: list[tuple[float, str]] = []
    lb.listeners.append(toggle)
    lb.feed("ev0", ev.start(lb.now))
    while plan or not all_matched([evse], [ev]):
        if plan:
            t, letter = plan.pop(0)
            lb.run_until(t)
            lb.feed("evse0", evse.cp_state(letter, lb.now))
        else:
            lb.run_until(lb.now + 5, stop=lambda: all_matched([evse], [ev]) or bool(plan))
            if lb.now > 60:
                break
    assert all_matched([evse], [ev]) and ev.nmk == evse.nmk
    windows = lb.of_type("evse0", ValidationWindow)
    assert [w.open for w in windows] == [True, False] and windows[-1].toggles == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("together", [False, True], ids=["one_after_the_other", "all_at_once"])
def test_several_evses_with_crosstalk_each_ev_finds_its_own(together: bool) -> None:
    lb, evses, evs = station(3, crosstalk_db=60)
    for i, ev in enumerate(evs):
        lb.feed(f"ev{i}", ev.start(lb.now))
        if not together:
            n = i + 1
            lb.run_until(lb.now + 20, stop=lambda n=n: all_matched(evses[:n], evs[:n]))  # type: ignore[misc]
    lb.run_until(lb.now + 20, stop=lambda: all_matched(evses, evs))
    assert all_matched(evses, evs)
    for evse, ev in zip(evses, evs, strict=True):
        assert ev.chosen is not None and ev.chosen.mac == evse.cfg.mac and ev.nmk == evse.nmk
    assert len({e.nmk for e in evses}) == 3
    # crosstalk EVs got sessions too, which expired when their EV chose its own EVSE (or were dropped at match)
    assert sum(e.counters["session_expired"] + e.counters["foreign_ev"] for e in evses) > 0


def test_garbage_on_the_line_does_not_disturb_a_session() -> None:
    lb, (evse,), (ev,) = station(1)
    junk_sent = []

    def tap(port: str, raw: bytes) -> bytes | None:
        # behind every frame the EV sends, put garbage on the wire towards the EVSE
        if port == "ev0":
            run = parse_frame(raw).message
            if isinstance(run, CmStartAttenCharInd):
                for bad in (
                    raw[:25],
                    raw[:14] + b"\x05" + raw[15:],
                    raw[:15] + b"\x38\x60" + raw[17:],
                    encode_frame(b"\xff" * 6, raw[6:12], CmStartAttenCharInd(raw[6:12], bytes(8))),
                    encode_frame(b"\xff" * 6, mac(0xCC, 1), CmStartAttenCharInd(mac(0xCC, 1), bytes(8))),
                ):
                    lb.inject("evse0", bad)
                    junk_sent.append(bad)
        return raw

    lb.tap = tap
    lb.feed("ev0", ev.start(lb.now))
    lb.run_until(30, stop=lambda: all_matched([evse], [ev]))
    assert all_matched([evse], [ev]) and junk_sent
    c = evse.counters
    assert (
        c["truncated"] and c["malformed"] and c["unknown_mmtype"] and c["foreign_run_id"] and c["foreign_ev"]
    )


def test_unplug_and_replug_gives_a_new_network() -> None:
    lb, (evse,), (ev,) = station(1)
    lb.feed("ev0", ev.start(lb.now))
    lb.run_until(30, stop=lambda: all_matched([evse], [ev]))
    first = evse.nmk
    lb.feed("evse0", evse.cp_state("A", lb.now))
    lb.feed("ev0", ev.stop(lb.now))
    lb.run_until(lb.now + 0.5)
    assert evse.status is SlacStatus.UNMATCHED and not lb.emulator.linked("evse0", "ev0", lb.now)
    lb.feed("evse0", evse.cp_state("B", lb.now))
    lb.feed("ev0", ev.start(lb.now))
    lb.run_until(lb.now + 30, stop=lambda: all_matched([evse], [ev]))
    assert all_matched([evse], [ev]) and evse.nmk != first and ev.nmk == evse.nmk


def test_emulator_network_info_lists_the_ev() -> None:
    lb, (evse,), (ev,) = station(1)
    lb.feed("ev0", ev.start(lb.now))
    lb.run_until(30, stop=lambda: all_matched([evse], [ev]))
    out = lb.emulator.from_host(
        "evse0", encode_frame(QCA_LOCAL_MANAGEMENT_MAC, evse.cfg.mac, VsNwInfoReq()), lb.now
    )
    info = parse_frame(out[0][1]).message
    assert isinstance(info, VsNwInfoCnf) and info.networks[0].nid == evse.nid
    assert info.networks[0].stations[0].mac == lb.emulator.modems["ev0"].mac
