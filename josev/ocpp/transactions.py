"""Transactions (E) and meter values (J): TransactionEvent Started/Updated/Ended following TxStartPoint and
TxStopPoint, seqNo, the offline flag, sampled and clock-aligned meter values, GetTransactionStatus.

Each open transaction is persisted (``tx:<evse>`` in the store) together with every event it queues, in one
SQLite transaction, so a restart continues the same transactionId with a continuous seqNo.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

CUT_GRACE_S = 60.0
"""After a crash, how long an open transaction waits for the station to show whether its session survived."""
END_WAIT_S = 15.0
"""How long a transaction's end waits for the meter reading taken when the contactor opens (the station stops
energy transfer first: the EV has a few seconds to stop drawing current)."""
MAX_ENDED_SAMPLES = 200
"""TxEndedInterval samples kept per transaction for its Ended event."""
UNITS = {"Energy": "Wh", "Power": "W", "Current": "A", "Voltage": "V", "SoC": "Percent"}
STOP_REASON = {
    "EVDeparted": "EVDisconnected",
    "StopAuthorized": "Local",
    "RemoteStop": "Remote",
    "Deauthorized": "DeAuthorized",
    "ResetCommand": "ImmediateReset",
    "EVConnectTimeout": "Timeout",
    "ChargingStateChanged": "StoppedByEV",
    "EnergyLimitReached": "EnergyLimitReached",
}


@dataclass
class EvseLive:
    """Inputs from the station for one EVSE (not persisted: the station reports them again on restart)."""

    connected: bool = False
    connector: int = 1
    token: dict[str, Any] | None = None
    group: str | None = None
    charging_state: str = "Idle"
    remote_start_id: int | None = None
    reservation_id: int | None = None
    """A reservation this EVSE's authorization consumed (sent once, with the idToken, as reservationId)."""
    readings: dict[str, float] = field(default_factory=dict)
    powered: bool = False
    """The station reported the power path closed (energy transfer) and not yet its reading at opening."""
    session: str | None = None
    """The station's session on this EVSE (the coordinator's session id), as last reported."""


def sampled_values(readings: dict[str, float], measurands: list[str], context: str) -> list[dict[str, Any]]:
    """SampledValueType entries for the measurands we have readings for."""
    out = []
    for m in measurands:
        if m not in readings:
            continue
        sv: dict[str, Any] = {"value": round(readings[m], 3), "context": context, "measurand": m}
        unit = UNITS.get(m.split(".")[0])
        if unit:
            sv["unitOfMeasure"] = {"unit": unit}
        out.append(sv)
    return out


