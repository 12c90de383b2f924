"""Authorization (C): idTokens presented at the station, the authorization cache, LocalPreAuthorize,
LocalAuthorizeOffline, GroupId and master pass, RequestStart/StopTransaction, ClearCache."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from josev.ocpp import localauthlist, reservation, tariffcost
from josev.ocpp.devmodel import TOKEN_TYPES
from josev.ocpp.effects import StationRequest

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)


def valid_token(token: dict[str, Any]) -> bool:
    """True if ``token`` is a valid IdTokenType (idToken up to 36 characters, a known type)."""
    tok = token.get("idToken")
    return (
        isinstance(tok, str)
        and len(tok) <= 36
        and token.get("type") in TOKEN_TYPES
        and set(token) <= {"idToken", "type", "additionalInfo"}
    )


def _tok_key(token: dict[str, Any]) -> str:
    return f"{token['type']}:{token['idToken']}"


def _result(st: Station, evse: int | None, token: dict[str, Any], status: str, how: str) -> None:
    st.emit(
        StationRequest("authorization", {"evse": evse, "idToken": token, "status": status, "source": how})
    )


def _cache_store(st: Station, token: dict[str, Any], info: dict[str, Any], now: float) -> None:
    if not st.dm.get_bool("AuthCacheCtrlr", "Enabled") or token["type"] in ("Central", "NoAuthorization"):
        return
    lifetime = st.dm.get_int("AuthCacheCtrlr", "LifeTime")
    expires: float | None = now + lifetime if lifetime > 0 else None
    if "cacheExpiryDateTime" in info:
        from datetime import datetime

        try:
            wall = datetime.fromisoformat(info["cacheExpiryDateTime"].replace("Z", "+00:00")).timestamp()
            expires = wall - st.clock_offset
        except ValueError:
            pass
    st.store.cache_put(_tok_key(token), info, now, expires, st.dm.get_int("AuthCacheCtrlr", "Storage"))


def _cached(st: Station, token: dict[str, Any], now: float) -> dict[str, Any] | None:
    if not st.dm.get_bool("AuthCacheCtrlr", "Enabled"):
        return None
    return st.store.cache_get(_tok_key(token), now)


def _pick_evse(st: Station, evse: int | None, fits: Callable[[int], bool] = lambda e: True) -> int | None:
    if evse is not None:
        return evse if evse in st.evses and fits(evse) else None
    for e in sorted(st.evses):
        if st.tx.live[e].connected and st.tx.live[e].token is None and fits(e):
            return e
    for e in sorted(st.evses):
        if not st.tx.current(e) and st.tx.live[e].token is None and fits(e):
            return e
    return None


def id_token(st: Station, evse: int | None, token: dict[str, Any], now: float) -> None:
    """An idToken was presented at the station (RFID, key code, ISO 15118 contract ...)."""
    if not valid_token(token):
        log.warning("malformed idToken %r refused", token)
        _result(
            st, evse, {"idToken": str(token.get("idToken", ""))[:36], "type": "Local"}, "Invalid", "malformed"
        )
        return
    # the same token ends the transaction it started: at the EVSE whose reader saw it, or at any EVSE when the
    # reader serves the whole station (no EVSE given)
    for e in sorted(st.evses) if evse is None else [evse] if evse in st.evses else []:
        rec = st.tx.current(e)
        if rec and rec.get("authorized") and rec.get("token") == token:
            st.tx.deauthorize(e, "StopAuthorized", now, token)
            _result(st, e, token, "Accepted", "stop")
            return
    if reservation.refuses(st, evse, token):
        log.info("EVSE %s is reserved for another idToken: %s refused", evse, token["idToken"])
        _result(st, evse, token, "NotAtThisTime", "reserved")
        return
    # the local authorization list takes precedence over the cache (C14, D01); its entries are not cached
    listed = localauthlist.lookup(st, token, now)
    cached = listed if listed is not None else _cached(st, token, now)
    where = "local-list" if listed is not None else "cache"
    if not st.online:
        if st.dm.get_bool("AuthCtrlr", "LocalAuthorizeOffline") and cached is not None:
            _decide(st, evse, token, cached, now, where)
        elif st.dm.get_bool("AuthCtrlr", "OfflineTxForUnknownIdEnabled") and cached is None:
            _decide(st, evse, token, {"status": "Accepted"}, now, "offline-unknown")
        else:
            _result(st, evse, token, "Invalid" if cached is None else cached["status"], "offline")
        return
    if (
        st.dm.get_bool("AuthCtrlr", "LocalPreAuthorize")
        and cached is not None
        and cached["status"] == "Accepted"
    ):
        _decide(st, evse, token, cached, now, where)
        return
    if (
        listed is not None
        and listed["status"] != "Accepted"
        and st.dm.get_bool("LocalAuthListCtrlr", "DisablePostAuthorize")
    ):
        _result(st, evse, token, listed["status"], "local-list")  # C14.FR.03: no Authorize for it
        return

    def on_result(s: Station, payload: dict[str, Any], t: float) -> None:
        info = payload["idTokenInfo"]
        if listed is None:
            _cache_store(s, token, info, t)
        _decide(s, evse, token, info, t, "csms")

    def on_error(s: Station, reason: str, t: float) -> None:
        if s.dm.get_bool("AuthCtrlr", "LocalAuthorizeOffline") and cached is not None:
            _decide(s, evse, token, cached, t, where)
        else:
            _result(s, evse, token, "Unknown", f"authorize failed: {reason}")

    st.send("Authorize", {"idToken": token}, now, on_result=on_result, on_error=on_error)


def _decide(
    st: Station, evse: int | None, token: dict[str, Any], info: dict[str, Any], now: float, how: str
) -> None:
    status = info["status"]
    group = (info.get("groupIdToken") or {}).get("idToken")
    master = st.dm.get("AuthCtrlr", "MasterPassGroupId")
    if status == "Accepted" and master and group == master:
        stopped = False
        for e in sorted(st.evses):
            if st.tx.current(e):
                st.tx.deauthorize(e, "StopAuthorized", now, token)
                stopped = True
        _result(st, evse, token, "Accepted" if stopped else "Invalid", "masterpass")
        return
    if status == "Accepted" and group:
        for e in sorted(st.evses):
            rec = st.tx.current(e)
            if rec and rec.get("authorized") and st.tx.live[e].group == group:
                st.tx.deauthorize(e, "StopAuthorized", now, token)
                _result(st, e, token, "Accepted", "stop-group")
                return
    target = _pick_evse(st, evse, lambda e: reservation.admits(st, e, token, group)[0])
    if status == "Accepted" and target is None and evse is not None and evse in st.evses:
        log.info("EVSE %d is reserved for another idToken: %s refused", evse, token["idToken"])
        _result(st, evse, token, "NotAtThisTime", "reserved")  # H01/H03: a reserved EVSE refuses others
        return
    if status != "Accepted" or target is None:
        _result(st, evse, token, status if status != "Accepted" else "NotAtThisLocation", how)
        return
    rid = reservation.admits(st, target, token, group)[1]
    if rid is not None:
        reservation.consume(st, target, rid, now)
    tariffcost.on_authorized(st, target, info, now)
    _result(st, target, token, "Accepted", how)
    st.tx.authorized(target, token, group, now)


def on_tx_response(st: Station, sent: dict[str, Any], payload: dict[str, Any], now: float) -> None:
    """A TransactionEvent was answered: an idTokenInfo that is not Accepted may stop the transaction."""
    tariffcost.on_tx_response(st, sent, payload, now)
    info = payload.get("idTokenInfo")
    if info is None or "idToken" not in sent:
        return
    if localauthlist.lookup(st, sent["idToken"], now) is None:
        _cache_store(st, sent["idToken"], info, now)
    if info["status"] == "Accepted" or sent["eventType"] == "Ended":
        return
    evse = sent["evse"]["id"]
    rec = st.tx.current(evse)
    same_tx = rec is not None and rec["id"] == sent["transactionInfo"]["transactionId"]
    if same_tx and st.dm.get_bool("TxCtrlr", "StopTxOnInvalidId"):
        st.tx.deauthorize(evse, "Deauthorized", now)
        st.emit(StationRequest("remote_stop", {"evse": evse, "reason": "DeAuthorized"}))


REMOTE_START_PENDING_S = 30.0
"""A remote start waiting for the CSMS's Authorize or the coordinator's decision holds its EVSE this long at
most (a second RequestStartTransaction for it is rejected meanwhile)."""


def _remote_pending(st: Station, now: float) -> dict[int, float]:
    """EVSE -> until when a remote start is being decided on it."""
    pending: dict[int, float] = st.blocks.setdefault("remote_start_pending", {})
    for evse in [e for e, until in pending.items() if until <= now]:
        del pending[evse]
    return pending


def request_start(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """RequestStartTransaction (F01/F02); with a chargingProfile see the smart-charging module (K05).

    The coordinator decides: the start goes to it as a ``remote_start`` station request, and only its
    acceptance authorizes the transaction (TransactionEvent with trigger RemoteStart and the remoteStartId);
    a refusal sends nothing. Without AuthorizeRemoteStart the CSMS's answer waits for that decision
    (Accepted only for a start the coordinator took, else Rejected with its reason). With it, the answer
    follows the station's own checks at once (the Authorize round trip comes after it, as F01 orders), and a
    start the coordinator refuses afterwards ends with no transaction."""
    from josev.ocpp import availability
    from josev.ocpp.core import Deferred

    if "chargingProfile" in req:
        from josev.ocpp.smartcharging import messages as smart

        return smart.request_start(st, req, now)

    evse = req.get("evseId")
    token, rid = req["idToken"], req["remoteStartId"]
    group = (req.get("groupIdToken") or {}).get("idToken")
    target = _pick_evse(st, evse, lambda e: reservation.admits(st, e, token, group)[0])
    if (
        target is None
        or not availability.operative(st, target)
        or st.tx.live[target].token is not None
        or _remote_pending(st, now).get(target, 0.0) > now
    ):
        return {"status": "Rejected"}
    if availability.effective(st, target, st.tx.live[target].connector) == "Faulted":
        return {"status": "Rejected"}
    resv = reservation.admits(st, target, token, group)[1]
    rec = st.tx.current(target)
    grant = {"evse": target, "idToken": token, "remoteStartId": rid}

    def take(s: Station, info: dict[str, Any], grp: str | None, t: float) -> None:
        """The coordinator took the start: the transaction is authorized by it."""
        if resv is not None:
            reservation.consume(s, target, resv, t)
        tariffcost.on_authorized(s, target, info, t)
        s.tx.live[target].remote_start_id = rid
        s.tx.authorized(target, token, grp, t, trigger="RemoteStart")

    def refused(s: Station, reply: dict[str, Any]) -> None:
        s.tx.live[target].remote_start_id = None
        log.warning(
            "EVSE %d: the coordinator refused remote start %d: %s",
            target,
            rid,
            reply.get("detail") or reply.get("status"),
        )

    if not (st.dm.get_bool("AuthCtrlr", "AuthorizeRemoteStart") and token["type"] != "NoAuthorization"):
        _remote_pending(st, now)[target] = now + REMOTE_START_PENDING_S
        st.tx.live[target].remote_start_id = rid  # a start in progress (a TxProfile of K05 waits for it)

        def on_reply(s: Station, reply: dict[str, Any], t: float) -> dict[str, Any]:
            _remote_pending(s, t).pop(target, None)
            if reply.get("status") != "Accepted":
                refused(s, reply)
                info = str(reply.get("detail") or "the EVSE cannot take a transaction now")[:500]
                return {
                    "status": "Rejected",
                    "statusInfo": {"reasonCode": "Unavailable", "additionalInfo": info},
                }
            out: dict[str, Any] = {"status": "Accepted", "_after": lambda s2, t2: take(s2, {}, group, t2)}
            if rec is not None:
                out["transactionId"] = rec["id"]
            return out

        return {
            "status": "Accepted",
            "_defer": Deferred("remote_start", grant, {"status": "Rejected"}, on_reply),
        }

    out: dict[str, Any] = {"status": "Accepted"}
    if rec is not None:
        out["transactionId"] = rec["id"]

    def go(s: Station, t: float) -> None:
        _remote_pending(s, t)[target] = t + REMOTE_START_PENDING_S
        s.tx.live[target].remote_start_id = rid  # a start in progress (a TxProfile of K05 waits for it)

        def ok(s2: Station, p: dict[str, Any], t2: float) -> None:
            _cache_store(s2, token, p["idTokenInfo"], t2)
            if p["idTokenInfo"]["status"] != "Accepted":
                _remote_pending(s2, t2).pop(target, None)
                s2.tx.live[target].remote_start_id = None
                _result(s2, target, token, p["idTokenInfo"]["status"], "remote")
                return
            info = p["idTokenInfo"]

            def decided(s3: Station, reply: dict[str, Any], t3: float) -> None:
                _remote_pending(s3, t3).pop(target, None)
                if reply.get("status") == "Accepted":
                    take(s3, info, None, t3)
                else:
                    refused(s3, reply)

            s2.ask("remote_start", grant, decided, t2)

        def failed(s2: Station, reason: str, t2: float) -> None:
            _remote_pending(s2, t2).pop(target, None)
            s2.tx.live[target].remote_start_id = None

        s.send("Authorize", {"idToken": token}, t, on_result=ok, on_error=failed)

    out["_after"] = go
    return out


def request_stop(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """RequestStopTransaction (F03)."""
    found = st.tx.by_id(req["transactionId"])
    if found is None:
        return {"status": "Rejected"}
    evse, _ = found

    def go(s: Station, t: float) -> None:
        s.emit(StationRequest("remote_stop", {"evse": evse, "reason": "Remote"}))
        s.tx.deauthorize(evse, "RemoteStop", t)

    return {"status": "Accepted", "_after": go}


def clear_cache(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """ClearCache (C11)."""
    if not st.dm.get_bool("AuthCacheCtrlr", "Enabled"):
        return {"status": "Rejected"}
    st.store.cache_clear()
    return {"status": "Accepted"}
