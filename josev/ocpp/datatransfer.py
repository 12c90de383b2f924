"""DataTransfer (P) and CustomerInformation (N09/N10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from josev.ocpp.core import Station

VendorHandler = Callable[["Station", str | None, Any, float], dict[str, Any]]

VENDOR_ID = "org.josev"
"""Our own vendorId: messageId ``echo`` answers with the data it got (for tests and diagnostics)."""


def _josev(st: Station, message_id: str | None, data: Any, now: float) -> dict[str, Any]:
    if message_id == "echo":
        return {"status": "Accepted", "data": data}
    return {"status": "UnknownMessageId"}


VENDORS: dict[str, VendorHandler] = {VENDOR_ID: _josev}
"""DataTransfer handlers by vendorId; integrators add theirs here. Unknown vendors get UnknownVendorId."""


def data_transfer(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """DataTransfer from the CSMS (P01)."""
    handler = VENDORS.get(req["vendorId"])
    if handler is None:
        return {"status": "UnknownVendorId"}
    out = handler(st, req.get("messageId"), req.get("data"), now)
    if out.get("data") is None:
        out.pop("data", None)
    return out


def customer_information(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """CustomerInformation: report what we hold about an idToken (cache entry, open transactions) and/or
    clear it; the report follows in NotifyCustomerInformation."""
    token = req.get("idToken")
    if token is None and req.get("customerIdentifier") is None and req.get("customerCertificate") is None:
        return {"status": "Invalid"}
    rid = req["requestId"]
    found: list[str] = []
    if token is not None:
        key = f"{token['type']}:{token['idToken']}"
        cached = st.store.cache_get(key, now)
        if cached is not None:
            found.append(f"authorization cache: {json.dumps(cached, separators=(',', ':'))}")
        for e in sorted(st.evses):
            rec = st.tx.current(e)
            if rec and rec.get("token") == token:
                found.append(f"open transaction {rec['id']} on EVSE {e}")

    def after(s: Station, t: float) -> None:
        if req["clear"] and token is not None:
            s.store._db.execute(
                "DELETE FROM auth_cache WHERE token=?", (f"{token['type']}:{token['idToken']}",)
            )
        data = (
            "; ".join(found)
            if req["report"] and found
            else ("No customer data" if req["report"] else "Cleared")
        )
        s.send(
            "NotifyCustomerInformation",
            {"data": data[:512], "tbc": False, "seqNo": 0, "generatedAt": s.timestamp(t), "requestId": rid},
            t,
        )

    return {"status": "Accepted", "_after": after}
