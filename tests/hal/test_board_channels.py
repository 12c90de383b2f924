"""``[[evse]] board_channel`` picks which Charge Control C channel an EVSE uses."""

from __future__ import annotations

import pytest

from josev.config import ConfigError, parse
from josev.halsvc.factory import HalSection, board_channels


def _section(n: int) -> HalSection:
    return HalSection.model_validate(
        {"board": "ccc", "ccc": {"channels": [{"pwm_chip": f"pwm{i}"} for i in range(n)]}}
    )


def test_default_is_the_evse_position() -> None:
    cfg = parse({"evse": [{"id": 1}, {"id": 2}]})
    assert board_channels(cfg, _section(2)) == [0, 1]


def test_explicit_channels_are_used_in_evse_order() -> None:
    cfg = parse({"evse": [{"id": 1, "board_channel": 1}, {"id": 2, "board_channel": 0}]})
    assert board_channels(cfg, _section(2)) == [1, 0]


def test_missing_or_shared_channels_are_errors() -> None:
    cfg = parse({"evse": [{"id": 1, "board_channel": 3}]})
    with pytest.raises(ValueError, match="board channel 3"):
        board_channels(cfg, _section(2))
    with pytest.raises(ConfigError, match="share a board channel"):
        parse({"evse": [{"id": 1, "board_channel": 1}, {"id": 2}]})
