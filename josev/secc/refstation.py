"""The real reference station for ``josev station --sim --stack real``: the services ``josev run`` would start for
one simulated EVSE (HAL simulator board, coordinator with its DC flow, SLAC, SECC, OCPP), built by their
``from_config`` factories from a generated station configuration, plus the station's stand-ins for what is
outside it: an OCPP 2.0.1 CSMS on loopback (:class:`josev.csms_sim.CsmsSim`), the simulated car's pilot and
plug (:class:`~josev.secc.simboard.SimEvBridge`) and, with ``--slac off``, a link that counts as matched
(:class:`~josev.secc.simboard.SlacLinkUp`).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from josev.csms_sim import CsmsSim

DEMO_TARIFF = [
    {"start_s": 0, "price_level": 1, "cost": [{"kind": "relativePricePercentage", "amount": 100}]},
    {"start_s": 3600, "price_level": 0, "cost": [{"kind": "relativePricePercentage", "amount": 60}]},
]
"""The simulated station's SalesTariff: full price for an hour, then 60 % (levels 1 and 0)."""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RealStation:
    """The services (in start order) and the CSMS stand-in of the real reference station."""

    services: list[Any]
    csms: CsmsSim
    config: Any
    secc: Any
    extras: dict[str, Any] = field(default_factory=dict)


def station_config(
    iface: str,
    kind: str,
    workdir: Path,
    csms_url: str,
    *,
    evse: int = 1,
    bpt: bool = True,
    max_voltage_v: float = 500.0,
    max_current_a: float | None = None,
    max_power_w: float | None = None,
    pnc: bool = False,
) -> Any:
    """The ``JosevConfig`` of a one-EVSE simulated station on ``iface`` (``kind`` ``ac`` or ``dc``; ``pnc``: the
    OCPP service supports Plug & Charge, ISO15118Ctrlr.PnCEnabled)."""
    from josev.config import EvseConfig, JosevConfig

    dc = kind == "dc"
    ev = EvseConfig(
        id=evse,
        kind="dc" if dc else "ac",
        phases=3,
        max_current_a=max_current_a or (125.0 if dc else 32.0),
        max_voltage_v=max_voltage_v if dc else 400.0,
        max_power_w=max_power_w or (50_000.0 if dc else 22_000.0),
        plc_interface=iface,
        hlc=True,
    )
    coordinator: dict[str, Any] = {"free_charging": True, "heartbeat_s": 0.2}
    if dc:
        coordinator["dc"] = {"cable_check_voltage_v": min(500.0, max_voltage_v)}
        if bpt:
            coordinator["dc"].update(max_discharge_current_a=25.0, max_discharge_power_w=11_000.0)
    elif bpt:  # -20 AC BPT (ServiceID 5): the coordinator withdraws BPT from an EVSE without discharge limits
        coordinator["ac_max_discharge_current_a"] = 16.0
    hal: dict[str, Any] = {"board": "sim"}
    if dc and bpt:
        hal["sim_dc_discharge_a"] = 25.0
    return JosevConfig(
        evse=[ev],
        hal=hal,
        coordinator=coordinator,
        ocpp={
            "csms_url": csms_url,
            "database": str(workdir / "ocpp.sqlite"),
            "workdir": str(workdir / "ocpp"),
            # free charging carries no id token, which the OCPP service does not count as "Authorized": start and
            # end transactions at plug-in / unplug so the CSMS sees every session
            "variables": {
                "TxCtrlr/TxStartPoint": "EVConnected",
                "TxCtrlr/TxStopPoint": "EVConnected",
                **({"ISO15118Ctrlr/PnCEnabled": "true"} if pnc else {}),
            },
        },
    )


def build_real(
    iface: str,
    *,
    kind: str,
    slac: bool,
    secc_kwargs: dict[str, Any],
    secc_evse_kwargs: dict[str, Any],
    workdir: Path,
    evse: int = 1,
    bpt: bool = True,
    pnc_pki: Path | None = None,
    metering_receipt: float | None = None,
    charging_limit_w: float | None = None,
) -> RealStation:
    """HAL sim + coordinator + SLAC (or :class:`SlacLinkUp`) + SECC + OCPP, the CSMS stand-in and the car.

    ``pnc_pki`` (a ``josev pki create`` folder): Plug & Charge on; the SECC trusts its MO / V2G roots and the
    CSMS stand-in answers contract authorizations and certificate requests with its ``iso2`` PKI, and Contract
    sessions get the demo SalesTariff (:data:`DEMO_TARIFF`) signed with that PKI's SECC key.
    ``metering_receipt``: ISO 15118-2 metering receipts every so many seconds (``[secc] metering_receipt``).
    ``charging_limit_w``: the CSMS stand-in installs a TxDefaultProfile of that power at boot. The SECC reports
    the EV's needs and chosen schedule to the OCPP service (K15/K17)."""
    from josev.secc.service import SeccEvseConfig, SeccService
    from josev.secc.simboard import SimEvBridge, SlacLinkUp
    from josev.services import registry

    pki_obj = None
    pki20: tuple[Any, ...] = ()
    if pnc_pki is not None:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        from josev.pki import load_pki
        from josev.secc.pncshell import PncShell
        from josev.v2g.sales_tariff import from_config as tariff

        pki_obj = load_pki(pnc_pki / "iso2")
        pki20 = tuple(load_pki(pnc_pki / p) for p in ("iso20-p521", "iso20-ed448") if (pnc_pki / p).is_dir())
        key = load_pem_private_key((pnc_pki / "iso2" / "keys" / "secc_leaf.key").read_bytes(), None)
        secc_kwargs = {
            **secc_kwargs,
            "pnc": PncShell(pnc_pki, metering_receipt_interval=metering_receipt),
            "sales_tariff": (tariff(DEMO_TARIFF, "josev demo"), key),
        }
    secc_kwargs = {"csms_wait": 20.0, **secc_kwargs}
    csms = CsmsSim(port=free_port(), pki=pki_obj, pki20=pki20, charging_limit_w=charging_limit_w)
    cfg = station_config(iface, kind, workdir, csms.url, evse=evse, bpt=bpt, pnc=pnc_pki is not None)
    hal = registry.build("hal", cfg)
    coordinator = registry.build("coordinator", cfg)
    e = cfg.evse[0]
    modes = ("DC_extended",) if kind == "dc" else ("AC_three_phase_core", "AC_single_phase_core")
    secc = SeccService(
        [
            SeccEvseConfig(
                evse=evse,
                iface=iface,
                energy_modes=modes,
                max_current_a=e.max_current_a,
                max_voltage_v=e.max_voltage_v if kind == "dc" else None,
                max_power_w=e.max_power_w,
                bpt=bpt,
                **secc_evse_kwargs,
            )
        ],
        sim_supply=False,  # the coordinator's DC flow and authorization answer
        **secc_kwargs,
    )
    services: list[Any] = [hal, coordinator]
    if slac:
        services.append(registry.build("slac", cfg))
    else:
        services.append(SlacLinkUp([evse], iface))
    ocpp = registry.build("ocpp", cfg)
    board = getattr(hal, "board", None)
    car = SimEvBridge(board, [evse], wait_for=secc.ready)
    services += [secc, ocpp, car]
    return RealStation(services, csms, cfg, secc, {"hal": hal, "coordinator": coordinator, "car": car})
