"""Unit tests of the sans-IO smart-charging core: profile evaluation, the composite schedule (expected values
computed by hand in the comments) and K01 validation. The "clock" is the time argument."""

from __future__ import annotations

from typing import Any

import pytest

from josev.ocpp.smartcharging import composite as C
from josev.ocpp.smartcharging import profiles as P

T0 = C.ts("2026-01-05T00:00:00Z")  # a Monday, midnight UTC
H = 3600
INFO = C.EvseInfo(phases=3, voltage_v=230.0, max_a=32.0)


def prof(
    pid: int,
    purpose: str = "TxDefaultProfile",
    stack: int = 0,
    kind: str = "Absolute",
    periods: list[tuple[int, float]] | None = None,
    unit: str = "A",
    start: float | None = T0,
    **kw: Any,
) -> dict[str, Any]:
    sched: dict[str, Any] = {
        "id": pid,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in (periods or [(0, 16.0)])],
    }
    if start is not None and kind != "Relative":
        sched["startSchedule"] = C.iso(start)
    for key in ("duration", "minChargingRate"):
        if key in kw:
            sched[key] = kw.pop(key)
    out = {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": kind}
    out["chargingSchedule"] = [sched]
    out.update(kw)
    return out


def periods(c: C.Composite) -> list[tuple[int, float]]:
    return [(round(p.start - c.start), p.limit) for p in c.periods]


def test_absolute_profile_with_duration_falls_back_to_hardware_limit() -> None:
    p = C.Installed(1, prof(1, start=T0 + H, periods=[(0, 16.0), (1800, 10.0)], duration=2 * H))
    c = C.composite([p], 1, T0, 4 * H, "A", INFO)
    # 00:00 hardware 32 A; 01:00 16 A; 01:30 10 A; 03:00 duration over -> 32 A
    assert periods(c) == [(0, 32.0), (3600, 16.0), (5400, 10.0), (10800, 32.0)]
    assert c.to_ocpp()["chargingSchedulePeriod"][1] == {"startPeriod": 3600, "limit": 16.0, "numberPhases": 3}
    assert c.to_ocpp()["scheduleStart"] == "2026-01-05T00:00:00.000Z"


def test_higher_stack_level_wins_while_it_has_a_value() -> None:
    low = C.Installed(1, prof(1, stack=0, kind="Relative", periods=[(0, 20.0)]))
    high = C.Installed(1, prof(2, stack=1, start=T0 + 1000, periods=[(0, 10.0)], duration=1000))
    c = C.composite([low, high], 1, T0, 4000, "A", INFO)
    assert periods(c) == [(0, 20.0), (1000, 10.0), (2000, 20.0)]
    # the order of installation does not matter
    assert periods(C.composite([high, low], 1, T0, 4000, "A", INFO)) == periods(c)
    # a lower stack level with a smaller limit does not win
    low10 = C.Installed(1, prof(3, stack=0, kind="Relative", periods=[(0, 6.0)]))
    high20 = C.Installed(1, prof(4, stack=5, kind="Relative", periods=[(0, 20.0)]))
    assert periods(C.composite([low10, high20], 1, T0, 100, "A", INFO)) == [(0, 20.0)]


def test_night_day_recurring_daily_in_watts_and_amps() -> None:
    # the operator's profile: 20 kW 00:00-06:00, 10 kW otherwise, every day
    night_day = C.Installed(
        0,
        prof(7, kind="Recurring", recurrencyKind="Daily", unit="W", periods=[(0, 20000.0), (6 * H, 10000.0)]),
    )
    c = C.composite([night_day], 1, T0 + 5 * H, 2 * H, "W", INFO)
    assert periods(c) == [(0, 20000.0), (3600, 10000.0)]
    # in A with 3 phases at 230 V: 20000 / 690 = 28.98 -> 28.9; 10000 / 690 = 14.49 -> 14.4 (rounded down)
    c = C.composite([night_day], 1, T0 + 5 * H, 2 * H, "A", INFO)
    assert periods(c) == [(0, 28.9), (3600, 14.4)]
    # across midnight, three days later: 23:00 10 kW, 00:00 20 kW
    c = C.composite([night_day], 2, T0 + 3 * 86400 + 23 * H, 2 * H, "W", INFO)
    assert periods(c) == [(0, 10000.0), (3600, 20000.0)]
    # before startSchedule a recurring profile gives nothing: the hardware limit (32 A x 690 V = 22080 W)
    c = C.composite([night_day], 1, T0 - H, 2 * H, "W", INFO)
    assert periods(c) == [(0, 22080.0), (3600, 20000.0)]


def test_weekly_recurring_with_duration() -> None:
    # Mondays 08:00-10:00 limited to 8 A (startSchedule Monday 08:00, duration 2 h), every week
    weekly = C.Installed(
        1,
        prof(
            9, kind="Recurring", recurrencyKind="Weekly", start=T0 + 8 * H, periods=[(0, 8.0)], duration=2 * H
        ),
    )
    week2 = T0 + 7 * 86400
    c = C.composite([weekly], 1, week2 + 7 * H, 4 * H, "A", INFO)
    assert periods(c) == [(0, 32.0), (3600, 8.0), (3 * 3600, 32.0)]
    # Tuesday: no limit
    assert periods(C.composite([weekly], 1, T0 + 86400 + 8 * H, H, "A", INFO)) == [(0, 32.0)]


def test_tx_profile_beats_default_only_for_its_transaction() -> None:
    default = C.Installed(0, prof(1, kind="Relative", periods=[(0, 20.0)]))
    txp = C.Installed(
        1, prof(2, "TxProfile", kind="Relative", periods=[(0, 10.0), (600, 25.0)], transactionId="tx-1")
    )
    tx = C.Tx("tx-1", T0 - 300)  # started 5 min before the window: the second period starts at +300 s
    c = C.composite([default, txp], 1, T0, 1200, "A", INFO, tx=tx)
    assert periods(c) == [(0, 10.0), (300, 25.0)]
    # another transaction: the TxProfile does not apply
    assert periods(C.composite([default, txp], 1, T0, 1200, "A", INFO, tx=C.Tx("other", T0))) == [(0, 20.0)]
    # without a transaction either
    assert periods(C.composite([default, txp], 1, T0, 1200, "A", INFO)) == [(0, 20.0)]


def test_station_max_caps_every_evse_and_is_the_evse0_composite() -> None:
    cs_max = C.Installed(0, prof(1, "ChargingStationMaxProfile", kind="Relative", periods=[(0, 16.0)]))
    default = C.Installed(0, prof(2, kind="Relative", periods=[(0, 20.0)]))
    assert periods(C.composite([cs_max, default], 1, T0, 60, "A", INFO)) == [(0, 16.0)]
    assert periods(C.composite([cs_max, default], 0, T0, 60, "A", INFO)) == [(0, 16.0)]
    # EVSE 0 does not take TxDefaultProfile: only the hardware limit without the station max
    assert periods(C.composite([default], 0, T0, 60, "A", INFO)) == [(0, 32.0)]


def test_evse_specific_default_overrules_evse0_default() -> None:
    general = C.Installed(0, prof(1, stack=5, kind="Relative", periods=[(0, 10.0)]))
    specific = C.Installed(2, prof(2, stack=0, kind="Relative", periods=[(0, 20.0)]))
    assert periods(C.composite([general, specific], 2, T0, 60, "A", INFO)) == [(0, 20.0)]
    assert periods(C.composite([general, specific], 1, T0, 60, "A", INFO)) == [(0, 10.0)]


def test_valid_from_and_valid_to_cut_the_profile() -> None:
    p = C.Installed(
        1, prof(1, kind="Relative", periods=[(0, 10.0)], validFrom=C.iso(T0 + 100), validTo=C.iso(T0 + 200))
    )
    assert periods(C.composite([p], 1, T0, 300, "A", INFO)) == [(0, 32.0), (100, 10.0), (200, 32.0)]


def test_phases_and_unit_conversion() -> None:
    # 7360 W on one phase at 230 V = 32 A; asked in A, the composite says 32.0 A on 1 phase
    one = prof(1, kind="Relative", unit="W", periods=[(0, 7360.0)])
    one["chargingSchedule"][0]["chargingSchedulePeriod"][0]["numberPhases"] = 1
    c = C.composite([C.Installed(1, one)], 1, T0, 60, "A", C.EvseInfo(3, 230.0, 40.0))
    assert [(p.limit, p.phases) for p in c.periods] == [(32.0, 1)]
    # 11 kW on 3 phases = 15.94 A -> 15.9; the 16 A hardware limit in W is 16 x 690 = 11040 W
    three = C.Installed(1, prof(2, kind="Relative", unit="W", periods=[(0, 11000.0)]))
    assert periods(C.composite([three], 1, T0, 60, "A", C.EvseInfo(3, 230.0, 16.0))) == [(0, 15.9)]
    assert periods(C.composite([three], 1, T0, 60, "W", C.EvseInfo(3, 230.0, 15.0))) == [(0, 10350.0)]
    # a single-phase EVSE converts with 1 phase: 11000 W / 230 V = 47.8 A, capped by its 32 A
    assert periods(C.composite([three], 1, T0, 60, "A", C.EvseInfo(1, 230.0, 32.0))) == [(0, 32.0)]


def test_local_limits_combine_with_profiles() -> None:
    default = C.Installed(0, prof(1, kind="Relative", periods=[(0, 20.0)]))
    ems = [C.Limit(4140.0, "W")]  # 4140 W / 690 V = 6 A
    assert periods(C.composite([default], 1, T0, 60, "A", INFO, local=ems)) == [(0, 6.0)]
    limit, phases = C.limit_at([default], 1, T0, "A", C.EvseInfo(3, 230.0, None))
    assert (limit, phases) == (20.0, 3)
    assert C.limit_at([], 1, T0, "A", C.EvseInfo(3, 230.0, None)) == (None, 3)


def test_next_change_finds_the_recurring_boundary() -> None:
    night_day = C.Installed(
        0,
        prof(7, kind="Recurring", recurrencyKind="Daily", unit="W", periods=[(0, 20000.0), (6 * H, 10000.0)]),
    )
    assert C.next_change([night_day], T0 + 5 * H) == T0 + 6 * H
    assert C.next_change([night_day], T0 + 6 * H) == T0 + 86400
    relative = C.Installed(0, prof(8, kind="Relative", periods=[(0, 20.0), (60, 10.0)]))
    assert C.next_change([relative], T0) is None  # starts with a transaction
    assert C.next_change([relative], T0, tx_starts=[T0 - 10]) == T0 + 50


# -- validation --------------------------------------------------------------------------------------------
def ctx(installed: list[C.Installed] | None = None, **kw: Any) -> P.Context:
    base: dict[str, Any] = {
        "evses": frozenset({1, 2}),
        "transactions": {1: "tx-1"},
        "installed": installed or [],
        "now": T0,
    }
    base.update(kw)
    return P.Context(**base)


def reject(evse: int, p: dict[str, Any], c: P.Context | None = None) -> tuple[str, str] | None:
    r = P.validate(evse, p, c or ctx())
    return None if r is None else (r.reason, r.info)


def test_valid_profiles_pass() -> None:
    assert (
        reject(0, prof(1, kind="Recurring", recurrencyKind="Daily", periods=[(0, 20.0), (6 * H, 10.0)]))
        is None
    )
    assert reject(1, prof(2, "TxProfile", kind="Relative", transactionId="tx-1")) is None
    assert reject(0, prof(3, "ChargingStationMaxProfile")) is None


@pytest.mark.parametrize(
    ("evse", "profile", "reason", "text"),
    [
        (3, prof(1), "UnknownEvse", "EVSE 3 does not exist"),
        (1, prof(1, "ChargingStationMaxProfile"), "InvalidProfile", "only on evseId 0"),
        (0, prof(1, "ChargingStationMaxProfile", kind="Relative"), "InvalidProfile", "cannot be Relative"),
        (0, prof(1, "ChargingStationExternalConstraints"), "InvalidProfile", "station only"),
        (0, prof(1, "TxProfile", transactionId="tx-1"), "InvalidProfile", "evseId > 0"),
        (1, prof(1, "TxProfile"), "TxNotFound", "without transactionId"),
        (2, prof(1, "TxProfile", transactionId="tx-1"), "TxNotFound", "no transaction tx-1 on EVSE 2"),
        (1, prof(1, transactionId="tx-1"), "InvalidProfile", "only in a TxProfile"),
        (1, prof(1, kind="Recurring"), "InvalidProfile", "recurrencyKind Daily or Weekly"),
        (1, prof(1, recurrencyKind="Daily"), "InvalidProfile", "only with Recurring"),
        (1, prof(1, start=None), "InvalidSchedule", "needs startSchedule"),
        (1, prof(1, kind="Relative", start=None, periods=[(10, 6.0)]), "InvalidSchedule", "start at 0"),
        (
            1,
            prof(1, periods=[(0, 6.0), (600, 8.0), (300, 10.0)]),
            "InvalidSchedule",
            "period 2 startPeriod 300",
        ),
        (1, prof(1, periods=[(0, 6.0), (0, 8.0)]), "InvalidSchedule", "period 1 startPeriod 0"),
        (
            1,
            prof(1, periods=[(0, 6.0), (600, 8.0)], duration=600),
            "InvalidSchedule",
            "at/after the duration",
        ),
        (
            1,
            prof(1, kind="Recurring", recurrencyKind="Daily", duration=90000),
            "InvalidSchedule",
            "exceeds one Daily",
        ),
        (1, prof(1, periods=[(0, -1.0)]), "InvalidValue", "limit -1.0"),
        (1, prof(1, periods=[(0, 6.25)]), "InvalidValue", "one fraction digit"),
        (1, prof(1, validFrom=C.iso(T0 + 10), validTo=C.iso(T0 + 10)), "InvalidValue", "not after validFrom"),
        (1, prof(1, validTo=C.iso(T0 - 10)), "InvalidValue", "in the past"),
        (1, prof(1, stack=101), "InvalidStackLevel", "outside 0..100"),
        (1, prof(1, stack=-1), "InvalidStackLevel", "outside"),
    ],
)
def test_invalid_profiles_are_rejected_with_reason(
    evse: int, profile: dict[str, Any], reason: str, text: str
) -> None:
    got = reject(evse, profile)
    assert got is not None and got[0] == reason and text in got[1], got


def test_phase_rules() -> None:
    p = prof(1)
    switching = ctx(phase_switching=True)
    p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(numberPhases=1, phaseToUse=2)
    # this EVSE cannot switch AC phases: phaseToUse is refused
    assert reject(1, p) == (
        "InvalidValue",
        "chargingSchedule[0]: period 0 phaseToUse, but the EVSE cannot switch AC phases",
    )
    assert reject(1, p, switching) is None
    p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(numberPhases=3, phaseToUse=1)
    assert reject(1, p, switching) == (
        "InvalidValue",
        "chargingSchedule[0]: period 0 phaseToUse needs numberPhases 1",
    )
    del p["chargingSchedule"][0]["chargingSchedulePeriod"][0]["phaseToUse"]
    p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(numberPhases=4)
    assert reject(1, p) is not None and reject(1, p)[0] == "InvalidValue"  # type: ignore[index]


def test_rate_unit_and_period_count_follow_the_device_model() -> None:
    assert reject(1, prof(1, unit="W"), ctx(rate_units=("A",))) == (
        "UnsupportedRateUnit",
        "chargingSchedule[0]: chargingRateUnit W not supported",
    )
    many = prof(1, periods=[(i * 60, 10.0) for i in range(25)])
    assert reject(1, many) == ("InvalidSchedule", "chargingSchedule[0]: 25 periods, at most 24")


def test_stack_level_must_be_unique_per_purpose_evse_and_validity() -> None:
    first = C.Installed(1, prof(1, stack=2, validFrom=C.iso(T0), validTo=C.iso(T0 + 1000)))
    # same purpose, EVSE and stack level, overlapping validity: refused
    r = reject(1, prof(2, stack=2, validFrom=C.iso(T0 + 500)), ctx([first]))
    assert r is not None and r[0] == "DuplicateProfile" and "profile 1" in r[1]
    # adjacent validity, another EVSE, another stack level, another purpose or the same id: accepted
    assert reject(1, prof(2, stack=2, validFrom=C.iso(T0 + 1000)), ctx([first])) is None
    assert reject(2, prof(2, stack=2), ctx([first])) is None
    assert reject(1, prof(2, stack=3), ctx([first])) is None
    assert reject(0, prof(2, "ChargingStationMaxProfile", stack=2), ctx([first])) is None
    assert reject(1, prof(1, stack=2), ctx([first])) is None


def test_entries_limit_and_replacement() -> None:
    full = [C.Installed(1, prof(i, stack=i)) for i in range(1, 4)]
    r = reject(1, prof(9, stack=9), ctx(full, max_entries=3))
    assert r is not None and r[0] == "InvalidValue" and "Entries" in r[1]
    assert reject(1, prof(2, stack=7), ctx(full, max_entries=3)) is None  # replaces id 2
    after = P.install(full, C.Installed(1, prof(2, stack=7)))
    assert sorted((p.id, p.stack) for p in after) == [(1, 1), (2, 7), (3, 3)]
