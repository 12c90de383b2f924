"""The bytes-level side of a :class:`~josev.secc.scenario.engine.SessionScript` for the SECC's connection shell:
finds the request and response in a core step's trace, re-encodes a rewritten response, decodes a request
that an Ongoing answer holds back from the core. Pure (the codec is given); the shell does the waiting and the
closing (:mod:`josev.secc.server`)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from josev.secc.scenario import rewrite
from josev.secc.scenario.engine import Plan, SessionScript
from josev.v2g import v2gtp
from josev.v2g.codec import Codec, CodecError

log = logging.getLogger("josev.secc.scenario")


class ConnectionHook:
    """A connection's scenario script, on frames."""

    def __init__(self, script: SessionScript, codec: Codec) -> None:
        self.script = script
        self.codec = codec
        self._schema = ""
        #: V2GTP payload type of the responses (ISO 15118-20 has one per message set)
        self._ptype = int(v2gtp.PayloadType.EXI)
        self._logged = 0
        #: the decoded request and answer of the last :meth:`intercept` that answered (for the message stream)
        self.held_trace: list[tuple[str, dict[str, Any]]] = []

    def _log_new(self) -> None:
        """Log the actions taken since the last call (the station's log tells what it did)."""
        for a in self.script.taken[self._logged :]:
            log.info("scenario %s: %s %s: %s", self.script.runner.scenario.name, a.kind, a.request, a.detail)
        self._logged = len(self.script.taken)

    def intercept(self, data: bytes, now: float, wall: float) -> list[bytes] | None:
        """While an Ongoing answer is held: the frame answering the request in ``data`` (None: give ``data`` to
        the core)."""
        if not self.script.holding or not self._schema:
            return None
        try:
            frames = v2gtp.Deframer().feed(data)
        except v2gtp.V2gtpError:
            return None
        if len(frames) != 1:
            return None
        try:
            msg = self.codec.decode(self._schema, frames[0].payload)
        except CodecError:
            return None
        name = rewrite.message_name(msg)
        answer = self.script.held_answer(name.removesuffix("Req"), now, wall)
        self._log_new()
        if answer is None:
            return None
        try:
            out = [v2gtp.frame(self._ptype, self.codec.encode(self._schema, answer))]
        except CodecError as e:
            log.error("scenario: cannot encode the held answer: %s", e)
            return None
        self.held_trace = [(self._schema, msg), (self._schema, answer)]
        return out

    def after(
        self, trace: list[tuple[str, dict[str, Any]]], send: list[bytes], now: float, wall: float
    ) -> tuple[list[bytes], Plan]:
        """The frames to send for a core step (``send``, with the response rewritten) and the plan."""
        req: tuple[str, str] | None = None
        res: dict[str, Any] | None = None
        for schema, msg in trace:
            name = rewrite.message_name(msg)
            if name.endswith("Req") and schema != "sap":
                req, res = (schema, name), None
            elif name.endswith("Res") and req is not None and schema == req[0]:
                res = msg
        if req is None or res is None or not send:
            return send, Plan()
        schema, name = req
        self._schema = schema
        self._ptype = int.from_bytes(send[-1][2:4], "big")
        plan = self.script.on_exchange(schema, name.removesuffix("Req"), res, now, wall)
        self._log_new()
        if plan.response is None:
            return send, plan
        try:
            payload = self.codec.encode(schema, plan.response)
        except CodecError as e:  # a scenario the schema cannot carry: say so, send the core's answer
            log.error("scenario: the rewritten %s cannot be encoded (%s); sent unchanged", name, e)
            plan.response = None
            return send, plan
        out = list(send)
        out[-1] = v2gtp.frame(self._ptype, payload)
        return out, plan

    @staticmethod
    def sent_trace(
        trace: list[tuple[str, dict[str, Any]]], plan: Plan, schema: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        """A core step's ``trace`` as the EV got it after :meth:`after`: the rewritten response in place of the
        core's, or no response at all when the scenario dropped the connection instead of answering."""
        if plan.response is None and not plan.close:
            return trace
        out = list(trace)
        for i in range(len(out) - 1, -1, -1):
            sch, msg = out[i]
            if sch != "sap" and (not schema or sch == schema) and rewrite.message_name(msg).endswith("Res"):
                if plan.close:
                    del out[i]
                elif plan.response is not None:
                    out[i] = (sch, plan.response)
                break
        return out

    def write(self, pcapng: Path | None) -> Path | None:
        """Write the session's record as ``<pcapng stem>.scenario.json`` next to its pcapng file."""
        if pcapng is None:
            return None
        path = pcapng.with_name(pcapng.stem + ".scenario.json")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.script.summary(), indent=1) + "\n")
        except OSError as e:
            log.error("scenario: cannot write %s: %s", path, e)
            return None
        return path


async def link_down(iface: str, seconds: float) -> None:
    """Take ``iface`` down for ``seconds`` (a scenario's PLC link loss), then up again."""
    for state, wait in (("down", seconds), ("up", 0.0)):
        proc = await asyncio.create_subprocess_exec(
            "ip",
            "link",
            "set",
            "dev",
            iface,
            state,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            log.error(
                "scenario: ip link set %s %s failed: %s", iface, state, err.decode(errors="replace").strip()
            )
        log.info("scenario: link %s %s", iface, state)
        await asyncio.sleep(wait)
