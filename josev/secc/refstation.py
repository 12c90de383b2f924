"""The reference station of ``josev station --sim``: a one-EVSE station configuration made from the command's
options (:func:`station_config`), built by the one station builder (:func:`josev.services.builder.build_station`)
like ``josev run`` would build it, plus the stand-ins for what is outside the station.

``--stack real`` (:func:`build_real` with ``lite=False``): HAL simulator board, coordinator (with its DC flow),
SLAC (or, with ``--slac off``, a link that counts as matched: :class:`~josev.sim.board.SlacLinkUp`), SECC,
OCPP, with an OCPP 2.0.1 CSMS stand-in on loopback (:class:`josev.sim.csms.CsmsSim`) and the simulated car's
pilot and plug on the board (:class:`~josev.sim.board.SimEvBridge`). The SECC offers everything the EVSE
can do: ISO 15118-20 with BPT (AC_BPT, ServiceID 5, on an AC EVSE; DC_BPT on a DC one) when ``bpt``, the
coordinator then having discharge limits for the EVSE.

``--stack lite`` (``lite=True``): the SECC alone with its simulated supply and EIM authorized at once, SLAC (or
the link-up stand-in), and a coordinator stand-in (:class:`~josev.sim.coordinator.SimCoordinator`); only it
can offer AC and DC on one EVSE (``kind="both"``), which no coordinator EVSE is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from josev.services.builder import CsmsStandIn, StandIns, StationBuild, Tools, build_station, free_port

__all__ = ["DEMO_TARIFF", "MODES", "RealStation", "build_real", "free_port", "station_config"]

DEMO_TARIFF = [
    {"start_s": 0, "price_level": 1, "cost": [{"kind": "relativePricePercentage", "amount": 100}]},
    {"start_s": 3600, "price_level": 0, "cost": [{"kind": "relativePricePercentage", "amount": 60}]},
]
"""The simulated station's SalesTariff: full price for an hour, then 60 % (levels 1 and 0)."""

MODES = {
    "dc": ("DC_extended",),
    "ac": ("AC_three_phase_core", "AC_single_phase_core"),
    "both": ("AC_three_phase_core", "DC_extended"),
}
"""Energy transfer modes the reference station offers per ``--modes``."""


@dataclass
class RealStation:
    """The services (in start order) and the CSMS stand-in (None for the lite stack) of the reference station."""

    services: list[Any]
    csms: Any
    config: Any
    secc: Any
    extras: dict[str, Any] = field(default_factory=dict)
    build: StationBuild | None = None


def station_config(
    iface: str,
    kind: str,
    workdir: Path,
    csms_url: str | None = None,
    *,
    evse: int = 1,
    bpt: bool = True,
    max_voltage_v: float = 500.0,
    max_current_a: float | None = None,
    max_power_w: float | None = None,
    pnc: bool = False,
    secc: dict[str, Any] | None = None,
    ocpp: bool = True,
) -> Any:
    """The ``JosevConfig`` of a one-EVSE simulated station on ``iface`` (``kind`` ``ac`` or ``dc``; ``pnc``: the
    OCPP service supports Plug & Charge, ISO15118Ctrlr.PnCEnabled; ``secc``: ``[secc]`` keys over the
    reference station's; ``ocpp`` False: no ``[ocpp]`` table)."""
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
    secc_section: dict[str, Any] = {
        "iso20": True,
        "bpt": bpt,
        "sim_supply": False,  # the coordinator's DC flow and authorization answer
        "csms_schedule_wait_s": 20.0,
        **(secc or {}),
    }
    ocpp_section: dict[str, Any] = {}
    if ocpp:
        ocpp_section = {
            "database": str(workdir / "ocpp.sqlite"),
            "workdir": str(workdir / "ocpp"),
            # free charging carries no id token, which the OCPP service does not count as "Authorized": start and
            # end transactions at plug-in / unplug so the CSMS sees every session
            "variables": {
                "TxCtrlr/TxStartPoint": "EVConnected",
                "TxCtrlr/TxStopPoint": "EVConnected",
                **({"ISO15118Ctrlr/PnCEnabled": "true"} if pnc else {}),
            },
        }
        if csms_url is not None:
            ocpp_section["csms_url"] = csms_url
    return JosevConfig(evse=[ev], hal=hal, coordinator=coordinator, secc=secc_section, ocpp=ocpp_section)


def build_real(
    iface: str,
    *,
    kind: str,
    slac: bool,
    workdir: Path,
    secc: dict[str, Any] | None = None,
    evse: int = 1,
    bpt: bool = True,
    pnc_pki: Path | None = None,
    metering_receipt: float | None = None,
    charging_limit_w: float | None = None,
    scenario: Any = None,
    lite: bool = False,
) -> RealStation:
    """The reference station (see the module doc); ``secc``: ``[secc]`` keys (codec, tcp_port, iso20, tls,
    pki_dir, ...).

    ``pnc_pki`` (a ``josev pki create`` folder, the TLS one): Plug & Charge on; the SECC trusts its MO / V2G
    roots and the CSMS stand-in answers contract authorizations and certificate requests with its PKI, and
    Contract sessions get the demo SalesTariff (:data:`DEMO_TARIFF`) signed with that PKI's SECC key.
    ``metering_receipt``: ISO 15118-2 metering receipts every so many seconds (``[secc] metering_receipt``).
    ``charging_limit_w``: the CSMS stand-in installs a TxDefaultProfile of that power at boot. The SECC reports
    the EV's needs and chosen schedule to the OCPP service (K15/K17)."""
    section = dict(secc or {})
    if pnc_pki is not None:
        section.update(
            pnc=True,
            pki_dir=str(pnc_pki),
            sales_tariff=DEMO_TARIFF,
            sales_tariff_description="josev demo",
            metering_receipt=metering_receipt is not None,
            metering_receipt_interval_s=metering_receipt if metering_receipt is not None else 60.0,
        )
    if lite:
        section = {"sim_supply": True, "auto_authorize": True, "csms_schedule_wait_s": 0.0, **section}
    cfg = station_config(
        iface,
        "dc" if kind == "both" else kind,
        workdir,
        evse=evse,
        bpt=bpt,
        pnc=pnc_pki is not None,
        secc=section,
        ocpp=not lite,
    )
    if lite:
        names = ["secc", "slac"]
        stand_ins = StandIns(coordinator=True, slac_link_up=not slac)
    else:
        names = None
        stand_ins = StandIns(
            csms=CsmsStandIn(pki_dir=pnc_pki, charging_limit_w=charging_limit_w),
            car=True,
            slac_link_up=not slac,
        )
    built = build_station(cfg, names, stand_ins=stand_ins, tools=Tools(scenario=scenario))
    secc_svc = built.service("secc")
    if lite and kind == "both":  # AC and DC on one EVSE: only the SECC alone can offer that
        for e in secc_svc.evses:
            e.energy_modes = MODES["both"]
    extras = {s.name: s for s in built.services if s.name in ("hal", "coordinator", "simev")}
    if "simev" in extras:
        extras["car"] = extras["simev"]
    return RealStation(built.services, built.csms, built.config, secc_svc, extras, built)
