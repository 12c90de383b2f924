"""ISO 15118-2 MeteringReceiptReq -> MeteringReceiptRes (Plug & Charge sessions).

When the station wants the EV to sign for its meter reading (``EvseView.metering_receipt_interval``), the
ChargingStatusRes (AC) / CurrentDemandRes (DC) of a Contract session carries ``ReceiptRequired`` and the station
meter's ``MeterInfo`` (:func:`offer`). The EV answers with MeteringReceiptReq: SessionID, SAScheduleTupleID and
that MeterInfo, with an ``Id``, signed in the header with its contract key (the XML signature over the EXI
fragment of the MeteringReceiptReq element). The SECC verifies it with the contract certificate of PaymentDetails
(else FAILED_MeteringSignatureNotValid, a security event, and the session ends) and checks that the MeterInfo,
SessionID and SAScheduleTupleID are the ones it sent (else FAILED); then the charging loop goes on.
EIM sessions are never asked: a MeteringReceiptReq there is a sequence error (the state table refuses it).
"""

from __future__ import annotations

from typing import Any

from josev.pnc import PncError, xmlsig
from josev.secc import common
from josev.secc.events import MeterReceipted, SecurityIssue
from josev.secc.machine import Context, HandlerError

REQUEST = "MeteringReceiptReq"
RESPONSE = "MeteringReceiptRes"
STATE = "MeteringReceipt"
SIGNATURE_NOT_VALID = "FAILED_MeteringSignatureNotValid"
#: the MeterInfo fields compared between what the station sent and what the EV signed
METER_FIELDS = ("MeterID", "MeterReading", "SigMeterReading", "MeterStatus", "TMeter")


def meter_info(ctx: Context, now: float) -> dict[str, Any] | None:
    """The station meter's MeterInfo (schema order), or None when the meter has no valid reading."""
    view = ctx.evse
    if view.meter_wh is None or view.meter_wh < 0:
        return None
    info: dict[str, Any] = {
        "MeterID": (view.meter_id or view.evse_id)[:32],
        "MeterReading": int(view.meter_wh),
    }
    if view.wall_offset is not None:
        info["TMeter"] = int(now + view.wall_offset)
    return info


def offer(ctx: Context, res: dict[str, Any], now: float, state: str) -> str:
    """Add ``ReceiptRequired`` and ``MeterInfo`` to a loop response when a receipt is due; the next state."""
    interval = ctx.evse.metering_receipt_interval
    if ctx.payment != "Contract" or ctx.contract is None or interval is None:
        return state
    if not str(res.get("ResponseCode", "")).startswith("OK"):
        return state
    if ctx.receipt_asked_at is not None and now - ctx.receipt_asked_at < interval:
        return state
    info = meter_info(ctx, now)
    if info is None:
        return state
    ctx.meter_info = info
    ctx.receipt_asked_at = now
    res["MeterInfo"] = dict(info)
    res["ReceiptRequired"] = True
    if "AC_EVSEStatus" in res:  # ChargingStatusRes: AC_EVSEStatus comes after ReceiptRequired
        res["AC_EVSEStatus"] = res.pop("AC_EVSEStatus")
    return STATE


def _ac(ctx: Context) -> bool:
    return ctx.energy_mode.startswith("AC") if ctx.energy_mode else not ctx.evse.is_dc


def _same(sent: dict[str, Any], got: Any) -> bool:
    if not isinstance(got, dict):
        return False
    return all(sent.get(k) == got.get(k) for k in METER_FIELDS)


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Verify the contract signature over the receipt and its content; back to the charging loop."""
    sent = ctx.meter_info
    if ctx.payment != "Contract" or ctx.contract is None or sent is None:
        raise HandlerError("FAILED_SequenceError", "MeteringReceiptReq without ReceiptRequired")
    ref_id = req.get("Id")
    if not isinstance(ref_id, str) or not ref_id:
        ctx.emit(SecurityIssue("metering_signature", "MeteringReceiptReq without Id cannot be signed"))
        raise HandlerError(SIGNATURE_NOT_VALID, "MeteringReceiptReq without Id cannot be signed")
    try:
        fragment = xmlsig.fragment("iso2", REQUEST, req)
        xmlsig.verify(
            ctx.header.get("Signature"), [(ref_id, fragment)], ctx.contract.public_key, [xmlsig.ISO2]
        )
    except PncError as e:
        ctx.emit(SecurityIssue("metering_signature", f"MeteringReceiptReq: {e.detail}"))
        raise HandlerError(SIGNATURE_NOT_VALID, e.detail) from None
    if str(req.get("SessionID", "")).upper() != ctx.session_id:
        raise HandlerError("FAILED", "MeteringReceiptReq: SessionID is not the session's")
    if "SAScheduleTupleID" in req and req["SAScheduleTupleID"] != ctx.schedule_id:
        raise HandlerError("FAILED", "MeteringReceiptReq: SAScheduleTupleID is not the schedule in use")
    if not _same(sent, req.get("MeterInfo")):
        raise HandlerError("FAILED", "MeteringReceiptReq: MeterInfo differs from the one the station sent")
    ctx.meter_info = None
    ctx.emit(MeterReceipted(dict(sent)))
    if _ac(ctx):
        return {"ResponseCode": "OK", "AC_EVSEStatus": common.ac_status(ctx)}, "ChargingStatus"
    return {"ResponseCode": "OK", "DC_EVSEStatus": common.dc_status(ctx, "iso2")}, "CurrentDemand"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """MeteringReceiptRes with a FAILED code."""
    if _ac(ctx):
        return {"ResponseCode": code, "AC_EVSEStatus": common.ac_status(ctx)}
    return {"ResponseCode": code, "DC_EVSEStatus": common.dc_status(ctx, "iso2")}
