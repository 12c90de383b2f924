"""ISO 15118-20 MeteringConfirmationReq -> MeteringConfirmationRes (Plug & Charge sessions).

When the station wants a receipt (``Iso20Config.metering_interval`` > 0, ``[secc] metering_confirmation_s``) and
the session was authorized by a contract, a ChargeLoopRes carries the meter reading (MeterInfo), a Receipt
(its TimeAnchor) and ``EVSENotification = MeteringConfirmation`` every that many seconds of charging (the first
after one interval; Terminate and the other notifications come first). The EV answers with
MeteringConfirmationReq: ``SignedMeteringData`` (this session's SessionID, the MeterInfo and Receipt it got, its
control mode and schedule) signed in the header with its contract key over the element's EXI fragment (ECDSA
P-521 / SHA-512 or Ed448). The SECC checks the signature with the key of the contract it verified at
Authorization (``FAILED_MeteringSignatureNotValid``, also a security event), and that SessionID, MeterInfo and
Receipt are exactly what it sent (``FAILED``); a confirmation nobody asked for is ``FAILED_SequenceError``.
"""

from __future__ import annotations

from typing import Any

from josev.pnc import PncError, xmlsig
from josev.secc.events import SecurityIssue
from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context
from josev.secc.iso20.events import MeteringConfirmed
from josev.secc.machine import HandlerError

REQUEST = "MeteringConfirmationReq"
RESPONSE = "MeteringConfirmationRes"
SCHEMA = "iso20-cm"
SIGNED = "SignedMeteringData"
SIGNATURE_NOT_VALID = "FAILED_MeteringSignatureNotValid"
NOTIFICATION = "MeteringConfirmation"


def request_if_due(ctx: Iso20Context, res: dict[str, Any], now: float) -> dict[str, Any]:
    """Add MeterInfo, Receipt and the MeteringConfirmation notification to a ChargeLoopRes when one is due (and
    no other notification is being sent)."""
    interval = ctx.config.metering_interval
    if interval <= 0 or not ctx.pnc_session or ctx.contract_key is None or "EVSEStatus" in res:
        return res
    if ctx.metering_due is None:
        ctx.metering_due = now + interval
    if now < ctx.metering_due or ctx.metering_asked is not None:
        return res
    ctx.metering_due = now + interval
    meter = common.meter_info(ctx)
    receipt = {"TimeAnchor": common.timestamp(ctx, now)}
    ctx.metering_asked = {"MeterInfo": meter, "Receipt": receipt}
    res["MeterInfo"] = meter
    res["Receipt"] = receipt
    res["EVSEStatus"] = {
        "NotificationMaxDelay": ctx.config.notification_max_delay,
        "EVSENotification": NOTIFICATION,
    }
    return res


def _same(a: Any, b: Any) -> bool:
    """Equal as decoded values (numbers compared as integers, element order ignored)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return int(a) == int(b)
    return bool(a == b)


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Verify the EV's signed confirmation of the reading the station sent."""
    asked = ctx.metering_asked
    if asked is None or ctx.contract_key is None:
        raise HandlerError("FAILED_SequenceError", "no metering confirmation was requested")
    data = req.get(SIGNED)
    if not isinstance(data, dict) or not data.get("Id"):
        raise HandlerError(SIGNATURE_NOT_VALID, f"{REQUEST} without a signable {SIGNED}")
    try:
        xmlsig.verify(
            (req.get("Header") or {}).get("Signature"),
            [(str(data["Id"]), xmlsig.fragment(SCHEMA, SIGNED, data))],
            ctx.contract_key,
            xmlsig.ISO20_SUITES,
        )
    except PncError as e:
        ctx.emit(SecurityIssue("signature_error", f"{REQUEST}: {e.detail}"))
        raise HandlerError(SIGNATURE_NOT_VALID, e.detail) from None
    if str(data.get("SessionID", "")).upper() != ctx.session_id:
        raise HandlerError("FAILED", "SignedMeteringData is of another session")
    if not _same(data.get("MeterInfo"), asked["MeterInfo"]):
        raise HandlerError("FAILED", "the confirmed MeterInfo is not the one the station sent")
    if "Receipt" in data and not _same(data["Receipt"], asked["Receipt"]):
        raise HandlerError("FAILED", "the confirmed Receipt is not the one the station sent")
    sel = ctx.require_selection()
    sched = data.get("Scheduled_SMDTControlMode")
    if sel.dynamic != ("Dynamic_SMDTControlMode" in data) or (
        isinstance(sched, dict)
        and ctx.schedule_ids
        and int(sched.get("SelectedScheduleTupleID", 0)) not in ctx.schedule_ids
    ):
        raise HandlerError("FAILED", "the confirmed control mode or schedule is not this session's")
    ctx.metering_asked = None
    ctx.metering_confirmed += 1
    meter = asked["MeterInfo"]
    ctx.emit(MeteringConfirmed(str(meter["MeterID"]), int(meter["ChargedEnergyReadingWh"])))
    return {"ResponseCode": "OK"}, state


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """MeteringConfirmationRes with a FAILED code."""
    return {"ResponseCode": code}
