"""Smart-charging schedules reach the car (sans-IO: our EV core against our SECC cores on dicts).

The night/day composite (20 kW until 06:00, 10 kW after; 28.9 A / 14.4 A per phase on three phases of 230 V
= 19941 W / 9936 W) becomes the ISO 15118-2 / DIN PMaxSchedule and the -20 PowerSchedule; the EV's current
target follows it across the boundary; a significant change of the composite makes the car renegotiate, a
period boundary it already knows does not; an EV profile above the schedule is refused."""

from __future__ import annotations

from josev.ev.battery import Behaviour
from josev.ev.iso20.evcc import Iso20Behaviour
from josev.secc import schedule as S
from josev.secc.events import EvChargingProfile
from josev.secc.evse import EvseView
from josev.secc.iso2 import power_delivery
from josev.secc.machine import Context, HandlerError, SessionStore
from josev.secc.timers import DEFAULT_TIMERS
from tests.secc.drive import drive
from tests.secc.iso20.helpers import drive as drive20
from tests.secc.iso20.helpers import station

NIGHT_W, DAY_W = 19941.0, 9936.0


def night_day(boundary: float) -> S.PowerSchedule:
    """The composite as the SECC shell builds it: 28.9 A then 14.4 A at ``boundary`` (cores' clock)."""
    return S.from_amps(boundary - 3600, [(0, 28.9, 3), (3600, 14.4, 3)], 3, 230.0)


def test_entries_from_the_composite() -> None:
    sch = night_day(100.0)
    assert sch.periods == ((0, NIGHT_W), (3600, DAY_W))
    # 40 s before the boundary: both periods, relative to now; the first capped by the present limit
    assert S.entries(sch, 60.0, 50_000.0, 50_000.0) == [(0, NIGHT_W), (40, DAY_W)]
    assert S.entries(sch, 60.0, 15_000.0, 50_000.0) == [(0, 15_000.0), (40, DAY_W)]
    # the rating caps every period; a departure before the boundary leaves one entry; max entries
    assert S.entries(sch, 60.0, 50_000.0, 12_000.0) == [(0, 12_000.0), (40, DAY_W)]
    assert S.entries(sch, 60.0, 50_000.0, 50_000.0, horizon=30) == [(0, NIGHT_W)]
    assert S.entries(sch, 60.0, 50_000.0, 50_000.0, max_entries=1) == [(0, NIGHT_W)]
    assert S.entries(None, 60.0, 22_000.0, 50_000.0) == [(0, 22_000.0)]
    # AC: the fewer phases of the period and the EVSE
    assert S.from_amps(0, [(0, 16.0, 3)], 1, 230.0).periods == ((0, 3680.0),)
    assert S.durations([(0, NIGHT_W), (40, DAY_W)], 86_400) == [(40, NIGHT_W), (86_360, DAY_W)]


def test_differs_uses_the_significance() -> None:
    old = ((0.0, 20_000.0), (100.0, 10_000.0))
    assert not S.differs(old, ((0.0, 19_000.0), (100.0, 10_500.0)), 0.0, 200.0, 0.1)
    assert S.differs(old, ((0.0, 20_000.0), (100.0, 5_000.0)), 0.0, 200.0, 0.1)
    # a change after the offer's end is not the car's business yet
    assert not S.differs(old, ((0.0, 20_000.0), (100.0, 10_000.0), (300.0, 5_000.0)), 0.0, 200.0, 0.1)
    # a boundary moved by less than a second is the same boundary
    assert not S.differs(old, ((0.0, 20_000.0), (100.4, 10_000.0)), 0.0, 200.0, 0.1)


def test_iso2_dc_car_gets_both_periods_and_follows_the_boundary() -> None:
    view = EvseView(energy_modes=("DC_extended",), rated_power=50_000.0)
    view.schedule = night_day(2.0)  # the boundary 2 s into the session (40 exchanges of 0.05 s)
    run = drive("iso2-dc", view, behaviour=Behaviour(loops=40))
    r = run.result
    assert r.outcome == "finished" and r.renegotiations == 0
    (offered,) = r.schedules
    assert offered[0] == (0, NIGHT_W) and offered[1][1] == DAY_W and 1 <= offered[1][0] <= 2
    # the DC current target: 19941 W / 400 V = 49.85 A, then 9936 W / 400 V = 24.84 A
    assert [v for _, v in r.targets] == [49.85, 24.84]
    profiles = [e for e in run.events if isinstance(e, EvChargingProfile)]
    assert profiles and profiles[0].entries == tuple(offered)


