"""The OCPP service's side of the Plug & Charge bus contract (:mod:`josev.api.iso15118`): serves the SECC's
commands by feeding :mod:`josev.ocpp.iso15118` and waiting for its ``iso15118_reply``, publishes
:class:`~josev.api.iso15118.V2GCertificates` when the SECC's certificate or trust stores change, and forwards
:class:`~josev.api.iso15118.SeccSecurityEvent` to the CSMS."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from josev.api import iso15118 as api
from josev.api.base import Ack, CommandError
from josev.bus import Bus
from josev.ocpp import certificates, iso15118
from josev.ocpp.connection import OcppClient
from josev.ocpp.effects import StationRequest

log = logging.getLogger(__name__)

KINDS = frozenset({"iso15118_reply", "v2g_certificate"})
"""StationRequest kinds handled here."""


class PncBridge:
    """Bus commands of the SECC <-> the OCPP core."""

    def __init__(self, bus: Bus, client: Callable[[], OcppClient | None]) -> None:
        self.bus = bus
        self.client = client
        self.revision = 0
        self._refs = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    def register(self) -> None:
        """Serve and subscribe."""
        self.bus.serve(api.AuthorizeContract, self._authorize)
        self.bus.serve(api.InstallEvCertificate, self._install)
        self.bus.serve(api.GetOcspStatus, self._ocsp)
        self.bus.serve(api.RenewV2GCertificate, self._renew)
        self.bus.subscribe(api.SeccSecurityEvent, self._security_event)

    def _client(self) -> OcppClient:
        client = self.client()
        if client is None:
            raise CommandError("unavailable", "the OCPP client is not running")
        return client

    async def _ask(self, fn: Callable[[Any, int, float], None], timeout: float) -> dict[str, Any]:
        client = self._client()
        ref = next(self._refs)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = fut
        st = client.station
        try:
            await client.feed(lambda now: st._station_input(lambda: fn(st, ref, now), now))
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise CommandError("timeout", "no answer from the CSMS in time") from None
        finally:
            self._waiting.pop(ref, None)

    async def _authorize(self, cmd: api.AuthorizeContract, evse: int | None) -> api.ContractAuthorization:
        assert evse is not None
        hashes = [h.model_dump() for h in cmd.hash_data]
        out = await self._ask(
            lambda st, ref, now: iso15118.authorize_contract(
                st, evse, ref, cmd.emaid, hashes, cmd.certificate_chain, now
            ),
            cmd.timeout_s - 2,
        )
        return api.ContractAuthorization.model_validate(out)

    async def _install(self, cmd: api.InstallEvCertificate, evse: int | None) -> api.EvCertificateReply:
        out = await self._ask(
            lambda st, ref, now: iso15118.install_ev_certificate(
                st, ref, cmd.action, cmd.schema_version, cmd.exi_request, now
            ),
            cmd.timeout_s - 2,
        )
        return api.EvCertificateReply.model_validate(out)

    async def _ocsp(self, cmd: api.GetOcspStatus, evse: int | None) -> api.OcspStatusReply:
        item = cmd.request.model_dump()
        out = await self._ask(
            lambda st, ref, now: iso15118.get_ocsp_status(st, ref, item, now), cmd.timeout_s - 2
        )
        return api.OcspStatusReply.model_validate(out)

    async def _renew(self, cmd: api.RenewV2GCertificate, evse: int | None) -> Ack:
        client = self._client()
        st = client.station
        await client.feed(lambda now: st._station_input(lambda: iso15118.renew_v2g(st, now), now))
        return Ack()

    async def _security_event(self, msg: api.SeccSecurityEvent, evse: int | None) -> None:
        client = self.client()
        if client is None:
            return
        st = client.station
        await client.feed(
            lambda now: st._station_input(
                lambda: iso15118.secc_security_event(st, msg.type, msg.tech_info, now), now
            )
        )

    # -- core -> bus ---------------------------------------------------------------------------------
    async def on_request(self, req: StationRequest) -> None:
        """A StationRequest of one of :data:`KINDS`."""
        if req.kind == "iso15118_reply":
            fut = self._waiting.get(int(req.data["ref"]))
            if fut is not None and not fut.done():
                fut.set_result(dict(req.data["reply"]))
        elif req.kind == "v2g_certificate":
            await self.publish_certificates(req.data)

    async def publish_certificates(self, state: dict[str, Any] | None = None) -> None:
        """Publish the SECC's certificate and trust stores (at start and on every change)."""
        client = self.client()
        if client is None:
            return
        if state is None:
            state = certificates.v2g_state(client.station)
        # persisted, so it keeps growing across restarts of the service
        self.revision = client.station.store.next_counter("v2g_certificates_revision")
        await self.bus.publish(
            api.V2GCertificates(
                revision=self.revision,
                chain_file=state["chain"],
                key_file=state["key"],
                not_after=state["not_after"],
                v2g_roots=state["v2g_roots"],
                mo_roots=state["mo_roots"],
            )
        )
