"""ISO 15118-20 AuthorizationReq -> AuthorizationRes.

EIM: Ongoing_WaitingForCustomerInteraction until the coordinator decides (``EvseView.authorized``), then OK or
WARNING_EIMAuthorizationFailure; FAILED after the ongoing limit. PnC (when configured): the GenChallenge must be
the one sent (else WARNING_ChallengeInvalid) and the :class:`~josev.secc.iso20.context.PncVerifier` checks the
contract chain; an accepted contract is then authorized like EIM.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from josev.secc.events import AuthorizationRequested
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError

REQUEST = "AuthorizationReq"
RESPONSE = "AuthorizationRes"
SCHEMA = "iso20-cm"


def _finished(code: str) -> dict[str, Any]:
    return {"ResponseCode": code, "EVSEProcessing": "Finished"}


def _pnc(ctx: Iso20Context, req: dict[str, Any], now: float) -> str:
    mode = req.get("PnC_AReqAuthorizationMode")
    if not isinstance(mode, dict):
        raise HandlerError("FAILED", "PnC selected without PnC_AReqAuthorizationMode")
    try:
        got = base64.b64decode(str(mode.get("GenChallenge", "")), validate=True)
    except (binascii.Error, ValueError):
        got = b""
    if ctx.challenge is None or got != ctx.challenge:
        return "WARNING_ChallengeInvalid"
    assert ctx.config.pnc is not None
    ctx.header = req.get("Header") or {}
    ctx.now = now
    return ctx.config.pnc(ctx, mode)


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Ongoing until decided; see the module docstring for the codes."""
    selected = req.get("SelectedAuthorizationService")
    if selected not in ctx.auth_services:
        return _finished("WARNING_AuthorizationSelectionInvalid"), state
    if selected == "PnC" and "pnc_ok" not in ctx.ongoing_since:
        code = _pnc(ctx, req, now)
        if code.startswith("FAILED"):
            raise HandlerError(code, "Plug & Charge verification")
        if code != "OK" and not code.startswith("OK_"):
            return _finished(code), state
        ctx.ongoing_since["pnc_ok"] = now
    if "auth" not in ctx.ongoing_since:
        ctx.emit(AuthorizationRequested("Contract" if selected == "PnC" else "ExternalPayment"))
    decided = ctx.evse.authorized
    if decided is True:
        ctx.done("auth")
        ctx.authorized = True
        ctx.pnc_session = selected == "PnC"
        return _finished("OK"), "ServiceDiscovery"
    if decided is False:
        ctx.done("auth")
        warning = (
            "WARNING_EIMAuthorizationFailure" if selected == "EIM" else "WARNING_GeneralPnCAuthorizationError"
        )
        return _finished(warning), state
    if ctx.ongoing("auth", now, ctx.timers.authorization_ongoing):
        raise HandlerError("FAILED", "authorization timed out")
    return {"ResponseCode": "OK", "EVSEProcessing": "Ongoing_WaitingForCustomerInteraction"}, state


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """AuthorizationRes with a FAILED code."""
    return _finished(code)