def test_iso2_ac_pmax_schedule_and_draw() -> None:
    view = EvseView(energy_modes=("AC_three_phase_core",), rated_power=22_080.0)
    view.limits.ac_max_current = 32.0
    view.schedule = S.from_amps(-10.0, [(0, 28.9, 3), (12, 14.4, 3)], 3, 230.0)
    run = drive("iso2-ac", view, behaviour=Behaviour(loops=60))
    r = run.result
    assert r.schedules[0] == [(0, NIGHT_W), (2, DAY_W)]
    assert [v for _, v in r.targets] == [NIGHT_W, DAY_W]


def test_din_schedule_entries() -> None:
    view = EvseView(energy_modes=("DC_extended",), rated_power=50_000.0)
    view.schedule = night_day(30.0)
    run = drive("din", view, behaviour=Behaviour(loops=3))
    assert run.result.schedules[0] == [(0, NIGHT_W), (30, DAY_W)] or run.result.schedules[0][1][1] == DAY_W


def test_significant_change_makes_the_car_renegotiate_and_follow() -> None:
    view = EvseView(energy_modes=("DC_extended",), rated_power=50_000.0)
    view.schedule = night_day(3600.0)

    def hook(i: int, evse: EvseView, secc: object) -> None:
        if i == 20 and evse.schedule_version == 0:  # a CSMS profile of 5 kW during charging
            evse.schedule = S.PowerSchedule(0.0, ((0, 5000.0),))
            evse.schedule_version += 1

    run = drive("iso2-dc", view, behaviour=Behaviour(loops=12), hook=hook)
    r = run.result
    assert r.renegotiations == 1
    assert r.schedules[0] == [(0, NIGHT_W), (3599, DAY_W)] or r.schedules[0][0] == (0, NIGHT_W)
    assert r.schedules[-1] == [(0, 5000.0)]
    assert r.targets[-1][1] == 12.5  # 5000 W / 400 V


def test_small_change_and_known_boundary_do_not_renegotiate() -> None:
    view = EvseView(energy_modes=("DC_extended",), rated_power=50_000.0)
    view.limits.max_power = NIGHT_W  # the coordinator applies the OCPP limit
    view.schedule = night_day(2.0)

    def hook(i: int, evse: EvseView, secc: object) -> None:
        if i == 30 and evse.schedule_version == 0:  # 5 % less: below LimitChangeSignificance (10 %)
            evse.schedule = S.PowerSchedule(evse.schedule.start, ((0, NIGHT_W * 0.95), (3600, DAY_W)))
            evse.schedule_version += 1
        if i == 45 and evse.limits_version == 0:  # the boundary: the coordinator lowers the limit
            evse.limits.max_power = DAY_W
            evse.limits_version += 1

    run = drive("iso2-dc", view, behaviour=Behaviour(loops=40), hook=hook)
    assert run.result.outcome == "finished" and run.result.renegotiations == 0


def test_limit_below_the_offer_renegotiates() -> None:
    """Another limit of the coordinator (station share) cuts the power below the offered schedule."""
    view = EvseView(energy_modes=("DC_extended",), rated_power=50_000.0)
    view.schedule = night_day(3600.0)

    def hook(i: int, evse: EvseView, secc: object) -> None:
        if i == 20 and evse.limits_version == 0:
            evse.limits.max_power = 8000.0
            evse.limits_version += 1

    run = drive("iso2-dc", view, behaviour=Behaviour(loops=12), hook=hook)
    assert run.result.renegotiations == 1
    assert run.result.schedules[-1][0] == (0, 8000.0)


def _ctx_offered(now: float) -> Context:
    view = EvseView(energy_modes=("DC_extended",))
    ctx = Context("iso2", view, DEFAULT_TIMERS, SessionStore(), lambda: "00")
    ctx.energy_mode = "DC_extended"
    ctx.offered_schedule = S.offered([(0, NIGHT_W), (60, DAY_W)], now)
    ctx.offered_pmax = NIGHT_W
    return ctx


