"""ISO 15118-20 ServiceSelectionReq -> ServiceSelectionRes: the EV picks a service and a parameter set."""

from __future__ import annotations

from typing import Any

from josev.secc.iso20 import services
from josev.secc.iso20.context import DYNAMIC, Iso20Context
from josev.secc.iso20.events import ServiceSelected
from josev.secc.machine import HandlerError

REQUEST = "ServiceSelectionReq"
RESPONSE = "ServiceSelectionRes"
SCHEMA = "iso20-cm"


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """FAILED_NoEnergyTransferServiceSelected / FAILED_ServiceSelectionInvalid for a missing / unknown choice."""
    sel = req.get("SelectedEnergyTransferService")
    if not isinstance(sel, dict):
        raise HandlerError("FAILED_NoEnergyTransferServiceSelected", "no SelectedEnergyTransferService")
    sid, pid = sel.get("ServiceID"), sel.get("ParameterSetID")
    if not isinstance(sid, int) or not isinstance(pid, int):
        raise HandlerError("FAILED_ServiceSelectionInvalid", "ServiceID/ParameterSetID missing")
    if req.get("SelectedVASList"):
        raise HandlerError("FAILED_ServiceSelectionInvalid", "no value-added services are offered")
    choice = services.select(ctx, sid, pid)
    if choice is None:
        raise HandlerError(
            "FAILED_ServiceSelectionInvalid", f"service {sid} / parameter set {pid} not offered"
        )
    ctx.selection = choice
    ctx.schedule_ids = ()
    ctx.emit(
        ServiceSelected(
            services.NAMES[sid], "dynamic" if choice.control_mode == DYNAMIC else "scheduled", pid
        )
    )
    return {"ResponseCode": "OK"}, "ChargeParameterDiscovery"


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """ServiceSelectionRes with a FAILED code."""
    return {"ResponseCode": code}
