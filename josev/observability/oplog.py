"""What an operator reads: one INFO line per thing that happened at the station, in words, with the values.

Each service calls one function here at the point where the event happens (service ready, CSMS connected or
failed and why, EV plugged, SLAC matched, V2G session started with its protocol and payment, authorization
result, charging started/stopped with the energy, faults and their cause, firmware and certificate events).
The line is text for a person; the same values go into the record as structured fields (``record.fields``),
which :class:`josev.logs.JsonLines` writes as keys of the JSON object: ``{"event": "charging_stopped",
"evse": 1, "energy_wh": 9.3, ...}``.
"""

from __future__ import annotations

import errno
import logging
import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PROTOCOLS = {
    "din": "DIN SPEC 70121",
    "iso2": "ISO 15118-2",
    "iso20": "ISO 15118-20",
}


def emit(logger: logging.Logger, level: int, msg: str, event: str, **fields: Any) -> None:
    """Log ``msg`` with the structured ``fields`` (``event`` names the kind of line)."""
    logger.log(level, msg, extra={"fields": {"event": event, **fields}})


# -- services -----------------------------------------------------------------------------------------------
def service_state(logger: logging.Logger, service: str, state: str, detail: str) -> None:
    """A service became ready, degraded or stopped (``starting`` is not worth a line)."""
    if state == "starting":
        return
    level = logging.INFO if state in ("ready", "stopped") and "crashed" not in detail else logging.WARNING
    text = f"service {service} {state}" + (f": {detail}" if detail else "")
    emit(logger, level, text, f"service_{state}", service=service, detail=detail)


# -- OCPP ---------------------------------------------------------------------------------------------------
def safe_url(url: str) -> str:
    """``url`` without user information (``ws://user:password@host`` never reaches a log)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def connect_reason(exc: BaseException) -> str:
    """Why a connection to the CSMS failed, in words (never empty)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        hint = {
            401: " (identity or Basic-auth password refused)",
            403: " (station not allowed)",
            404: " (wrong URL path?)",
        }
        return f"the CSMS answered HTTP {status}{hint.get(status, '')}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the CSMS certificate is not trusted ({exc.verify_message or exc.reason})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, TimeoutError):
        return "no answer from the CSMS in time (timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens at that address and port)"
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        return f"{exc.strerror or name} ({name})"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def csms_connected(logger: logging.Logger, profile: dict[str, Any], slot: int) -> None:
    """The websocket to the CSMS is open."""
    url = safe_url(str(profile.get("ocppCsmsUrl", "?")))
    sp = profile.get("securityProfile")
    emit(
        logger,
        logging.INFO,
        f"CSMS connected: {url} (network profile slot {slot}, security profile {sp})",
        "csms_connected",
        url=url,
        slot=slot,
        security_profile=sp,
    )


class CsmsFailures:
    """Logs failed CSMS connection attempts: each new reason at once, the same reason again at most once per
    REPEAT_S with the number of attempts left unlogged meanwhile (a CSMS down for a day with a short back-off
    must not fill the log)."""

    REPEAT_S = 60.0

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._last: tuple[int, str] | None = None
        self._logged_at = 0.0
        self._unlogged = 0

    def failed(self, slot: int, exc: BaseException, retry_s: float, now: float) -> bool:
        """Record one failed attempt; True when it was logged."""
        reason = connect_reason(exc)
        if self._last == (slot, reason) and now - self._logged_at < self.REPEAT_S:
            self._unlogged += 1
            return False
        more = f" ({self._unlogged} more attempts failed the same way)" if self._unlogged else ""
        emit(
            self.logger,
            logging.WARNING,
            f"CSMS connection (slot {slot}) failed: {reason}; retry in {round(retry_s, 2):g} s{more}",
            "csms_failed",
            slot=slot,
            reason=reason,
            retry_s=round(retry_s, 2),
            unlogged=self._unlogged,
        )
        self._last, self._logged_at, self._unlogged = (slot, reason), now, 0
        return True

    def connected(self) -> None:
        """The connection is up: the next failure is logged at once."""
        self._last, self._unlogged = None, 0


def authorization(logger: logging.Logger, evse: int, token: str, status: str, source: str) -> None:
    """The CSMS (or the local list / cache) answered for a token."""
    level = logging.INFO if status == "Accepted" else logging.WARNING
    emit(
        logger,
        level,
        f"EVSE {evse}: token {token} {status} ({source})",
        "authorization",
        evse=evse,
        id_token=token,
        status=status,
        source=source,
    )


def firmware_status(logger: logging.Logger, status: str, request_id: int | None) -> None:
    """A firmware update moved on (Downloading, Downloaded, SignatureVerified, Installing, Installed...)."""
    bad = any(w in status for w in ("Failed", "Invalid", "Error"))
    emit(
        logger,
        logging.WARNING if bad else logging.INFO,
        f"firmware update {status}" + (f" (request {request_id})" if request_id is not None else ""),
        "firmware",
        status=status,
        request_id=request_id,
    )