def _pd(entries: list[tuple[int, float]]) -> dict[str, object]:
    return {
        "ChargeProgress": "Start",
        "SAScheduleTupleID": 1,
        "ChargingProfile": {
            "ProfileEntry": [
                {
                    "ChargingProfileEntryStart": s,
                    "ChargingProfileEntryMaxPower": {"Multiplier": 0, "Unit": "W", "Value": int(w)},
                }
                for s, w in entries
            ]
        },
        "DC_EVPowerDeliveryParameter": {
            "DC_EVStatus": {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": 30},
            "BulkChargingComplete": False,
            "ChargingComplete": False,
        },
    }


def test_profile_above_the_schedule_is_refused() -> None:
    ctx = _ctx_offered(100.0)
    res, nxt = power_delivery.handle(ctx, _pd([(0, 19000), (60, 9000)]), 101.0, "PowerDelivery")
    assert res["ResponseCode"] == "OK" and nxt == "CurrentDemand"
    ctx = _ctx_offered(100.0)
    try:
        power_delivery.handle(ctx, _pd([(0, 19000), (60, 9000), (120, 15000)]), 101.0, "PowerDelivery")
    except HandlerError as e:
        assert e.code == "FAILED_ChargingProfileInvalid"
        assert "15000 W at +120 s exceeds the offered 9936 W" in e.detail
    else:
        raise AssertionError("a profile above the schedule must be refused")


def test_iso20_scheduled_power_schedule_and_renegotiation() -> None:
    st = station(bpt=False, rated_power=50_000.0)
    st.view.schedule = night_day(3.0)

    def hook(i: int, s: object, eng: object) -> None:
        view = st.view
        if i == 90 and view.schedule_version == 0:
            view.schedule = S.PowerSchedule(0.0, ((0, 5000.0),))
            view.schedule_version += 1

    run = drive20("iso20-dc", Iso20Behaviour(dynamic=False, loops=80), st=st, hook=hook)
    r = run.ev.result
    first = r.schedules[0]
    assert first[0] == (0, NIGHT_W) and first[1][1] == DAY_W
    assert r.renegotiations == 1 and r.schedules[-1] == [(0, 5000.0)]
    values = [v for _, v in r.targets]
    assert values[:2] == [49.85, 24.84] and values[-1] == 12.5


def test_csms_processing_keeps_the_ev_waiting_for_the_profile() -> None:
    """OCPP K15: NotifyEVChargingNeeds answered Processing - the EV gets EVSEProcessing Ongoing until the CSMS's
    profile changed the composite, then the new schedule; Rejected - the schedule at hand at once."""
    view = EvseView(energy_modes=("DC_extended",), rated_power=50_000.0, csms_wait=20.0)
    view.schedule = night_day(3600.0)

    def hook(i: int, evse: EvseView, secc: object) -> None:
        if i == 8 and evse.needs_status is None:
            evse.needs_status = "Processing"
        if i == 20 and evse.schedule_version == 0:  # the CSMS's profile arrives
            evse.schedule = S.PowerSchedule(0.0, ((0, 7000.0),))
            evse.schedule_version += 1

    run = drive("iso2-dc", view, behaviour=Behaviour(loops=3), hook=hook)
    cpd = [x for x in run.exchanges if x[0] == "ChargeParameterDiscoveryReq"]
    assert len(cpd) >= 10  # Ongoing while waiting
    assert run.result.schedules == [[(0, 7000.0)]] and run.result.renegotiations == 0
    params = [e for e in run.events if type(e).__name__ == "EvChargeParameters"]
    assert len(params) == 1  # the needs go to the CSMS once per negotiation

    view = EvseView(
        energy_modes=("DC_extended",), rated_power=50_000.0, csms_wait=20.0, needs_status="Rejected"
    )
    view.schedule = night_day(3600.0)
    run = drive("iso2-dc", view, behaviour=Behaviour(loops=3))
    assert len([x for x in run.exchanges if x[0] == "ChargeParameterDiscoveryReq"]) == 1
    assert run.result.schedules[0][0] == (0, NIGHT_W)


def test_csms_wait_is_bounded() -> None:
    assert S.waiting_for_csms(20.0, None, 0.0, 2.9, 0, 0)
    assert not S.waiting_for_csms(20.0, None, 0.0, 3.1, 0, 0)  # no answer in time
    assert S.waiting_for_csms(20.0, "Accepted", 0.0, 19.0, 0, 0)
    assert not S.waiting_for_csms(20.0, "Accepted", 0.0, 20.5, 0, 0)  # no profile in time
    assert not S.waiting_for_csms(20.0, "Accepted", 0.0, 5.0, 0, 1)  # the profile came
    assert not S.waiting_for_csms(20.0, "Rejected", 0.0, 0.1, 0, 0)
    assert not S.waiting_for_csms(0.0, None, 0.0, 0.1, 0, 0)  # not asked


def test_iso20_power_profile_above_the_schedule_is_refused() -> None:
    """-20 scheduled: the EV's EVPowerProfile over time within the offered ChargingSchedule; holding the night
    power past the boundary is FAILED_EVPowerProfileInvalid (our EV's own profile follows the schedule)."""
    st = station(bpt=False, rated_power=50_000.0)
    st.view.schedule = night_day(30.0)
    run = drive20("iso20-dc", Iso20Behaviour(dynamic=False, loops=2), st=st)
    pd = [x for x in run.exchanges if x[0] == "PowerDeliveryReq"]
    assert pd[0][2] == "OK"

    def hold_night(msg: dict[str, object]) -> None:
        body = msg.get("PowerDeliveryReq")
        if isinstance(body, dict) and "EVPowerProfile" in body:
            body["EVPowerProfile"]["EVPowerProfileEntries"] = {
                "EVPowerProfileEntry": [{"Duration": 3600, "Power": {"Exponent": 0, "Value": 19941}}]
            }

    st = station(bpt=False, rated_power=50_000.0)
    st.view.schedule = night_day(30.0)
    run = drive20(
        "iso20-dc", Iso20Behaviour(dynamic=False, loops=2), st=st, tamper=hold_night, refusal_ok=True
    )
    pd = [x for x in run.exchanges if x[0] == "PowerDeliveryReq"]
    assert pd[0][2] == "FAILED_EVPowerProfileInvalid"


def test_iso20_waits_for_the_csms_profile() -> None:
    """OCPP K15 on -20: ScheduleExchange answers Ongoing while the CSMS (Accepted) prepares the profile."""
    st = station(bpt=False, rated_power=50_000.0, csms_wait=20.0)
    st.view.schedule = night_day(3600.0)

    def hook(i: int, s: object, eng: object) -> None:
        view = st.view
        if i == 12 and view.needs_status is None:
            view.needs_status = "Accepted"
        if i == 30 and view.schedule_version == 0:
            view.schedule = S.PowerSchedule(0.0, ((0, 7000.0),))
            view.schedule_version += 1

    run = drive20("iso20-dc", Iso20Behaviour(dynamic=False, loops=2), st=st, hook=hook)
    se = [x for x in run.exchanges if x[0] == "ScheduleExchangeReq"]
    assert len(se) >= 10
    assert run.ev.result.schedules[-1] == [(0, 7000.0)] and run.ev.result.outcome == "finished"


def test_iso20_service_renegotiation_when_discharge_is_withdrawn() -> None:
    """-20: the coordinator withdraws discharging from a BPT session: the charge loop answers
    ServiceRenegotiation, the EV ends the service (SessionStop ServiceRenegotiation) and continues with the
    same service without BPT."""
    st = station(bpt=True)

    def hook(i: int, s: object, eng: object) -> None:
        if i == 40 and st.bpt is not None:
            st.bpt = None
            st.view.limits_version += 1

    run = drive20("iso20-dc-bpt", Iso20Behaviour(dynamic=False, loops=30), st=st, hook=hook)
    r = run.ev.result
    assert r.outcome == "finished" and r.renegotiations == 1, r.detail
    assert run.ev.service == "iso20-dc" and not run.ev.bpt
    stops = [x for x in run.exchanges if x[0] == "SessionStopReq"]
    assert len(stops) == 2 and all(c == "OK" for _, _, c in stops)


def test_ev_charging_needs_payload_ac_with_departure() -> None:
    """K15 payload of an AC car: acChargingParameters, departureTime on the station clock (host clock + the
    CSMS-set offset), maxScheduleTuples."""
    import datetime as dt
    from types import SimpleNamespace
    from typing import Any, cast

    from josev.ocpp.smartcharging import evneeds
    from josev.secc.events import EvChargeParameters
    from josev.secc.messages import needs_command

    host_now = dt.datetime(2026, 1, 5, 5, 0, 0, tzinfo=dt.UTC).timestamp()
    cmd = needs_command(
        EvChargeParameters("AC_three_phase_core", 400.0, 16.0, 6.0, None, None, 22_000.0, 7200), host_now
    )
    needs = {**cmd.model_dump(), "max_schedule_tuples": 3}
    st = cast(Any, SimpleNamespace(clock_offset=3600.0))  # the station clock is an hour ahead of the host
    out = evneeds.needs_payload(st, 1, needs)
    assert out == {
        "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase",
            "departureTime": "2026-01-05T08:00:00Z",
            "acChargingParameters": {
                "energyAmount": 22000,
                "evMinCurrent": 6,
                "evMaxCurrent": 16,
                "evMaxVoltage": 400,
            },
        },
        "evseId": 1,
        "maxScheduleTuples": 3,
    }
    from josev.ocpp.schemas import validate

    validate("NotifyEVChargingNeeds", out, "Request")  # the OCPP 2.0.1 JSON schema


