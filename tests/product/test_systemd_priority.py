"""The charging path's units run at a higher priority than the rest (``Nice=``), as the hostile-load benchmark
measures the station (``JOSEV_BENCH_PRIORITY=board``); OCPP and the system service keep the default."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from josev.cli.systemd import CHARGING_NICE, CHARGING_UNITS, install


def service_section(path: Path) -> dict[str, str]:
    cp = configparser.RawConfigParser(strict=False, delimiters=("=",), comment_prefixes=("#",))
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(path.read_text())
    return dict(cp["Service"])


@pytest.mark.parametrize("mode", ["per-service", "all-in-one"])
def test_generated_units_carry_the_charging_priority(tmp_path: Path, mode: str) -> None:
    install(tmp_path, mode, josev_bin="/usr/bin/josev", mosquitto="/usr/sbin/mosquitto")  # type: ignore[arg-type]
    units = tmp_path / "lib/systemd/system"
    written = sorted(p.name for p in units.glob("*.service"))
    assert written
    for name in written:
        svc = service_section(units / name)
        if name in CHARGING_UNITS:
            assert svc.get("Nice") == str(CHARGING_NICE) == "-10", (name, svc.get("Nice"))
        else:
            assert "Nice" not in svc, name  # OCPP, system: the default (0), behind the charging path
        assert "CPUSchedulingPolicy" not in svc and svc["RestrictRealtime"] == "yes", name
    if mode == "per-service":
        assert {"josev-ocpp.service", "josev-system.service"} <= set(written)
        assert set(CHARGING_UNITS) - {"josev.service"} <= set(written)
    else:
        assert written == ["josev.service"]


@pytest.mark.parametrize("mode", ["per-service", "all-in-one"])
def test_realtime_install_lets_the_charging_path_run_realtime(tmp_path: Path, mode: str) -> None:
    """``josev systemd install --realtime 12``: the charging units may set SCHED_RR up to 12 (``josev run`` does,
    from ``[station] scheduling``), systemd gives mosquitto SCHED_RR itself; OCPP and system keep
    RestrictRealtime=yes; the new station.toml says scheduling = "rr" at 12 and passes the configuration check."""
    from josev import config

    install(tmp_path, mode, josev_bin="/usr/bin/josev", mosquitto="/usr/sbin/mosquitto", realtime=12)  # type: ignore[arg-type]
    units = tmp_path / "lib/systemd/system"
    for path in sorted(units.glob("*.service")):
        svc = service_section(path)
        if path.name == "josev-broker.service":
            assert svc["RestrictRealtime"] == "no" and "LimitRTPRIO" not in svc
            assert (svc["CPUSchedulingPolicy"], svc["CPUSchedulingPriority"]) == ("rr", "12")
            assert svc["CPUSchedulingResetOnFork"] == "yes"
        elif path.name in CHARGING_UNITS:
            assert (svc["RestrictRealtime"], svc["LimitRTPRIO"]) == ("no", "12"), path.name
            assert (
                "CPUSchedulingPolicy" not in svc
            )  # josev run sets it, with its guard (josev.services.scheduling)
        else:
            assert svc["RestrictRealtime"] == "yes" and "LimitRTPRIO" not in svc, path.name
    cfg = config.load(tmp_path / "etc/josev/station.toml")
    assert (cfg.station.scheduling, cfg.station.realtime_priority) == ("rr", 12)


def test_realtime_priority_out_of_range_is_refused(tmp_path: Path) -> None:
    from josev.cli.systemd import InstallError

    with pytest.raises(InstallError, match=r"--realtime 50: a real-time priority is 1\.\.49"):
        install(
            tmp_path, "all-in-one", josev_bin="/usr/bin/josev", mosquitto="/usr/sbin/mosquitto", realtime=50
        )


def test_the_shipped_station_toml_is_normal_scheduling(tmp_path: Path) -> None:
    from josev import config

    install(tmp_path, "all-in-one", josev_bin="/usr/bin/josev", mosquitto="/usr/sbin/mosquitto")
    cfg = config.load(tmp_path / "etc/josev/station.toml")
    assert (cfg.station.scheduling, cfg.station.realtime_priority) == ("normal", 10)
