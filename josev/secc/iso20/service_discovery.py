"""ISO 15118-20 ServiceDiscoveryReq -> ServiceDiscoveryRes: the energy transfer services of this EVSE."""

from __future__ import annotations

from typing import Any

from josev.secc.iso20 import services
from josev.secc.iso20.context import Iso20Context

REQUEST = "ServiceDiscoveryReq"
RESPONSE = "ServiceDiscoveryRes"
SCHEMA = "iso20-cm"


def _list(ctx: Iso20Context, ids: tuple[int, ...]) -> dict[str, Any]:
    free = ctx.evse.free_service
    return {"Service": [{"ServiceID": s, "FreeService": free} for s in ids or (services.AC,)]}


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Offer the services, restricted to the EV's SupportedServiceIDs when it names any we offer."""
    offered = services.offered(ctx)
    wanted = (req.get("SupportedServiceIDs") or {}).get("ServiceID")
    if isinstance(wanted, int):
        wanted = [wanted]
    if isinstance(wanted, list):
        subset = tuple(s for s in offered if s in wanted)
        offered = subset or offered
    ctx.offered_services = offered
    if not offered:
        return negative(ctx, "FAILED"), state
    ctx.selection = None
    return {
        "ResponseCode": "OK",
        "ServiceRenegotiationSupported": ctx.config.service_renegotiation,
        "EnergyTransferServiceList": _list(ctx, offered),
    }, "ServiceDetail"


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """ServiceDiscoveryRes with a FAILED code."""
    return {
        "ResponseCode": code,
        "ServiceRenegotiationSupported": False,
        "EnergyTransferServiceList": _list(ctx, ctx.offered_services),
    }
