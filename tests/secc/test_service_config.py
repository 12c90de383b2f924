"""``josev.secc.service.from_config``: the station configuration's EVSEs become SECC endpoints."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from josev import config as config_mod
from josev.secc.service import from_config


def _cfg(secc: dict[str, object] | None = None) -> config_mod.JosevConfig:
    return config_mod.parse(
        {
            "evse": [
                {
                    "id": 1,
                    "kind": "dc",
                    "plc_interface": "plc1",
                    "max_current_a": 200,
                    "max_voltage_v": 920,
                    "max_power_w": 150000,
                },
                {"id": 2, "kind": "ac", "phases": 1, "plc_interface": "plc2", "max_current_a": 16},
                {"id": 3, "kind": "ac"},  # no PLC: basic charging only
            ],
            "secc": secc or {},
        }
    )


def test_evses_with_plc_become_endpoints() -> None:
    svc = from_config(_cfg({"sequence_timeout_s": 30}))
    assert [(e.evse, e.iface, e.energy_modes) for e in svc.evses] == [
        (1, "plc1", ("DC_extended",)),
        (2, "plc2", ("AC_single_phase_core",)),
    ]
    dc, ac = svc.evses[0].view(), svc.evses[1].view()
    assert (dc.limits.max_current, dc.limits.max_voltage, dc.limits.max_power) == (200, 920, 150000)
    assert ac.limits.ac_max_current == 16 and ac.limits.ac_phases == 1
    assert dc.evse_id == "DE*JSV*E0001"
    assert svc.config.timers.sequence == 30
    assert svc.supply is not None and not svc.supply.auto_authorize


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ValidationError):
        from_config(_cfg({"no_such_option": 1}))
