"""ChargingProfile validation (K01) and the set of installed profiles (pure data; persistence is the caller's).

:func:`validate` returns None for an acceptable profile, else a :class:`Rejection` with the reasonCode and
the text the CSMS reads in ``statusInfo.additionalInfo``. The checks, in order:

* the EVSE exists; ``ChargingStationMaxProfile`` only on EVSE 0 and not ``Relative``; ``TxProfile`` only on an EVSE > 0 with the
  ``transactionId`` of the transaction running there; ``transactionId`` only on a TxProfile;
  ``ChargingStationExternalConstraints`` is set by the station only (never by the CSMS);
* ``Recurring`` needs ``recurrencyKind`` (Daily / Weekly) and ``startSchedule``; ``recurrencyKind`` only with
  ``Recurring``; ``Absolute`` needs ``startSchedule``; ``Relative`` has none;
* ``validTo`` after ``validFrom``, and not already past;
* the unit is one of ``SmartChargingCtrlr.RateUnit``; the first period starts at 0 and the periods are in
  strictly increasing order, at most ``PeriodsPerSchedule`` of them, each before the schedule's ``duration``
  (which fits in one recurrence); limits are >= 0 with at most one fraction digit; ``numberPhases`` 1..3;
  ``phaseToUse`` (1..3) only with ``numberPhases`` = 1 on an EVSE that can switch phases; ``minChargingRate`` >= 0;
* ``stackLevel`` from 0 to ``ProfileStackLevel``; no other profile (another id) of the same purpose, EVSE
  and stack level with an overlapping validity (for TxProfiles: of the same transaction);
* at most ``Entries`` profiles installed (a profile with an installed id replaces it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from josev.ocpp.smartcharging.composite import RECURRENCE, Installed, ts

PURPOSES = (
    "ChargingStationMaxProfile",
    "TxDefaultProfile",
    "TxProfile",
    "ChargingStationExternalConstraints",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a profile is refused: ``reason`` (reasonCode, at most 20 characters) and a readable ``info``."""

    reason: str
    info: str

    def status_info(self) -> dict[str, str]:
        """The StatusInfoType of a response."""
        return {"reasonCode": self.reason, "additionalInfo": self.info[:512]}


@dataclass(frozen=True, slots=True)
class Context:
    """What validation needs from the station."""

    evses: frozenset[int]
    transactions: dict[int, str]
    """EVSE -> id of its running transaction."""
    installed: Sequence[Installed]
    now: float
    rate_units: tuple[str, ...] = ("A", "W")
    max_periods: int = 24
    max_entries: int = 100
    max_stack_level: int = 100
    from_csms: bool = True
    phase_switching: bool = False
    """The EVSE can switch AC phases (ACPhaseSwitchingSupported): only then ``phaseToUse`` is accepted."""


def _window(p: dict[str, Any]) -> tuple[float, float]:
    lo = ts(p["validFrom"]) if "validFrom" in p else float("-inf")
    hi = ts(p["validTo"]) if "validTo" in p else float("inf")
    return lo, hi


def _bad_schedule(prof: dict[str, Any], ctx: Context) -> Rejection | None:
    kind = prof["chargingProfileKind"]
    for n, sched in enumerate(prof["chargingSchedule"]):
        where = f"chargingSchedule[{n}]"
        unit = sched["chargingRateUnit"]
        if unit not in ctx.rate_units:
            return Rejection("UnsupportedRateUnit", f"{where}: chargingRateUnit {unit} not supported")
        if kind in ("Absolute", "Recurring") and "startSchedule" not in sched:
            return Rejection("InvalidSchedule", f"{where}: a {kind} profile needs startSchedule")
        if kind == "Relative" and "startSchedule" in sched:
            return Rejection("InvalidSchedule", f"{where}: a Relative profile has no startSchedule")
        periods = sched["chargingSchedulePeriod"]
        if len(periods) > ctx.max_periods:
            return Rejection("InvalidSchedule", f"{where}: {len(periods)} periods, at most {ctx.max_periods}")
        if periods[0]["startPeriod"] != 0:
            return Rejection("InvalidSchedule", f"{where}: the first period must start at 0")
        duration = sched.get("duration")
        if duration is not None and duration <= 0:
            return Rejection("InvalidSchedule", f"{where}: duration must be positive")
        if kind == "Recurring":
            length = RECURRENCE[prof["recurrencyKind"]]
            if duration is not None and duration > length:
                return Rejection(
                    "InvalidSchedule",
                    f"{where}: duration {duration} s exceeds one {prof['recurrencyKind']} recurrence",
                )
            duration = min(duration or length, length)
        last = -1
        for i, p in enumerate(periods):
            sp = p["startPeriod"]
            if sp <= last:
                return Rejection("InvalidSchedule", f"{where}: period {i} startPeriod {sp} not after {last}")
            if duration is not None and sp >= duration:
                return Rejection(
                    "InvalidSchedule", f"{where}: period {i} starts at/after the duration {duration} s"
                )
            last = sp
            limit = p["limit"]
            if limit < 0 or abs(limit * 10 - round(limit * 10)) > 1e-6:
                return Rejection(
                    "InvalidValue", f"{where}: period {i} limit {limit} (>= 0, one fraction digit)"
                )
            phases = p.get("numberPhases")
            if phases is not None and phases not in (1, 2, 3):
                return Rejection("InvalidValue", f"{where}: period {i} numberPhases {phases} (1..3)")
            if "phaseToUse" in p:
                if not ctx.phase_switching:
                    return Rejection(
                        "InvalidValue",
                        f"{where}: period {i} phaseToUse, but the EVSE cannot switch AC phases",
                    )
                if phases != 1:
                    return Rejection("InvalidValue", f"{where}: period {i} phaseToUse needs numberPhases 1")
                if p["phaseToUse"] not in (1, 2, 3):
                    return Rejection(
                        "InvalidValue", f"{where}: period {i} phaseToUse {p['phaseToUse']} (1..3)"
                    )
        if sched.get("minChargingRate", 0) < 0:
            return Rejection("InvalidValue", f"{where}: minChargingRate must be >= 0")
    return None


