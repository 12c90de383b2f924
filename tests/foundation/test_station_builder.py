"""One station builder (:mod:`josev.services.builder`): for the same configuration, ``josev run`` (the
launcher), ``josev demo``, the reference station of ``josev station --sim`` and ``josev station-sim`` build the
same services -- same names, same classes, same effective settings -- and differ only in the stand-ins they add
for what is outside a simulated station. No processes, no sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from josev.cli import station_sim
from josev.config import JosevConfig
from josev.demo import station as demo_station
from josev.launcher import LaunchError, build_services, plan
from josev.pki import create
from josev.secc.refstation import build_real
from josev.services.builder import (
    BuildError,
    StandIns,
    build_station,
    service_names,
    settings_of,
    with_csms_url,
)


def _launcher(cfg: JosevConfig) -> dict[str, dict[str, Any]]:
    in_process, separate = plan(cfg, [])
    assert separate == []
    return {s.name: settings_of(s) for s in build_services(cfg, in_process)}


def _of(services: list[Any], leave_out: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    return {s.name: settings_of(s) for s in services if s.name not in leave_out}


def _same(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name] == b[name], name


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"))
    return out


@pytest.mark.parametrize("kind", ["ac", "dc"])
def test_reference_station_demo_and_run_build_the_same(tmp_path: Path, kind: str) -> None:
    real = build_real("veth-st", kind=kind, slac=True, workdir=tmp_path)
    station = _of(real.services, ("simev",))
    run = _launcher(real.config)
    demo = _of(demo_station.demo_services(real.config))
    _same(station, run)
    _same(demo, run)
    assert list(run) == ["system", "hal", "coordinator", "slac", "secc", "ocpp"]
    assert [s.name for s in real.services][-1] == "simev"  # the car's pilot and plug: the only addition
    assert real.build is not None and real.build.stand_ins == ["simev"]
    secc = run["secc"]
    assert secc["class"] == "josev.secc.service.SeccService"
    evse = secc["evses"][0]
    assert evse["iso20"] is True and evse["bpt"] is True and evse["iface"] == "veth-st"
    assert evse["energy_modes"] == (
        ["AC_three_phase_core", "AC_single_phase_core"] if kind == "ac" else ["DC_extended"]
    )
    assert secc["supply"] is None  # the coordinator's DC flow, not the SECC's simulated supply
    coordinator = run["coordinator"]
    # the EVSE can discharge, so the SECC's BPT offer stands: AC BPT 16 A per phase, DC BPT 25 A
    evse_cfg = coordinator["evse_configs"]["1"]
    if kind == "ac":
        assert evse_cfg["ac_max_discharge_a"] == 16.0
    else:
        assert evse_cfg["dc"]["max_discharge_current_a"] == 25.0
    assert real.config.ocpp["csms_url"] == real.csms.url  # the CSMS stand-in


def test_reference_station_with_plug_and_charge_is_what_run_builds(tmp_path: Path, pki: Path) -> None:
    secc = {"tls": "both", "pki_dir": str(pki), "codec": "exi", "tcp_port": 0}
    real = build_real(
        "veth-st", kind="dc", slac=False, workdir=tmp_path, secc=secc, pnc_pki=pki, metering_receipt=5
    )
    run = _launcher(real.config)
    _same(_of(real.services, ("slac", "simev")), {k: v for k, v in run.items() if k != "slac"})
    assert real.secc.pnc is not None and real.secc.pnc.metering_receipt_interval == 5
    assert real.secc.smart.sales_tariff is not None  # the demo SalesTariff, signed with the PKI's SECC key
    assert real.secc.tls is not None and real.secc.tls.mode == "both"
    assert [s.name for s in real.services].count("slac") == 1  # the link-up stand-in in SLAC's place
    assert real.build is not None and real.build.stand_ins == ["slac", "simev"]
    assert type(real.build.service("slac")).__name__ == "SlacLinkUp"


def test_lite_stack_is_the_secc_of_the_same_configuration(tmp_path: Path) -> None:
    """``--stack lite``: the SECC built from the configuration, with its simulated supply, and the coordinator
    stand-in in place of HAL and coordinator; ``--modes both`` offers AC and DC on the one EVSE."""
    lite = build_real("veth-st", kind="both", slac=False, workdir=tmp_path, lite=True)
    assert lite.build is not None
    assert [s.name for s in lite.services] == ["secc", "slac", "coordinator"]
    assert lite.build.stand_ins == ["slac", "coordinator"]
    assert lite.secc.supply is not None and lite.secc.evses[0].energy_modes == (
        "AC_three_phase_core",
        "DC_extended",
    )
    assert lite.csms is None


def test_demo_configuration(tmp_path: Path, pki: Path) -> None:
    for csms_port in (9999, None):
        cfg = demo_station.station_config(tmp_path, 3, csms_port, pki)
        run = _launcher(cfg)
        _same(_of(demo_station.demo_services(cfg)), run)
        assert list(run) == (
            ["system", "hal", "coordinator", "slac", "secc", "ocpp"]
            if csms_port
            else ["system", "hal", "coordinator", "slac", "secc"]
        )
        assert [e["energy_modes"][0] for e in run["secc"]["evses"]] == [
            "AC_three_phase_core",
            "DC_extended",
            "AC_three_phase_core",
        ]


def test_station_sim_configuration() -> None:
    cfg = station_sim.station_config(2, 20.0)
    run = _launcher(cfg)
    _same(_of(build_station(cfg).services), run)
    assert list(run) == ["system", "hal", "coordinator"]  # no PLC interface, no CSMS: basic charging only
    assert run["coordinator"]["station"] == {
        "station_limit_a": 20.0,
        "heartbeat_s": 0.2,
        "local_auth_list": [],
        "ev_adapt_s": 0.5,
    }


def test_settings_differ_when_the_configuration_does(tmp_path: Path) -> None:
    """The comparison sees a changed setting (so the tests above can fail)."""
    a = build_real("veth-st", kind="ac", slac=True, workdir=tmp_path).config
    b = a.model_copy(update={"secc": {**a.secc, "bpt": False}})
    assert _launcher(a)["secc"] != _launcher(b)["secc"]
    c = a.model_copy(update={"coordinator": {**a.coordinator, "ac_max_discharge_current_a": 10.0}})
    assert _launcher(a)["coordinator"] != _launcher(c)["coordinator"]


def test_bad_sections_name_the_service(tmp_path: Path) -> None:
    cfg = build_real("veth-st", kind="ac", slac=True, workdir=tmp_path).config
    bad = cfg.model_copy(update={"secc": {**cfg.secc, "frame_rate": -1}})
    with pytest.raises(BuildError, match=r"^service secc: .*frame_rate"):
        build_station(bad)
    with pytest.raises(LaunchError, match=r"^service secc: .*frame_rate"):
        build_services(bad, ["secc"])
    with pytest.raises(ValueError, match=r"CSMS stand-in needs an \[ocpp\] table"):
        with_csms_url(JosevConfig(), "ws://127.0.0.1:1/")
    assert service_names(JosevConfig()) == ["system", "hal", "coordinator"]
    with pytest.raises(ValueError, match="simulated car needs the HAL service"):
        build_station(cfg, ["secc"], stand_ins=StandIns(car=True))


def test_the_simulated_supply_plays_only_without_a_coordinator(tmp_path: Path) -> None:
    """The EVSE view has one source: with a coordinator (``josev run``, the demo) the SECC's built-in supply
    stand-in stays off unless asked for; without one it plays the power electronics; an explicit key wins."""
    from josev.secc.service import from_config

    base = {
        "evse": [{"id": 1, "plc_interface": "veth-x", "hlc": True}],
        "broker": {"directory": str(tmp_path)},
    }
    assert from_config(JosevConfig.model_validate(base)).supply is None
    alone = {**base, "services": {"coordinator": {"enabled": False}}}
    assert from_config(JosevConfig.model_validate(alone)).supply is not None
    asked = {**base, "secc": {"sim_supply": True}}
    assert from_config(JosevConfig.model_validate(asked)).supply is not None
    demo = demo_station.station_config(tmp_path, 2, None, None)
    assert from_config(demo).supply is None
