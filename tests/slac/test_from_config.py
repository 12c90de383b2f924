"""The SLAC service built from the station configuration."""

from __future__ import annotations

import pytest

from josev.config import parse
from josev.services import registry
from josev.slac.service import SlacService, from_config


def test_hlc_evses_with_an_interface_get_a_session() -> None:
    cfg = parse(
        {
            "evse": [
                {"id": 1, "plc_interface": "plc1"},
                {"id": 2},  # basic charging only
                {"id": 3, "plc_interface": "plc3", "hlc": False},
                {"id": 4, "plc_interface": "plc4"},
            ],
            "slac": {"timings": {"TT_EVSE_SLAC_init": 20, "C_conn_max_match": 2}},
        }
    )
    svc = registry.build("slac", cfg)
    assert isinstance(svc, SlacService)
    assert [(e.evse, e.interface, e.evse_id) for e in svc.settings.evses] == [
        (1, "plc1", "JOSEV1"),
        (4, "plc4", "JOSEV4"),
    ]
    assert svc.settings.timings.TT_EVSE_SLAC_init == 20.0
    assert svc.settings.timings.C_conn_max_match == 2


def test_bad_sections_are_explained() -> None:
    with pytest.raises(ValueError, match="unknown timing"):
        from_config(parse({"evse": [{"id": 1, "plc_interface": "p"}], "slac": {"timings": {"nope": 1}}}))
    with pytest.raises(ValueError, match="TT_EVSE_SLAC_init must be within"):
        from_config(
            parse({"evse": [{"id": 1, "plc_interface": "p"}], "slac": {"timings": {"TT_EVSE_SLAC_init": 5}}})
        )
    with pytest.raises(ValueError, match="no EVSE has hlc"):
        from_config(parse({"evse": [{"id": 1}]}))