def security_event(logger: logging.Logger, type_: str, tech_info: str | None) -> None:
    """An OCPP security event (certificates installed or rejected, CSMS authentication, reconfiguration)."""
    emit(
        logger,
        logging.INFO,
        f"security event {type_}" + (f": {tech_info}" if tech_info else ""),
        "security_event",
        type=type_,
        tech_info=tech_info,
    )


# -- coordinator ---------------------------------------------------------------------------------------------
def session_step(logger: logging.Logger, evse: int, out: Any) -> None:
    """A step of a vehicle session (the coordinator's ``SessionOut``)."""
    kind = str(out.kind)
    sid = str(out.session_id)
    energy = round(float(out.energy_wh), 1)
    reason = f" ({out.reason})" if out.reason else ""
    fields: dict[str, Any] = {"evse": evse, "session_id": sid}
    level = logging.INFO
    if kind == "started":
        text = f"EVSE {evse}: EV plugged in, session {sid}"
        event = "ev_plugged"
    elif kind == "authorized":
        text = f"EVSE {evse}: session authorized by {out.auth_source or '?'}" + (
            f", token {out.id_token}" if out.id_token else ""
        )
        event = "authorized"
        fields |= {"id_token": out.id_token, "auth_source": out.auth_source}
    elif kind == "charging_started":
        text = f"EVSE {evse}: charging started"
        event = "charging_started"
    elif kind == "charging_stopped":
        text = f"EVSE {evse}: charging stopped{reason}, {energy} Wh delivered so far"
        event = "charging_stopped"
        fields |= {"energy_wh": energy, "reason": out.reason}
    elif kind == "forced_open":
        text = f"EVSE {evse}: contactor opened without the EV's consent{reason}"
        event = "forced_open"
        level = logging.WARNING
        fields |= {"reason": out.reason}
    elif kind == "ended":
        export = float(getattr(out, "energy_export_wh", 0.0))
        text = f"EVSE {evse}: session {sid} ended{reason}: {energy} Wh delivered"
        if export:
            text += f", {round(export, 1)} Wh returned"
        if getattr(out, "unmetered", False):
            text += " (meter lost: incomplete)"
        event = "session_ended"
        fields |= {"energy_wh": energy, "energy_export_wh": round(export, 1), "reason": out.reason}
    else:
        text = f"EVSE {evse}: session {kind}{reason}"
        event = f"session_{kind}"
        fields |= {"reason": out.reason}
    emit(logger, level, text, event, **fields)


_FAULTS: dict[tuple[str, int], frozenset[str]] = {}


def faults(logger: logging.Logger, evse: int, active: list[str], state: str) -> None:
    """Log faults when they appear (with their cause) and when they clear; silent while nothing changes."""
    key = (logger.name, evse)
    now = frozenset(active)
    before = _FAULTS.get(key, frozenset())
    if now == before:
        return
    _FAULTS[key] = now
    for f in sorted(now - before):
        emit(
            logger,
            logging.WARNING,
            f"EVSE {evse}: fault {f} (state {state})",
            "fault",
            evse=evse,
            fault=f,
            state=state,
        )
    for f in sorted(before - now):
        emit(logger, logging.INFO, f"EVSE {evse}: fault {f} cleared", "fault_cleared", evse=evse, fault=f)


# -- SLAC ---------------------------------------------------------------------------------------------------
def slac_status(logger: logging.Logger, evse: int, status: str, reason: str, ev_mac: Any) -> None:
    """SLAC matching, matched (with the EV's modem), failed (why) or unmatched (why)."""
    mac = ev_mac.hex(":") if isinstance(ev_mac, bytes | bytearray) else (str(ev_mac) if ev_mac else None)
    text = f"EVSE {evse}: SLAC {status}"
    if status == "matched" and mac:
        text += f" with EV modem {mac}"
    if reason:
        text += f" ({reason})"
    level = logging.WARNING if status == "failed" else logging.INFO
    emit(logger, level, text, f"slac_{status}", evse=evse, status=status, reason=reason, ev_mac=mac)


# -- SECC ---------------------------------------------------------------------------------------------------
_PAYMENT_LOGGED: dict[int, str] = {}


def secc_event(logger: logging.Logger, evse: int, ev: Any) -> None:
    """A V2G session started (protocol), the EV asked for authorization (payment), the session ended."""
    name = type(ev).__name__
    if name == "SessionStarted":
        proto = PROTOCOLS.get(str(ev.protocol), str(ev.protocol))
        _PAYMENT_LOGGED.pop(evse, None)
        emit(
            logger,
            logging.INFO,
            f"EVSE {evse}: {proto} session {ev.session_id} started (EVCC {ev.evcc_id}"
            + (", resumed)" if ev.resumed else ")"),
            "v2g_session_started",
            evse=evse,
            protocol=str(ev.protocol),
            session_id=str(ev.session_id),
            evcc_id=str(ev.evcc_id),
        )
    elif name == "AuthorizationRequested":
        payment = str(getattr(ev, "payment", ""))
        if _PAYMENT_LOGGED.get(evse) == payment:
            return  # the EV repeats the request until it is answered
        _PAYMENT_LOGGED[evse] = payment
        emit(
            logger,
            logging.INFO,
            f"EVSE {evse}: EV asks for authorization, payment {payment}",
            "v2g_payment",
            evse=evse,
            payment=payment,
        )