class Transactions:
    """Transaction state of every EVSE of a :class:`~josev.ocpp.core.Station`."""

    def __init__(self, st: Station) -> None:
        self.st = st
        self.live = {e: EvseLive() for e in st.evses}
        self.pending_evse_reset: set[int] = set()
        self.cut: set[int] = set()
        """EVSEs whose transaction was open when the last run died: does its session still run?"""
        self.held: dict[int, dict[str, float]] = {}
        """Readings whose import register went back during a transaction (a restarted board or a reset meter,
        e.g. after a power cut): not this transaction's, held until it ends, then the next one starts there."""
        for e in st.evses:
            rec = self.current(e)
            if rec is not None:
                self.live[e].connected = "EVConnected" in rec["was"]
                self.live[e].connector = rec["connector"]
                self.live[e].token = rec.get("token") if rec.get("authorized") else None
                self.live[e].charging_state = rec.get("charging_state", "Idle")
            last = st.store.get(f"meter:{e}")
            if last:
                self.live[e].readings.update(last)

    # -- queries -------------------------------------------------------------------------------------
    def current(self, evse: int) -> dict[str, Any] | None:
        """The open transaction record of an EVSE."""
        rec = self.st.store.get(f"tx:{evse}")
        return dict(rec) if rec else None

    def any_active(self) -> bool:
        """True if any EVSE has an open transaction."""
        return any(self.current(e) for e in self.st.evses)

    def by_id(self, tx_id: str) -> tuple[int, dict[str, Any]] | None:
        """(evse, record) of an open transaction by its id."""
        for e in self.st.evses:
            rec = self.current(e)
            if rec and rec["id"] == tx_id:
                return e, rec
        return None

    def _conditions(self, evse: int) -> dict[str, bool]:
        lv = self.live[evse]
        auth = lv.token is not None
        return {
            "EVConnected": lv.connected,
            "ParkingBayOccupancy": lv.connected,
            "Authorized": auth,
            "PowerPathClosed": lv.connected and auth,
            "EnergyTransfer": lv.charging_state == "Charging",
            "DataSigned": False,
        }

    # -- station inputs ------------------------------------------------------------------------------
    def plug(self, evse: int, connector: int, connected: bool, now: float) -> None:
        """EV cable plugged in / removed."""
        lv = self.live[evse]
        if lv.connected == connected:
            return  # the station may report the same cable state twice (status and session events)
        lv.connected = connected
        lv.connector = connector
        # ChargingStateEnumType: EVConnected as soon as there is a connection (the Started event of a
        # plug-in carries it), Idle when there is none
        if connected and lv.charging_state == "Idle":
            lv.charging_state = "EVConnected"
        elif not connected:
            lv.charging_state = "Idle"
        if connected:
            self.st.timers.pop(f"evconn:{evse}", None)
        self._evaluate(evse, "CablePluggedIn" if connected else "EVDeparted", now)
        if not connected and lv.token is not None and not self.current(evse):
            lv.token = None

    def authorized(
        self, evse: int, token: dict[str, Any], group: str | None, now: float, trigger: str = "Authorized"
    ) -> None:
        """An idToken was accepted for this EVSE (locally, by the CSMS or by a remote start)."""
        lv = self.live[evse]
        lv.token, lv.group = token, group
        if not lv.connected:
            timeout = self.st.dm.get_int("TxCtrlr", "EVConnectionTimeOut")
            if timeout > 0:
                self.st.timers[f"evconn:{evse}"] = now + timeout
        self._evaluate(evse, trigger, now)

    def deauthorize(self, evse: int, trigger: str, now: float, token: dict[str, Any] | None = None) -> None:
        """Authorization withdrawn: StopAuthorized (local), RemoteStop, Deauthorized or EVConnectTimeout."""
        lv = self.live[evse]
        lv.token = None
        self.st.timers.pop(f"evconn:{evse}", None)
        if self.current(evse) is not None:
            self._evaluate(evse, trigger, now, stop_token=token)

    def charging_state(self, evse: int, state: str, now: float) -> None:
        """Charging, SuspendedEV, SuspendedEVSE, EVConnected or Idle."""
        lv = self.live[evse]
        if lv.charging_state == state:
            return
        lv.charging_state = state
        self._evaluate(evse, "ChargingStateChanged", now)

    def meter(self, evse: int, readings: dict[str, float]) -> None:
        """Latest meter readings of an EVSE (measurand -> value); persisted while a transaction is open and the
        import register moved (a transaction cut by a power loss ends with the last one)."""
        lv = self.live[evse]
        key = "Energy.Active.Import.Register"
        if key in readings and self._went_back(evse, readings[key]):
            self.held.setdefault(evse, {}).update(readings)
            return
        moved = key in readings and readings[key] != lv.readings.get(key)
        lv.readings.update(readings)
        if moved and self.current(evse) is not None:
            self.st.store.put(f"meter:{evse}", lv.readings)

    def _went_back(self, evse: int, register_wh: float) -> bool:
        """True when ``register_wh`` lies below the open transaction's last reading: an import register never
        goes back, so the meter was reset or the board restarted (its register starting again at 0 after a
        power cut). Billing such a reading would lose the energy delivered; the transaction keeps its last
        reading (logged once per transaction)."""
        if evse in self.held:
            return True
        last = self.live[evse].readings.get("Energy.Active.Import.Register")
        rec = self.current(evse)
        if rec is None or last is None or register_wh >= last - 1e-6:
            return False
        log.warning(
            "EVSE %d: the meter's import register went back from %.1f to %.1f Wh during transaction %s (a reset "
            "meter or a restarted board): the transaction keeps %.1f Wh as its last reading",
            evse,
            last,
            register_wh,
            rec["id"],
            last,
        )
        return True

    def stop(self, evse: int, trigger: str, reason: str, now: float) -> None:
        """End the transaction of ``evse`` for the station's own reason (e.g. ResetCommand / Reboot when it
        stops); like every end, it waits for the reading at contactor open while the power path is closed."""
        rec = self.current(evse)
        self.live[evse].token = None
        self.st.timers.pop(f"evconn:{evse}", None)
        if rec is not None:
            self._end(evse, rec, trigger, reason, now)

    def after_crash(self, now: float) -> None:
        """The last run died without stopping (power cut, kill -9). Whether its open transactions were cut
        shows when the station reports its sessions: the session a transaction belongs to gone (the station
        restarted too) ends it with PowerLoss; the same session still there (only this service restarted)
        continues it. Without word within CUT_GRACE_S, it continues."""
        for e in self.st.evses:
            if self.current(e) is not None:
                self.cut.add(e)
                self.st.timers[f"cut:{e}"] = now + CUT_GRACE_S

    def session_seen(self, evse: int, session_id: str | None, now: float) -> None:
        """The station's current session on ``evse`` (None: no vehicle session)."""
        lv = self.live[evse]
        lv.session = session_id
        rec = self.current(evse)
        if rec is None:
            return
        if evse in self.cut:
            if rec.get("session") is not None and session_id != rec["session"]:
                self.cut.discard(evse)
                self.st.timers.pop(f"cut:{evse}", None)
                self.power_loss(evse, now)
            return
        if rec.get("session") is None and session_id is not None:
            rec["session"] = session_id
            self.st.store.put(f"tx:{evse}", rec)

    def power_loss(self, evse: int, now: float) -> None:
        """The station restarts after it died without stopping (power cut, kill): the transaction that was open
        ends now, stoppedReason PowerLoss, with the last meter reading persisted before (an end that was
        already waiting for the contactor-open reading ends with its own reason)."""
        rec = self.current(evse)
        if rec is None:
            return
        lv = self.live[evse]
        lv.powered = False
        if rec.get("ending"):
            self._finish_end(evse, rec, now)
        else:
            self._end(evse, rec, "AbnormalCondition", "PowerLoss", now, wait=False)
        lv.connected = False
        lv.charging_state = "Idle"

    def power(self, evse: int, closed: bool, now: float, register_wh: float | None = None) -> None:
        """The station closed / opened the power path; at opening with the import register read then (the
        final reading: a transaction whose end waited for it ends now, with it)."""
        lv = self.live[evse]
        if register_wh is not None:
            if self._went_back(evse, register_wh):
                self.held.setdefault(evse, {})["Energy.Active.Import.Register"] = register_wh
            else:
                lv.readings["Energy.Active.Import.Register"] = register_wh
        lv.powered = closed
        if closed:
            return
        rec = self.current(evse)
        if rec is not None and rec.get("ending"):
            self._finish_end(evse, rec, now)

    # -- the rules -----------------------------------------------------------------------------------
    def _evaluate(
        self, evse: int, trigger: str, now: float, stop_token: dict[str, Any] | None = None
    ) -> None:
        conds = self._conditions(evse)
        rec = self.current(evse)
        dm = self.st.dm
        if rec is None:
            if any(conds.get(p, False) for p in dm.get_list("TxCtrlr", "TxStartPoint")):
                self._start(evse, trigger, now)
            return
        for p in dm.get_list("TxCtrlr", "TxStopPoint"):
            if p in rec["was"] and not conds.get(p, False):
                self._end(evse, rec, trigger, STOP_REASON.get(trigger, "Other"), now, stop_token)
                return
        rec["was"] = sorted(set(rec["was"]) | {k for k, v in conds.items() if v})
        lv = self.live[evse]
        extra: dict[str, Any] = {}
        if trigger in ("Authorized", "RemoteStart") and lv.token is not None:
            if rec.get("authorized") and rec.get("token") == lv.token:
                return
            rec["authorized"] = True
            rec["token"] = lv.token
            extra["idToken"] = lv.token
            if trigger == "RemoteStart":
                rec["remote_start_id"] = lv.remote_start_id
        elif trigger == "CablePluggedIn":
            rec["connector"] = lv.connector
        elif trigger in ("StopAuthorized", "RemoteStop", "Deauthorized", "EVConnectTimeout"):
            rec["authorized"] = False
            if stop_token is not None:
                extra["idToken"] = stop_token
        self._event(evse, rec, "Updated", trigger, now, extra=extra)

    def _start(self, evse: int, trigger: str, now: float) -> None:
        st = self.st
        lv = self.live[evse]
        conds = self._conditions(evse)
        rec: dict[str, Any] = {
            "id": st.new_id(),
            "seq": 0,
            "connector": lv.connector,
            "started": st.timestamp(now),
            "was": sorted(k for k, v in conds.items() if v),
            "authorized": lv.token is not None,
            "token": lv.token,
            "charging_state": None,
            "remote_start_id": lv.remote_start_id,
            "session": lv.session,
        }
        extra: dict[str, Any] = {}
        if lv.token is not None:
            extra["idToken"] = lv.token
        readings = sampled_values(
            lv.readings, st.dm.get_list("SampledDataCtrlr", "TxStartedMeasurands"), "Transaction.Begin"
        )
        self._event(evse, rec, "Started", trigger, now, extra=extra, values=readings)
        self._schedule_sample(evse, now)
        from josev.ocpp import availability

        availability.send_one(st, evse, lv.connector, now)

    def _end(
        self,
        evse: int,
        rec: dict[str, Any],
        trigger: str,
        reason: str,
        now: float,
        stop_token: dict[str, Any] | None = None,
        wait: bool = True,
    ) -> None:
        st = self.st
        lv = self.live[evse]
        if rec.get("ending") and wait:
            return  # already ending: waits for the reading at contactor open
        rec["ending"] = {"trigger": trigger, "reason": reason, "token": stop_token}
        if lv.powered and wait:
            # energy still flows until the station opens the contactor: the Ended event carries the reading
            # taken then (what the operator bills), or the latest one after END_WAIT_S
            st.store.put(f"tx:{evse}", rec)
            st.timers[f"endwait:{evse}"] = now + END_WAIT_S
            return
        self._finish_end(evse, rec, now)

    def _finish_end(self, evse: int, rec: dict[str, Any], now: float) -> None:
        st = self.st
        lv = self.live[evse]
        st.timers.pop(f"endwait:{evse}", None)
        ending = rec.pop("ending")
        trigger, reason, stop_token = ending["trigger"], ending["reason"], ending["token"]
        extra: dict[str, Any] = {}
        if stop_token is not None:
            extra["idToken"] = stop_token
        readings = sampled_values(
            lv.readings, st.dm.get_list("SampledDataCtrlr", "TxEndedMeasurands"), "Transaction.End"
        )
        earlier = list(rec.pop("ended_samples", []))
        self._event(
            evse, rec, "Ended", trigger, now, extra=extra, values=readings, stopped=reason, earlier=earlier
        )
        st.timers.pop(f"sample:{evse}", None)
        st.timers.pop(f"ended:{evse}", None)
        lv.readings.update(self.held.pop(evse, {}))  # the meter's present readings: the next one starts there
        lv.token = None
        lv.remote_start_id = None
        lv.reservation_id = None
        from josev.ocpp import availability, provisioning

        availability.apply_pending(st, now)
        availability.send_all(st, now, only_changed=True)
        if evse in self.pending_evse_reset:
            self.pending_evse_reset.discard(evse)
            from josev.ocpp.effects import StationRequest

            st.emit(StationRequest("reset_evse", {"evse": evse}))
        if st.pending_reset and not self.any_active():
            st.pending_reset = None
            provisioning.do_reboot(st, now)

    def _event(
        self,
        evse: int,
        rec: dict[str, Any],
        event_type: str,
        trigger: str,
        now: float,
        *,
        extra: dict[str, Any] | None = None,
        values: list[dict[str, Any]] | None = None,
        stopped: str | None = None,
        context_ts: str | None = None,
        earlier: list[dict[str, Any]] | None = None,
    ) -> None:
        st = self.st
        lv = self.live[evse]
        info: dict[str, Any] = {"transactionId": rec["id"]}
        if rec.get("charging_state") != lv.charging_state:
            info["chargingState"] = lv.charging_state
            rec["charging_state"] = lv.charging_state
        if stopped:
            info["stoppedReason"] = stopped
        if rec.get("remote_start_id") is not None and (event_type == "Started" or trigger == "RemoteStart"):
            info["remoteStartId"] = rec["remote_start_id"]
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": st.timestamp(now),
            "triggerReason": trigger,
            "seqNo": rec["seq"],
            "transactionInfo": info,
            "evse": {"id": evse, "connectorId": rec["connector"]},
        }
        if not st.online:
            payload["offline"] = True
        meter_values = list(earlier or [])
        if values:
            meter_values.append({"timestamp": context_ts or st.timestamp(now), "sampledValue": values})
        if meter_values:
            payload["meterValue"] = meter_values
        payload.update(extra or {})
        if lv.reservation_id is not None and "idToken" in payload and event_type != "Ended":
            payload["reservationId"], lv.reservation_id = lv.reservation_id, None
        rec["seq"] += 1
        st.store.enqueue_and_put(
            "TransactionEvent", payload, now, f"tx:{evse}", None if event_type == "Ended" else rec
        )
        st._pump(now)

    # -- meter values --------------------------------------------------------------------------------
    def _schedule_ended(self, evse: int, now: float) -> None:
        interval = self.st.dm.get_int("SampledDataCtrlr", "TxEndedInterval")
        if interval > 0 and self.st.dm.get_bool("SampledDataCtrlr", "Enabled") and self.current(evse):
            self.st.timers[f"ended:{evse}"] = now + interval
        else:
            self.st.timers.pop(f"ended:{evse}", None)

    def _keep_for_end(self, evse: int, rec: dict[str, Any], vals: list[dict[str, Any]], now: float) -> None:
        """Remember a TxEnded sample (sent in the Ended event); at most MAX_ENDED_SAMPLES are kept."""
        if not vals:
            return
        samples = list(rec.get("ended_samples", []))
        if len(samples) < MAX_ENDED_SAMPLES:
            samples.append({"timestamp": self.st.timestamp(now), "sampledValue": vals})
            rec["ended_samples"] = samples
            self.st.store.put(f"tx:{evse}", rec)

    def _schedule_sample(self, evse: int, now: float) -> None:
        self._schedule_ended(evse, now)
        interval = self.st.dm.get_int("SampledDataCtrlr", "TxUpdatedInterval")
        if interval > 0 and self.st.dm.get_bool("SampledDataCtrlr", "Enabled") and self.current(evse):
            self.st.timers[f"sample:{evse}"] = now + interval
        else:
            self.st.timers.pop(f"sample:{evse}", None)

    def _schedule_aligned(self, now: float) -> None:
        ended = self.st.dm.get_int("AlignedDataCtrlr", "TxEndedInterval")
        if ended > 0 and self.st.dm.get_bool("AlignedDataCtrlr", "Enabled"):
            wall = self.st.wall(now)
            self.st.timers["aligned_ended"] = (math.floor(wall / ended) + 1) * ended - self.st.clock_offset
        else:
            self.st.timers.pop("aligned_ended", None)
        interval = self.st.dm.get_int("AlignedDataCtrlr", "Interval")
        if interval <= 0 or not self.st.dm.get_bool("AlignedDataCtrlr", "Enabled"):
            self.st.timers.pop("aligned", None)
            return
        wall = self.st.wall(now)
        nxt = (math.floor(wall / interval) + 1) * interval
        self.st.timers["aligned"] = nxt - self.st.clock_offset

    def on_accepted(self, now: float) -> None:
        """Registration accepted: start the meter-value clocks."""
        self.reschedule(now)

    def reschedule(self, now: float) -> None:
        """Sampling configuration changed: restart the timers."""
        for e in self.st.evses:
            self._schedule_sample(e, now)
        self._schedule_aligned(now)

    def on_timer(self, name: str, now: float) -> None:
        """A timer set by this module expired."""
        kind, _, arg = name.partition(":")
        if kind == "sample":
            evse = int(arg)
            rec = self.current(evse)
            if rec is not None:
                vals = sampled_values(
                    self.live[evse].readings,
                    self.st.dm.get_list("SampledDataCtrlr", "TxUpdatedMeasurands"),
                    "Sample.Periodic",
                )
                if vals:
                    self._event(evse, rec, "Updated", "MeterValuePeriodic", now, values=vals)
            self._schedule_sample(evse, now)
        elif kind == "ended":
            evse = int(arg)
            rec = self.current(evse)
            if rec is not None:
                measurands = self.st.dm.get_list("SampledDataCtrlr", "TxEndedMeasurands")
                vals = sampled_values(self.live[evse].readings, measurands, "Sample.Periodic")
                self._keep_for_end(evse, rec, vals, now)
            self._schedule_ended(evse, now)
        elif kind == "aligned_ended":
            measurands = self.st.dm.get_list("AlignedDataCtrlr", "TxEndedMeasurands")
            for evse in sorted(self.st.evses):
                rec = self.current(evse)
                if rec is not None:
                    vals = sampled_values(self.live[evse].readings, measurands, "Sample.Clock")
                    self._keep_for_end(evse, rec, vals, now)
            self._schedule_aligned(now + 0.5)
        elif kind == "aligned":
            self._aligned(now)
            self._schedule_aligned(now + 0.5)
        elif kind == "cut":
            self.cut.discard(int(arg))
        elif kind == "endwait":
            evse = int(arg)
            rec = self.current(evse)
            if rec is not None and rec.get("ending"):
                self.live[evse].powered = False
                self._finish_end(evse, rec, now)
        elif kind == "evconn":
            evse = int(arg)
            if not self.live[evse].connected and self.live[evse].token is not None:
                self.deauthorize(evse, "EVConnectTimeout", now)
                self.live[evse].token = None

    def _aligned(self, now: float) -> None:
        dm = self.st.dm
        measurands = dm.get_list("AlignedDataCtrlr", "Measurands")
        idle_only = dm.get_bool("AlignedDataCtrlr", "SendDuringIdle")
        for evse in sorted(self.st.evses):
            rec = self.current(evse)
            vals = sampled_values(self.live[evse].readings, measurands, "Sample.Clock")
            if not vals:
                continue
            if rec is not None:
                if not idle_only:
                    self._event(evse, rec, "Updated", "MeterValueClock", now, values=vals)
            else:
                self.st.send(
                    "MeterValues",
                    {
                        "evseId": evse,
                        "meterValue": [{"timestamp": self.st.timestamp(now), "sampledValue": vals}],
                    },
                    now,
                )

    def send_meter_values(self, evses: list[int], context: str, now: float) -> None:
        """MeterValues for ``evses`` (TriggerMessage)."""
        measurands = self.st.dm.get_list("AlignedDataCtrlr", "Measurands")
        for evse in evses:
            vals = sampled_values(self.live[evse].readings, measurands, context)
            if vals:
                self.st.send(
                    "MeterValues",
                    {
                        "evseId": evse,
                        "meterValue": [{"timestamp": self.st.timestamp(now), "sampledValue": vals}],
                    },
                    now,
                    during_pending=True,
                )

    def triggered(self, evses: list[int], now: float) -> None:
        """TransactionEvent Updated with triggerReason Trigger (TriggerMessage)."""
        for evse in evses:
            rec = self.current(evse)
            if rec is not None:
                vals = sampled_values(
                    self.live[evse].readings,
                    self.st.dm.get_list("SampledDataCtrlr", "TxUpdatedMeasurands"),
                    "Trigger",
                )
                self._event(evse, rec, "Updated", "Trigger", now, values=vals)

    def stop_for_reset(self, evse: int, now: float) -> None:
        """End the transaction of ``evse`` because of a reset."""
        rec = self.current(evse)
        if rec is not None:
            self._end(evse, rec, "ResetCommand", "ImmediateReset", now, wait=False)


def get_transaction_status(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetTransactionStatus (E14): whether messages are queued, for one transaction or in total."""
    queued = [m for m in st.store.queued() if m.action == "TransactionEvent"]
    tx_id = req.get("transactionId")
    if tx_id is None:
        return {"messagesInQueue": bool(queued)}
    mine = [m for m in queued if m.payload["transactionInfo"]["transactionId"] == tx_id]
    ongoing = st.tx.by_id(tx_id) is not None
    return {"ongoingIndicator": ongoing, "messagesInQueue": bool(mine)}
