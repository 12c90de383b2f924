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
