"""Tariff and cost (I01-I03): the driver's tariff from the idTokenInfo ``personalMessage`` (Authorize, the local
list, the cache, TransactionEvent responses), the running cost (CostUpdated, ``totalCost`` of Updated
responses), the final cost (``totalCost`` of the Ended event's response), the TariffCostCtrlr variables and
their fallback messages. The display block (:mod:`josev.ocpp.display`) shows the result.

Per-EVSE state is persisted (``tariff_cost``), so the final cost is still shown after a restart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

KEY = "tariff_cost"


def _enabled(st: Station, what: str) -> bool:
    return st.dm.get("TariffCostCtrlr", "Enabled", what) == "true"


def _all(st: Station) -> dict[str, dict[str, Any]]:
    cached: dict[str, dict[str, Any]] | None = st.blocks.get(KEY)
    if cached is None:
        cached = st.blocks[KEY] = dict(st.store.get(KEY, {}))
    return dict(cached)


def state(st: Station, evse: int) -> dict[str, Any]:
    """``tariff`` (text), ``running`` / ``total`` (cost), ``tx`` (transaction id), ``fallback_total``."""
    return dict(_all(st).get(str(evse), {}))


def _put(st: Station, evse: int, value: dict[str, Any]) -> None:
    everything = _all(st)
    everything[str(evse)] = value
    st.blocks[KEY] = everything
    st.store.put(KEY, everything)


def on_authorized(st: Station, evse: int, info: dict[str, Any], now: float) -> None:
    """A new authorization at ``evse``: show its tariff (personalMessage) or the fallback tariff text."""
    if not _enabled(st, "Tariff"):
        return
    msg = info.get("personalMessage")
    text = msg["content"] if msg else st.dm.get("TariffCostCtrlr", "TariffFallbackMessage")
    rec = st.tx.current(evse)
    _put(st, evse, {"tariff": text, "tx": rec["id"] if rec else None, "running": None, "total": None})
    log.info("EVSE %d tariff: %s", evse, text)


def on_tx_response(st: Station, sent: dict[str, Any], payload: dict[str, Any], now: float) -> None:
    """A TransactionEvent was answered: totalCost (running or final), personalMessage, updatedPersonalMessage."""
    evse = sent["evse"]["id"]
    tx = sent["transactionInfo"]["transactionId"]
    s = state(st, evse)
    if s.get("tx") not in (None, tx) and sent["eventType"] != "Started":
        return  # the answer to an older transaction's event: its cost is no longer shown
    s["tx"] = tx
    info = payload.get("idTokenInfo") or {}
    for pm in (info.get("personalMessage"), payload.get("updatedPersonalMessage")):
        if pm and _enabled(st, "Tariff"):
            s["tariff"] = pm["content"]
    cost = payload.get("totalCost")
    if _enabled(st, "Cost"):
        if sent["eventType"] == "Ended":
            s["total"], s["running"], s["tariff"] = cost, None, None
            s["fallback_total"] = cost is None
        elif cost is not None:
            s["running"] = cost
    _put(st, evse, s)


def cost_updated(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """CostUpdated (I02): the running cost of a transaction (ignored for an unknown transaction)."""
    found = st.tx.by_id(req["transactionId"])
    if found is None:
        log.warning("CostUpdated for unknown transaction %s ignored", req["transactionId"])
        return {}
    if _enabled(st, "Cost"):
        evse = found[0]
        s = state(st, evse)
        s.update(tx=req["transactionId"], running=float(req["totalCost"]))
        _put(st, evse, s)
    return {}


def _money(value: float, currency: str) -> str:
    return f"{value:.2f} {currency}"


def lines(st: Station, evse: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Display lines and the values for :class:`josev.api.display.DisplayState` of ``evse``."""
    s = state(st, evse)
    currency = st.dm.get("TariffCostCtrlr", "Currency")
    out: list[dict[str, Any]] = []
    if s.get("tariff"):
        out.append({"text": s["tariff"], "priority": "InFront", "source": "tariff"})
    if s.get("running") is not None:
        out.append(
            {
                "text": f"Cost so far: {_money(s['running'], currency)}",
                "priority": "InFront",
                "source": "cost",
            }
        )
    if s.get("total") is not None:
        out.append(
            {"text": f"Total cost: {_money(s['total'], currency)}", "priority": "InFront", "source": "cost"}
        )
    elif s.get("fallback_total"):
        text = st.dm.get("TariffCostCtrlr", "TotalCostFallbackMessage")
        out.append({"text": text, "priority": "InFront", "source": "fallback"})
    values = {
        "tariff": s.get("tariff"),
        "running_cost": s.get("running"),
        "total_cost": s.get("total"),
        "currency": currency,
        "transaction_id": s.get("tx"),
    }
    return out, values
