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
    assert svc.supply is None  # a coordinator runs in this station: it is the EVSE view's only source


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ValidationError):
        from_config(_cfg({"no_such_option": 1}))


def test_iso20_tls_and_message_log_options(tmp_path: object) -> None:
    from pathlib import Path

    from josev.pki import create

    pki = Path(str(tmp_path)) / "pki"
    create(pki, ("iso2", "iso20-p521"))
    svc = from_config(
        _cfg(
            {
                "iso20": True,
                "bpt": True,
                "tls": "iso20",
                "pki_dir": str(pki),
                "enforce_tls": True,
                "v2g_log_dir": str(Path(str(tmp_path)) / "v2g"),
                "contactor_timeout_s": 2.0,
                "clamp_targets": True,
            }
        )
    )
    assert all(e.iso20 and e.bpt for e in svc.evses)
    assert svc.tls is not None and svc.tls.mode == "iso20" and svc.tls.enforce
    assert svc.tls.profile_dir == pki / "iso20-p521"
    ctx = svc.tls.context()  # the real chain and key load
    assert ctx.minimum_version.name == "TLSv1_3"
    assert svc.recorder is not None and svc.recorder.directory == Path(str(tmp_path)) / "v2g"
    assert svc.contactor_timeout == 2.0 and svc.await_contactor and svc.clamp_targets


def test_tls_without_pki_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="pki_dir"):
        from_config(_cfg({"tls": "both"}))
    with pytest.raises(ValidationError):
        from_config(_cfg({"tls": "tls1.0"}))
    with pytest.raises(ValidationError):
        from_config(_cfg({"contactor_timeout_s": 9}))  # beyond the EV's PowerDelivery timeout
