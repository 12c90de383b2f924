"""Services built from the station configuration (as the launcher does)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hal.sim import SimBoard
from hal.types import HardwareError
from josev.config import parse
from josev.coordinator.service import CoordinatorService
from josev.coordinator.service import from_config as coordinator_from_config
from josev.halsvc.service import HalService
from josev.halsvc.service import from_config as hal_from_config
from tests.hal.fake_tree import make_tree


def test_sim_station() -> None:
    cfg = parse(
        {
            "station": {"max_current_a": 50},
            "evse": [
                {"id": 1, "max_current_a": 16, "plc_interface": "eth1"},
                {"id": 2, "phases": 1, "hlc": False},
            ],
            "hal": {"watchdog_timeout_s": 0.8},
            "coordinator": {"free_charging": True, "local_auth_list": ["CARD"], "meter_loss": "continue"},
        }
    )
    hal = hal_from_config(cfg)
    assert isinstance(hal, HalService) and isinstance(hal.board, SimBoard) and hal.n == 2
    assert hal.cfg.watchdog_timeout_s == 0.8
    coord = coordinator_from_config(cfg)
    assert isinstance(coord, CoordinatorService)
    assert coord.station.station_limit_a == 50 and coord.station.local_auth_list == frozenset({"CARD"})
    c1, c2 = coord.cores[1].cfg, coord.cores[2].cfg
    assert c1.hlc_offered and c1.evse_max_a == 16 and c1.free_charging and c1.meter_loss == "continue"
    assert not c2.hlc_offered and c2.phases == 1


def test_ccc_board_needs_gpio(tmp_path: Path) -> None:
    make_tree(tmp_path)
    channels = [{"relay_sense_line": None, "rcd_line": None}]
    cfg = parse({"hal": {"board": "ccc", "ccc": {"root": str(tmp_path), "channels": channels}}})
    if importlib.util.find_spec("gpiod") is None:
        with pytest.raises(HardwareError, match="gpiod"):
            hal_from_config(cfg)
    else:  # no /dev/gpiochip* in the fake root
        with pytest.raises(OSError, match="no GPIO line named"):
            hal_from_config(cfg)


def test_bad_sections_are_reported() -> None:
    with pytest.raises(ValueError, match="board"):
        hal_from_config(parse({"hal": {"board": "nope"}}))
    with pytest.raises(ValueError, match="meter_loss"):
        coordinator_from_config(parse({"coordinator": {"meter_loss": "ignore"}}))
    with pytest.raises(ValueError, match="no EVSE 3"):
        hal_from_config(parse({"hal": {"meters": [{"evse": 3, "port": "/dev/null"}]}}))


def test_dc_station_from_config() -> None:
    from josev.coordinator.dccore import DcEvseCore

    cfg = parse(
        {
            "station": {"max_current_a": 200},
            "evse": [
                {
                    "id": 1,
                    "kind": "dc",
                    "max_current_a": 150,
                    "max_voltage_v": 920,
                    "max_power_w": 60000,
                    "plc_interface": "eth1",
                    "connectors": [{"type": "cCCS2", "max_current_a": 150}],
                },
                {"id": 2, "plc_interface": "eth2"},
            ],
            "hal": {"sim_dc_discharge_a": 50},
            "coordinator": {"power_delivery_timeout_s": 1.2, "dc": {"max_discharge_current_a": 40}},
        }
    )
    hal = hal_from_config(cfg)
    assert isinstance(hal.board, SimBoard)
    ch = hal.board.sim(1)
    assert ch.dc is not None and ch.imd is not None and ch.dc.max_voltage_v == 920
    assert ch.dc.max_discharge_current_a == 50 and hal.board.sim(2).dc is None
    assert hal.board_info().channels[0].dc and not hal.board_info().channels[1].dc
    coord = coordinator_from_config(cfg)
    c1 = coord.cores[1]
    assert isinstance(c1, DcEvseCore) and not isinstance(coord.cores[2], DcEvseCore)
    assert c1.dccfg.max_current_a == 150 and c1.dccfg.max_power_w == 60000 and c1.dccfg.bpt
    assert c1.cfg.power_delivery_timeout_s == 1.2
    assert c1.balanced_power_w() == pytest.approx(60000)


def test_ac_bpt_discharge_limits_from_config() -> None:
    """[coordinator] ac_max_discharge_current_a lets AC EVSEs advertise discharge (ISO 15118-20 AC BPT)."""
    from josev.config import parse
    from josev.coordinator.factory import from_config

    cfg = parse(
        {
            "evse": [
                {"id": 1, "kind": "ac", "max_current_a": 32},
                {"id": 2, "kind": "ac", "max_current_a": 10},
            ],
            "coordinator": {"ac_max_discharge_current_a": 16},
        }
    )
    svc = from_config(cfg)
    assert svc.cores[1].cfg.ac_max_discharge_a == 16
    st1 = svc._status(svc.cores[1], svc.cores[1].start(0.0)[-1])  # type: ignore[arg-type]
    st2 = svc._status(svc.cores[2], svc.cores[2].start(0.0)[-1])  # type: ignore[arg-type]
    assert st1.max_discharge_current_a == 16 and st1.max_discharge_power_w == 16 * 3 * 230
    assert st2.max_discharge_current_a == 10  # never more than the EVSE's rating
    plain = from_config(parse({"evse": [{"id": 1}]}))
    assert plain.cores[1].cfg.ac_max_discharge_a is None


def test_connector_statuses_follow_the_connector_in_use() -> None:
    from josev.coordinator.status import connector_statuses

    assert connector_statuses((1, 2), 1, "Occupied", "Charging") == [
        (1, "Occupied", "Charging"),
        (2, "Unavailable", "Unavailable"),
    ]
    for status, detailed in (("Available", "Available"), ("Reserved", "Reserved"), ("Faulted", "Faulted")):
        assert connector_statuses((1, 2), 1, status, detailed) == [
            (1, status, detailed),
            (2, status, detailed),
        ]


def test_evse_status_lists_every_connector() -> None:
    from josev.config import parse
    from josev.coordinator.factory import from_config

    cfg = parse({"evse": [{"id": 1, "connectors": [{"id": 1}, {"id": 2, "type": "sType2"}]}]})
    svc = from_config(cfg)
    st = svc._status(svc.cores[1], svc.cores[1].start(0.0)[-1])  # type: ignore[arg-type]
    assert [(c.connector_id, c.ocpp_status, c.in_use) for c in st.connectors] == [
        (1, "Available", True),
        (2, "Available", False),
    ]