def validate(evse: int, prof: dict[str, Any], ctx: Context) -> Rejection | None:
    """Check a SetChargingProfile (or RequestStartTransaction) profile for ``evse``; see the module doc."""
    purpose, kind = prof["chargingProfilePurpose"], prof["chargingProfileKind"]
    if evse != 0 and evse not in ctx.evses:
        return Rejection("UnknownEvse", f"EVSE {evse} does not exist")
    if purpose == "ChargingStationExternalConstraints" and ctx.from_csms:
        return Rejection("InvalidProfile", "ChargingStationExternalConstraints is set by the station only")
    if purpose == "ChargingStationMaxProfile" and evse != 0:
        return Rejection("InvalidProfile", "ChargingStationMaxProfile only on evseId 0")
    if purpose == "ChargingStationMaxProfile" and kind == "Relative":
        return Rejection("InvalidProfile", "ChargingStationMaxProfile cannot be Relative")
    tx_id = prof.get("transactionId")
    if purpose == "TxProfile":
        if evse == 0:
            return Rejection("InvalidProfile", "TxProfile needs an evseId > 0")
        if tx_id is None:
            return Rejection("TxNotFound", "TxProfile without transactionId")
        if ctx.transactions.get(evse) != tx_id:
            return Rejection("TxNotFound", f"no transaction {tx_id} on EVSE {evse}")
    elif tx_id is not None:
        return Rejection("InvalidProfile", "transactionId only in a TxProfile")
    if kind == "Recurring" and prof.get("recurrencyKind") not in RECURRENCE:
        return Rejection("InvalidProfile", "a Recurring profile needs recurrencyKind Daily or Weekly")
    if kind != "Recurring" and "recurrencyKind" in prof:
        return Rejection("InvalidProfile", f"recurrencyKind only with Recurring, not {kind}")
    lo, hi = _window(prof)
    if hi <= lo:
        return Rejection("InvalidValue", "validTo is not after validFrom")
    if hi <= ctx.now:
        return Rejection("InvalidValue", "validTo is in the past")
    level = prof["stackLevel"]
    if not 0 <= level <= ctx.max_stack_level:
        return Rejection("InvalidStackLevel", f"stackLevel {level} outside 0..{ctx.max_stack_level}")
    bad = _bad_schedule(prof, ctx)
    if bad is not None:
        return bad
    for other in ctx.installed:
        o = other.profile
        if (
            other.id != prof["id"]
            and other.evse == evse
            and other.purpose == purpose
            and other.stack == level
            and o.get("transactionId") == tx_id
        ):
            olo, ohi = _window(o)
            if olo < hi and lo < ohi:
                return Rejection(
                    "DuplicateProfile",
                    f"profile {other.id} has the same purpose, EVSE and stackLevel {level} with an overlapping validity",
                )
    replacing = any(o.id == prof["id"] for o in ctx.installed)
    if not replacing and len(ctx.installed) >= ctx.max_entries:
        return Rejection("InvalidValue", f"already {len(ctx.installed)} profiles installed (Entries)")
    return None


def install(installed: Sequence[Installed], new: Installed) -> list[Installed]:
    """The set after installing ``new``: a profile with the same id is replaced (K01)."""
    return [p for p in installed if p.id != new.id] + [new]


def matches(
    p: Installed,
    *,
    evse: int | None = None,
    purpose: str | None = None,
    stack: int | None = None,
    ids: Sequence[int] | None = None,
    sources: Sequence[str] | None = None,
) -> bool:
    """True if ``p`` matches every given criterion (OCPP ChargingProfileCriterionType / ClearChargingProfile)."""
    return (
        (evse is None or p.evse == evse)
        and (purpose is None or p.purpose == purpose)
        and (stack is None or p.stack == stack)
        and (ids is None or p.id in ids)
        and (sources is None or p.source in sources)
    )
