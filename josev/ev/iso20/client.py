"""The -20 EV simulator's network side: one session over TLS 1.3 (``josev.tls`` EV contexts) or plain TCP."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from josev.ev.battery import Battery
from josev.ev.client import exchange
from josev.ev.contract import ContractCredentials, ProvisioningCredentials20
from josev.ev.evcc import EvResult
from josev.ev.iso20.evcc import Ev20Connection, Evcc20, Iso20Behaviour
from josev.tls import TlsInfo, TlsPolicy, TlsRefused, connect_tls, policy_for
from josev.v2g.codec import Codec


async def run_session(
    host: str,
    port: int,
    protocol: str,
    codec: Codec,
    *,
    tls: ssl.SSLContext | None = None,
    policy: TlsPolicy | None = None,
    battery: Battery | None = None,
    behaviour: Iso20Behaviour | None = None,
    resume: str | None = None,
    contract: ContractCredentials | None = None,
    provisioning: ProvisioningCredentials20 | None = None,
    message_timeout: float = 5.0,
    on_message: Callable[[str], None] | None = None,
) -> tuple[EvResult, TlsInfo | None]:
    """Connect (TLS when ``tls`` is given, -20 policy by default) and run one session to its end."""
    evcc = Evcc20(
        protocol, battery, behaviour, resume_session=resume, contract=contract, provisioning=provisioning
    )
    conn = Ev20Connection(evcc, codec)
    info: TlsInfo | None = None
    try:
        if tls is not None:
            reader, writer, info = await connect_tls(host, port, tls, policy or policy_for("iso20"))
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), message_timeout)
    except (TlsRefused, OSError, TimeoutError) as e:
        evcc.result.outcome = "failed"
        evcc.result.detail = f"{type(e).__name__}: {e}"
        return evcc.result, None
    if info is not None:
        evcc.result.tls = f"{info.version} {info.cipher}"
    await exchange(conn, evcc, reader, writer, message_timeout, on_message)
    return evcc.result, info
