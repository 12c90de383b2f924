"""The ISO 15118-2 SalesTariff of a Plug & Charge session, sans-IO.

With payment ``Contract`` the SAScheduleTuple carries a SalesTariff (price levels and consumption costs over
the schedule's time, relative to the offer like the PMaxSchedule). The station signs it: the response header's
``Signature`` references the SalesTariff by its ``Id``, its digest is over the SalesTariff encoded as an EXI
fragment (``josev.pnc.xmlsig``, ECDSA P-256 / SHA-256), made with the SECC leaf key; the EV checks it with the
SECC certificate chain.

The tariff comes from the station configuration (``[secc] sales_tariff``) or the bus; :func:`element` turns
it into the schema dict (element order of ``SalesTariffType``), :func:`sign` / :func:`verify` do the
signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from josev.pnc import xmlsig
from josev.v2g.physical import pv

TARIFF_ID = "SalesTariff1"
"""``Id`` of the SalesTariff element (the signature's reference URI is ``#SalesTariff1``)."""
COST_KINDS = frozenset({"relativePricePercentage", "RenewableGenerationPercentage", "CarbonDioxideEmission"})
MAX_ENTRIES = 1024


@dataclass(frozen=True, slots=True)
class Cost:
    """One Cost of a ConsumptionCost: ``amount`` x 10^``multiplier`` of ``kind``."""

    kind: str
    amount: int
    multiplier: int = 0

    def __post_init__(self) -> None:
        if self.kind not in COST_KINDS:
            raise ValueError(f"costKind {self.kind!r} is not one of {sorted(COST_KINDS)}")
        if not 0 <= self.amount <= 0xFFFFFFFF:
            raise ValueError(f"cost amount {self.amount} outside 0..4294967295")
        if not -3 <= self.multiplier <= 3:
            raise ValueError(f"amountMultiplier {self.multiplier} outside -3..3")


@dataclass(frozen=True, slots=True)
class TariffEntry:
    """A SalesTariffEntry from ``start_s`` (relative to the offer) with its price level and costs (above
    ``start_value_w`` of power)."""

    start_s: int
    price_level: int | None = None
    costs: tuple[Cost, ...] = ()
    start_value_w: float = 0.0

    def __post_init__(self) -> None:
        if self.start_s < 0:
            raise ValueError("a tariff entry cannot start before the offer")
        if self.price_level is not None and not 0 <= self.price_level <= 255:
            raise ValueError(f"EPriceLevel {self.price_level} outside 0..255")
        if len(self.costs) > 3:
            raise ValueError("at most 3 Cost elements per ConsumptionCost")


@dataclass(frozen=True, slots=True)
class Tariff:
    """A station tariff for the car."""

    entries: tuple[TariffEntry, ...]
    tariff_id: int = 1
    description: str | None = None
    levels: int | None = None

    def __post_init__(self) -> None:
        if not self.entries or len(self.entries) > MAX_ENTRIES:
            raise ValueError(f"a SalesTariff has 1..{MAX_ENTRIES} entries")
        starts = [e.start_s for e in self.entries]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("tariff entries must start at 0 and be in strictly increasing order")
        if not 1 <= self.tariff_id <= 255:
            raise ValueError(f"SalesTariffID {self.tariff_id} outside 1..255")
        if self.description is not None and len(self.description) > 32:
            raise ValueError("SalesTariffDescription is at most 32 characters")


def from_config(items: Sequence[Mapping[str, Any]], description: str | None = None) -> Tariff:
    """A :class:`Tariff` from ``[[secc.sales_tariff]]`` tables (``start_s``, ``price_level``, optional
    ``cost`` = [{kind, amount, multiplier}], ``start_value_w``); raises ValueError naming the problem."""
    entries = []
    for i, it in enumerate(items):
        try:
            costs = tuple(
                Cost(str(c["kind"]), int(c["amount"]), int(c.get("multiplier", 0)))
                for c in it.get("cost", ())
            )
            entries.append(
                TariffEntry(
                    int(it["start_s"]),
                    None if it.get("price_level") is None else int(it["price_level"]),
                    costs,
                    float(it.get("start_value_w", 0.0)),
                )
            )
        except KeyError as e:
            raise ValueError(f"sales_tariff entry {i}: {e.args[0]} missing") from None
    levels = max((e.price_level for e in entries if e.price_level is not None), default=None)
    return Tariff(tuple(entries), description=description, levels=None if levels is None else levels + 1)


def element(tariff: Tariff, horizon: int) -> dict[str, Any]:
    """The SalesTariff element content (schema order), entries up to ``horizon`` seconds."""
    ents = [e for e in tariff.entries if e.start_s < horizon] or [tariff.entries[0]]
    out: dict[str, Any] = {"Id": TARIFF_ID, "SalesTariffID": tariff.tariff_id}
    if tariff.description is not None:
        out["SalesTariffDescription"] = tariff.description
    if tariff.levels is not None:
        out["NumEPriceLevels"] = tariff.levels
    rows = []
    for i, e in enumerate(ents):
        iv: dict[str, Any] = {"start": e.start_s}
        if i == len(ents) - 1:
            iv["duration"] = max(1, horizon - e.start_s)
        row: dict[str, Any] = {"RelativeTimeInterval": iv}
        if e.price_level is not None:
            row["EPriceLevel"] = e.price_level
        if e.costs:
            row["ConsumptionCost"] = [
                {
                    "startValue": pv(e.start_value_w, "W"),
                    "Cost": [
                        {
                            "costKind": c.kind,
                            "amount": c.amount,
                            **({"amountMultiplier": c.multiplier} if c.multiplier else {}),
                        }
                        for c in e.costs
                    ],
                }
            ]
        rows.append(row)
    out["SalesTariffEntry"] = rows
    return out


def fragment(el: Mapping[str, Any]) -> bytes:
    """The signed bytes: the SalesTariff as an ISO 15118-2 EXI fragment."""
    return xmlsig.fragment("iso2", "SalesTariff", el)


def sign(el: Mapping[str, Any], key: xmlsig.PrivateKey) -> dict[str, Any]:
    """The header ``Signature`` over the SalesTariff ``el`` with the SECC leaf key."""
    return xmlsig.sign(xmlsig.ISO2, key, [(str(el["Id"]), fragment(el))])


def verify(signature: Mapping[str, Any] | None, el: Mapping[str, Any], key: xmlsig.PublicKey) -> None:
    """Check the SalesTariff's signature (raises :class:`josev.pnc.PncError`)."""
    xmlsig.verify(signature, [(str(el["Id"]), fragment(el))], key, (xmlsig.ISO2,))