def test_schedule_entries_are_bounded_by_the_station_and_the_ev() -> None:
    """At most ``max_schedule_entries`` (station) and MaxEntriesSAScheduleTuple (EV): 24 hourly periods -> 5."""
    view = EvseView(energy_modes=("DC_extended",), rated_power=50_000.0, max_schedule_entries=5)
    view.schedule = S.from_amps(0.0, [(h * 3600, 10.0 + h, 3) for h in range(24)], 3, 230.0)
    run = drive("iso2-dc", view, behaviour=Behaviour(loops=2))
    assert [s for s, _ in run.result.schedules[0]] == [0, 3600, 7200, 10800, 14400]
    assert run.result.schedules[0][1][1] == 11.0 * 690


def test_iso20_ev_power_profile_becomes_notify_ev_charging_schedule() -> None:
    """OCPP K17 on -20 scheduled: the EV's EVPowerProfile (entry durations from its TimeAnchor) is reported as
    (start s from the TimeAnchor, W) and becomes NotifyEVChargingSchedule: timeBase = the TimeAnchor on the
    station clock, chargingSchedulePeriod in W with startPeriod in seconds."""
    import datetime as dt
    from types import SimpleNamespace
    from typing import Any, cast

    from josev.api.ocpp import NotifyEvChargingSchedule
    from josev.ocpp.schemas import validate
    from josev.ocpp.smartcharging import evneeds
    from josev.secc.iso20 import power_delivery as pd20
    from josev.secc.messages import ev_schedule

    # entries of no duration give way to the next one (OCPP periods start strictly later)
    assert pd20.ev_profile([(100.0, 5000.0), (100.0, 7000.0), (160.0, 3000.0)]) == EvChargingProfile(
        ((0, 7000.0), (60, 3000.0)), 100.0
    )
    st = station(bpt=False, rated_power=50_000.0)
    st.view.schedule = night_day(30.0)
    run = drive20("iso20-dc", Iso20Behaviour(dynamic=False, loops=2), st=st)
    assert run.ev.result.outcome == "finished"
    (prof,) = [e for e in run.events if isinstance(e, EvChargingProfile)]
    # the EV's plan: the night power until the boundary (30 s on the cores' clock), then the day power, an
    # hour in all; the entries start at its TimeAnchor (whole seconds)
    boundary = round(30.0 - prof.offered_at)
    assert prof.entries == ((0, NIGHT_W), (boundary, DAY_W)) and 25 <= boundary <= 30, prof
    anchor = dt.datetime(2026, 1, 5, 5, 59, 40, tzinfo=dt.UTC).timestamp()
    sched = ev_schedule(prof, anchor - prof.offered_at)  # the host clock at the anchor: 05:59:40
    cmd = NotifyEvChargingSchedule(
        time_base=sched.start, periods=[(p.start_s, p.max_power_w) for p in sched.entries]
    )
    sent: list[tuple[str, dict[str, Any]]] = []
    ocpp = cast(
        Any,
        SimpleNamespace(
            evses={1: 1},
            online=True,
            registration="Accepted",
            clock_offset=600.0,  # the station clock is 10 min ahead of the host
            send=lambda action, payload, now: sent.append((action, payload)),
        ),
    )
    evneeds.notify_schedule(ocpp, 1, cmd.time_base, cmd.periods, 0.0)
    assert sent == [
        (
            "NotifyEVChargingSchedule",
            {
                "timeBase": "2026-01-05T06:09:40Z",
                "evseId": 1,
                "chargingSchedule": {
                    "id": 1,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": NIGHT_W},
                        {"startPeriod": boundary, "limit": DAY_W},
                    ],
                },
            },
        )
    ]
    validate("NotifyEVChargingSchedule", sent[0][1], "Request")  # the OCPP 2.0.1 JSON schema


def test_ev_boundary_up_to_a_second_late_is_the_same_boundary() -> None:
    """Both sides count in whole seconds (the -20 EV's TimeAnchor and Durations, our rounded-up offer): an EV
    entry that ends less than a second after the offered boundary keeps to the schedule; longer does not."""
    offer = ((100.0, 6969.0), (168.0, 4968.0))
    assert S.exceeds(offer, [(100.0, 6969.0), (168.6, 4968.0)]) is None
    assert S.exceeds(offer, [(100.0, 6969.0), (167.4, 4968.0)]) is None
    why = S.exceeds(offer, [(100.0, 6969.0), (169.5, 4968.0)])
    assert why == "6969 W at +68 s exceeds the offered 4968 W", why
